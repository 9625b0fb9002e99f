"""`bay-mcp serve --transport http` refuses to start, before it serves anything, on a
secrets key file others may read: one line saying what to do, nothing left open."""

from __future__ import annotations

from pathlib import Path

import pytest

from bay_mcp.secret_box import KEY_FILE, new_key
from bay_mcp.settings import BaySettings
from bay_mcp.web.serve import RefusedToStart, serve_http


async def test_a_key_file_others_may_read_refuses_the_start(settings: BaySettings) -> None:
    path = Path(settings.data_dir) / KEY_FILE
    path.write_text(new_key())
    path.chmod(0o604)
    with pytest.raises(RefusedToStart, match=r"may be read by others \(mode 604\): run `chmod 600"):
        await serve_http(settings, "127.0.0.1", 1)
