"""Property-based requests generated from `/openapi.json` against the live server.

Schemathesis (its CLI, with a fixed seed and a bounded example count) checks that no
request gets a 5xx, that every status code and content type is documented, and that
every response body matches its documented schema. Its links let it create real
sandboxes and run real code in them, so containers do start: the fixture removes
whatever this server made. It acts as the admin owner, so the admin API is exercised
too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rest.routes import ENDPOINTS
from tests.integration.http.conftest import HttpBay

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_every_operation_keeps_its_documented_contract(bay_http: HttpBay, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            SCHEMATHESIS, "run", f"{bay_http.url}/openapi.json",
            "--checks", CHECKS,
            "--max-examples", "8",
            "--seed", "20261124",
            "--workers", "1",
            "--phases", "examples,coverage,fuzzing",
            "--suppress-health-check", "all",
            "--request-timeout", "120",
            "--header", f"Authorization: Bearer {bay_http.keys['admin']}",
        ],
        capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
        cwd=tmp_path,  # its cache and reports stay out of the repository
    )  # fmt: skip
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    operations = len(ENDPOINTS) + 1  # and /health
    assert f"Tested: {operations}" in report, report  # every operation was exercised
    generated = re.search(r"(\d+) generated", report)
    assert generated is not None, report
    assert int(generated.group(1)) >= 200, report
