"""Skills in the sandbox: folders with a SKILL.md (the Agent Skills format) copied into
/workspace/skills/<name>/ when Ship starts, where the agent reads them.

The sources are Ship's built-in skills (ship/builtin_skills/) and the folders a profile names
on the host (SHIP_SKILL_DIRS). A copy is made once and kept up to date while it is as it
was installed; a skill the agent wrote, or changed after it was installed, is the
agent's and is never touched. What was installed, file by file, is kept in
/workspace/.bay/skills.json. Ship runs as the sandbox user by then: the files are its.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

BUILTIN_SKILLS = Path(__file__).with_name("builtin_skills")
SKILLS_DIR = "skills"
MANIFEST = ".bay/skills.json"
Hashes = dict[str, str]  # relative path -> sha256 of its bytes


def _hashes(folder: Path) -> Hashes:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _skill_folders(source: Path) -> list[Path]:
    if not source.is_dir():
        log.warning("skills: %s is not a folder; skipped", source)
        return []
    return [folder for folder in sorted(source.iterdir()) if (folder / "SKILL.md").is_file()]


def install_skills(workspace: Path, sources: list[Path]) -> list[str]:
    """Copy each source's skills into the workspace; the names copied or updated now."""
    manifest_path = workspace / MANIFEST
    try:
        manifest: dict[str, Hashes] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    copied: list[str] = []
    for source in sources:
        for folder in _skill_folders(source):
            name, wanted = folder.name, _hashes(folder)
            target = workspace / SKILLS_DIR / name
            if target.exists():
                installed = manifest.get(name)
                # Not ours (the agent made it), or changed since: the agent's now.
                if installed is None or _hashes(target) != installed or installed == wanted:
                    continue
                shutil.rmtree(target)
            shutil.copytree(folder, target, symlinks=False)
            manifest[name] = wanted
            copied.append(name)
    if copied:
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return copied
