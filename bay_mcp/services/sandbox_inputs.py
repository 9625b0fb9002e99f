"""What a sandbox's create and a TTL extension take: field types both surfaces publish.

Light on purpose (pydantic and the limits only): the stdio server builds its tool
schemas from them before the database and Docker layers are imported. The service
checks the TTL itself; a profile or a cargo is looked up by name.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bay_mcp.limits import MAX_NAME_CHARS, MAX_TTL_SECONDS

ProfileName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
CargoName = Annotated[str | None, Field(min_length=1, max_length=MAX_NAME_CHARS)]
TtlSeconds = Annotated[int | None, Field(ge=0, le=MAX_TTL_SECONDS)]
TtlExtension = Annotated[int, Field(gt=0, le=MAX_TTL_SECONDS)]
