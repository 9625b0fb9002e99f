"""`python -m ship`: prepare the workspace, drop root for good, and serve."""

from __future__ import annotations

import ctypes
import logging
import os
import pwd
import sys

# Only the standard library and light modules of ours before the kernel is started:
# the server's imports (uvicorn, the app, pydantic) come after, beside its boot.
from ship.environment import ENV_FILE, user_environment, write_env_file
from ship.kernel_spawn import SpawnedKernel, spawn
from ship.languages import kernel_environment, python_launch
from ship.settings import SettingsError, ShipSettings
from ship.trust import write_ca_bundle

log = logging.getLogger("ship")

_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38


def drop_privileges(settings: ShipSettings) -> None:
    """Give the workspace to the sandbox user and become that user, irreversibly.

    After this no process of the container's user code can regain root: the
    real, effective and saved ids are all the user's, supplementary groups are
    gone, and no_new_privs makes setuid binaries inert. Changing uid also makes
    this process non-dumpable, so user code cannot read its environment.
    """
    account = pwd.getpwnam(settings.user)
    settings.workspace.mkdir(parents=True, exist_ok=True)
    # Only the root of the volume: files below were written by the user already.
    os.chown(settings.workspace, account.pw_uid, account.pw_gid)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    os.setgroups([])
    os.setresgid(account.pw_gid, account.pw_gid, account.pw_gid)
    os.setresuid(account.pw_uid, account.pw_uid, account.pw_uid)
    os.environ.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)


def seal_process() -> None:
    """Started as the sandbox user already (a Kubernetes Pod's runAsUser): there is
    nothing to drop, but what dropping root gives must hold all the same. Non-dumpable,
    user code (the same uid) cannot read this process's memory or environment; the
    account's names are set as after a drop."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
    try:
        account = pwd.getpwuid(os.getuid())
    except KeyError:
        return  # a uid without an account: the image's environment stays as it is
    os.environ.update(USER=account.pw_name, LOGNAME=account.pw_name)


def spawn_kernel(settings: ShipSettings) -> SpawnedKernel | None:
    """The Python kernel, started now (kernel_spawn.py); None when it could not be, and
    the lifespan's start tries again and reports why."""
    launch = python_launch(settings.kernel_python)
    env = kernel_environment(launch, user_environment(os.environ), settings.max_output_bytes)
    try:
        return spawn(launch, cwd=settings.workspace, env=env)
    except OSError as exc:
        log.warning("the Python kernel was not started ahead: %s", exc)
        return None


def main() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        settings = ShipSettings.from_env(os.environ)
    except SettingsError as exc:
        print(f"ship: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    # The token has been read; user code must never inherit it.
    os.environ.pop("SHIP_TOKEN", None)
    try:
        write_ca_bundle(os.environ)
    except OSError as exc:  # TLS through the proxy then fails: say why
        log.error("could not write the CA bundle for the egress proxy: %s", exc)
    if os.geteuid() == 0:
        drop_privileges(settings)
    else:
        seal_process()
    os.chdir(settings.workspace)
    try:
        if not settings.cargo_helper:
            write_env_file(settings.workspace, os.environ)
    except OSError as exc:  # a full or read-only cargo must not keep Ship down
        log.warning("could not write %s: %s", ENV_FILE, exc)
    spawned = None if settings.cargo_helper else spawn_kernel(settings)
    import uvicorn

    from ship.app import create_app

    log.info("ship serving on %s:%s as uid %s", settings.host, settings.port, os.getuid())
    uvicorn.run(
        create_app(settings, spawned=spawned),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
