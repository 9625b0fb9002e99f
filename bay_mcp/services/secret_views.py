"""What the surfaces show of owner secrets: names and times, never a value. Apart from
the service so that building the MCP server imports no storage layer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class SecretView(BaseModel):
    """A secret as every surface shows it: never its value."""

    name: str
    created_at: datetime
    updated_at: datetime


class SecretList(BaseModel):
    """The owner's secrets as the surfaces list them, by name."""

    items: list[SecretView]
    # All of an owner's secrets fit one page (at most MAX_SECRETS_PER_OWNER).
    next_cursor: None = None
