"""Skills copied into the workspace: once, kept up to date, never over the agent's."""

from __future__ import annotations

import json
from pathlib import Path

from ship.skills import BUILTIN_SKILLS, MANIFEST, install_skills


def skill(root: Path, name: str, body: str) -> Path:
    folder = root / name
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: d\n---\n{body}\n")
    (folder / "scripts" / "run.sh").write_text("echo hi\n")
    return folder


def test_the_builtin_skill_is_in_agent_skills_form() -> None:
    text = (BUILTIN_SKILLS / "bay-sandbox" / "SKILL.md").read_text()
    front = text.split("---\n")[1]
    assert "name: bay-sandbox\n" in front
    assert "description: " in front


def test_skills_are_copied_once_and_kept_up_to_date(tmp_path: Path) -> None:
    source, workspace = tmp_path / "source", tmp_path / "workspace"
    skill(source, "deploy", "v1")
    (source / "not-a-skill").mkdir()  # no SKILL.md: left out
    assert install_skills(workspace, [source]) == ["deploy"]
    assert (workspace / "skills/deploy/scripts/run.sh").read_text() == "echo hi\n"
    assert not (workspace / "skills/not-a-skill").exists()
    assert install_skills(workspace, [source]) == []  # idempotent
    (source / "deploy/SKILL.md").write_text("---\nname: deploy\ndescription: d\n---\nv2\n")
    assert install_skills(workspace, [source]) == ["deploy"]  # unchanged here: updated
    assert "v2" in (workspace / "skills/deploy/SKILL.md").read_text()
    assert set(json.loads((workspace / MANIFEST).read_text())) == {"deploy"}


def test_a_skill_the_agent_wrote_or_changed_is_never_touched(tmp_path: Path) -> None:
    source, workspace = tmp_path / "source", tmp_path / "workspace"
    skill(source, "deploy", "v1")
    skill(source, "mine", "from the profile")
    skill(workspace / "skills", "mine", "the agent's own")
    assert install_skills(workspace, [source]) == ["deploy"]
    assert "the agent's own" in (workspace / "skills/mine/SKILL.md").read_text()
    (workspace / "skills/deploy/SKILL.md").write_text("changed by the agent\n")
    (source / "deploy/SKILL.md").write_text("---\nname: deploy\ndescription: d\n---\nv2\n")
    assert install_skills(workspace, [source]) == []
    assert (workspace / "skills/deploy/SKILL.md").read_text() == "changed by the agent\n"


def test_a_missing_source_is_skipped(tmp_path: Path) -> None:
    assert install_skills(tmp_path / "workspace", [tmp_path / "nowhere"]) == []
