"""The path rule: every path is relative to the workspace and stays inside it.

Refused with `invalid_path`: empty, absolute, NUL-containing, `..` above the root,
and paths that resolve through a symlink to anywhere outside the workspace.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from ship.errors import InvalidPath

MAX_PATH_LENGTH = 4096


@dataclass(frozen=True)
class WorkspacePath:
    """A checked path: `relative` as the caller should see it, `real` to operate on."""

    relative: str
    lexical: Path
    real: Path

    @property
    def is_root(self) -> bool:
        return self.relative == "."


def normalize(raw: object) -> str:
    """The lexical half of the rule (no filesystem needed): the normalised relative path.

    Bay applies this before any call reaches Ship; `resolve` applies it again and
    then checks symlinks against the real workspace.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPath("path is empty: give a path relative to /workspace, e.g. 'data/out.csv'")
    if "\x00" in raw:
        raise InvalidPath("path contains a NUL byte")
    if len(raw) > MAX_PATH_LENGTH:
        raise InvalidPath(f"path is longer than {MAX_PATH_LENGTH} characters")
    if raw.startswith("/"):
        raise InvalidPath(
            f"path {raw!r} is absolute: paths are relative to /workspace "
            f"(write {raw.lstrip('/')!r} or a path under it)"
        )
    relative = posixpath.normpath(raw)
    if relative == ".." or relative.startswith("../"):
        raise InvalidPath(f"path {raw!r} escapes /workspace with '..'")
    return relative


def resolve(
    workspace: Path, raw: object, *, allow_root: bool = True, follow_final_link: bool = True
) -> WorkspacePath:
    """Check `raw` against the path rule; raise InvalidPath saying what is wrong.

    With `follow_final_link=False` a symlink as the last component is the result itself
    (so that deleting it removes the link, wherever it points); its parents still
    have to resolve inside the workspace.
    """
    relative = normalize(raw)
    root = Path(os.path.realpath(workspace))
    lexical = root if relative == "." else root / relative
    try:
        if not follow_final_link and relative != "." and lexical.is_symlink():
            real = Path(os.path.realpath(lexical.parent)) / lexical.name
        else:
            real = Path(os.path.realpath(lexical))
    except OSError as exc:
        # e.g. a link into /proc/1/root: not even resolvable as the sandbox user.
        raise InvalidPath(
            f"path {raw!r} cannot be resolved inside /workspace: {exc.strerror}"
        ) from exc
    if real != root and root not in real.parents:
        raise InvalidPath(f"path {raw!r} resolves through a symlink to outside /workspace")
    if relative == "." and not allow_root:
        raise InvalidPath("path names the workspace root itself; name a file or directory in it")
    return WorkspacePath(relative=relative, lexical=lexical, real=real)
