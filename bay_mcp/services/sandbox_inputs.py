"""What a sandbox's create and a TTL extension take: field types both surfaces publish.

Light on purpose (pydantic and the limits only): the stdio server builds its tool
schemas from them before the database and Docker layers are imported. The service
checks the TTL itself; a profile or a cargo is looked up by name.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from bay_mcp.limits import MAX_NAME_CHARS, MAX_TTL_SECONDS

# A secret's name, and the variable a binding puts its placeholder in.
SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ProfileName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
CargoName = Annotated[str | None, Field(min_length=1, max_length=MAX_NAME_CHARS)]
TtlSeconds = Annotated[int | None, Field(ge=0, le=MAX_TTL_SECONDS)]
TtlExtension = Annotated[int, Field(gt=0, le=MAX_TTL_SECONDS)]


class SecretBinding(BaseModel):
    """A stored secret the sandbox may use without seeing it: its variable holds a
    placeholder, which the egress proxy replaces by the value in the headers of HTTPS
    requests to `hosts` only."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(
        pattern=SECRET_NAME_PATTERN, description="the name of a secret you stored (set_secret)"
    )
    env: str | None = Field(
        None,
        pattern=SECRET_NAME_PATTERN,
        description="the variable that holds the placeholder; default: the secret's name",
    )
    hosts: list[str] = Field(
        min_length=1,
        max_length=32,
        description="where the value is sent: hosts (api.openai.com), wildcards "
        "(*.example.com), each with an optional :port",
    )
