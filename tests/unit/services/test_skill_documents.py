"""A released skill's SKILL.md: front matter any text is safe in, the notes, and the
runs' code in fences the code cannot close."""

from __future__ import annotations

from datetime import UTC, datetime

from bay_mcp.services.skill_documents import MAX_DESCRIPTION_CHARS, skill_document
from bay_mcp.services.skill_views import SkillCandidateView, SkillReleaseView
from bay_mcp.storage.models import Execution

NOW = datetime.now(UTC)
UNSET: dict[str, object] = {
    "scenario_key": None, "payload_ref": None, "usage_notes": None, "preconditions": None,
    "postconditions": None, "latest_score": None, "latest_pass": True,
    "last_evaluated_at": None, "promotion_release_id": None, "created_by": None,
    "created_at": NOW, "updated_at": NOW, "is_deleted": False, "deleted_at": None,
    "deleted_by": None, "delete_reason": None,
}  # fmt: skip
RELEASE = SkillReleaseView(
    id="sr-1", skill_key="median", candidate_id="sc-1", version=2, stage="stable",
    is_active=True, release_mode="manual", promoted_by=None, promoted_at=NOW,
    rollback_of=None, auto_promoted_from=None, health_window_end_at=None,
    upgrade_of_release_id=None, upgrade_reason=None, change_summary="faster",
    is_deleted=False, deleted_at=None, deleted_by=None, delete_reason=None,
)  # fmt: skip


def candidate(summary: str | None, runs: list[str]) -> SkillCandidateView:
    return SkillCandidateView.model_validate(
        {**UNSET, "id": "sc-1", "skill_key": "median", "summary": summary,
         "source_execution_ids": runs, "status": "promoted"}
    )  # fmt: skip


def run(run_id: str, code: str, exec_type: str = "python") -> Execution:
    return Execution(id=run_id, sandbox_id="s", owner="a", exec_type=exec_type, code=code,
                     success=True)  # fmt: skip


def test_the_front_matter_quotes_any_summary_and_the_code_keeps_its_order() -> None:
    made = skill_document(
        RELEASE,
        candidate('Median: of "a" list\nof numbers', ["e2", "e1"]),
        [run("e1", "ls", "shell"), run("e2", "x = '```'")],
    )
    assert made.description == 'Median: of "a" list of numbers'
    assert made.text.startswith(
        '---\nname: "median"\ndescription: "Median: of \\"a\\" list of numbers"\n---\n'
    )
    assert "Release v2 (stable)" in made.text
    assert "## Changes\n\nfaster" in made.text
    assert made.text.index("````python\nx = '```'\n````") < made.text.index("```bash\nls\n```")


def test_a_run_gone_from_the_history_is_named_and_a_long_summary_cut() -> None:
    made = skill_document(RELEASE, candidate("s" * 5000, ["exec-gone"]), [])
    assert "exec-gone (no longer in the history)" in made.text
    assert len(made.description) == MAX_DESCRIPTION_CHARS
    assert skill_document(RELEASE, candidate(None, []), []).description == "The median skill"
