"""Write requirements.txt: Bay's runtime dependencies, pinned to this venv's versions.

The Bay image installs exactly these (the tests ran against them), never the test or
bench extras. Run after a change to `[project] dependencies` in pyproject.toml:

    .venv/bin/python deploy/bay-image/lock.py

A unit test (tests/unit/managers/test_bay_image.py) fails while the list is stale.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HEADER = """\
# Bay's runtime dependencies, pinned: what the Bay image installs (deploy/Dockerfile).
# Generated from pyproject.toml and the versions in .venv by deploy/bay-image/lock.py.
"""


def runtime_closure(roots: list[str]) -> dict[str, str]:
    """Every distribution the requirements need, with its installed version: markers
    are evaluated for this interpreter, extras followed only where a requirement
    names them."""
    pinned: dict[str, str] = {}
    followed: set[tuple[str, str]] = set()
    pending = [
        requirement
        for requirement in map(Requirement, roots)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""})
    ]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        distribution = metadata.distribution(requirement.name)
        pinned[name] = distribution.version
        for extra in ("", *sorted(requirement.extras)):
            if (name, extra) in followed:
                continue
            followed.add((name, extra))
            for text in distribution.requires or []:
                child = Requirement(text)
                if child.marker is None or child.marker.evaluate({"extra": extra}):
                    pending.append(child)
    return pinned


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = runtime_closure(project["dependencies"])
    lines = [f"{name}=={version}" for name, version in sorted(pinned.items())]
    (HERE / "requirements.txt").write_text(HEADER + "\n".join(lines) + "\n")
    print(f"{len(lines)} pins written to {HERE / 'requirements.txt'}")


if __name__ == "__main__":
    main()
