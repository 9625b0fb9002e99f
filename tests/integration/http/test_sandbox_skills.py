"""Skills in the sandbox: Ship's built-in skill and a profile's host folder of skills are
in /workspace/skills from the first run, owned by the sandbox user, survive a stop, and
a skill the agent changed is never overwritten."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.http.conftest import HttpBay, running_server


@pytest.fixture(scope="module")
def team_skills() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="bay-team-skills-"))
    (folder / "team-notes").mkdir()
    (folder / "team-notes" / "SKILL.md").write_text(
        "---\nname: team-notes\ndescription: where our team keeps notes\n---\nUse notes/.\n"
    )
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server(team_skills: Path) -> Iterator[HttpBay]:
    profiles = [{"id": "python-default", "warm_pool_size": 0, "skill_dirs": [str(team_skills)]}]
    with running_server(("alice",), BAY_PROFILES=json.dumps(profiles)) as bay:
        yield bay


def shell(alice: httpx.Client, sandbox: str, command: str) -> str:
    ran = alice.post(f"/v1/sandboxes/{sandbox}/shell/exec", json={"command": command})
    assert ran.status_code == 200, ran.text
    output: str = ran.json()["output"]
    return output


def test_skills_are_there_from_the_first_run_and_stay_the_agents(server: HttpBay) -> None:
    with server.client("alice") as alice:
        sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
        listed = shell(alice, sandbox, "cd skills && ls && stat -c '%u' */SKILL.md | sort -u")
        assert listed.split() == ["bay-sandbox", "team-notes", "1000"]
        assert "name: bay-sandbox" in shell(alice, sandbox, "head -3 skills/bay-sandbox/SKILL.md")
        shell(alice, sandbox, "echo 'my own notes' > skills/bay-sandbox/SKILL.md")
        assert alice.post(f"/v1/sandboxes/{sandbox}/stop").status_code == 200
        # A new container: the skills are copied again where missing, never over a change.
        after = shell(alice, sandbox, "cat skills/bay-sandbox/SKILL.md; ls skills")
        assert after.split() == ["my", "own", "notes", "bay-sandbox", "team-notes"]
        alice.delete(f"/v1/sandboxes/{sandbox}")
