"""The `/v1` route table: every endpoint's method, path, handler, models and errors.

The Starlette routes (`rest_routes`) and the OpenAPI document are both generated
from `ENDPOINTS`.
"""

from __future__ import annotations

from starlette.routing import Route

from bay_mcp.bay import Bay
from bay_mcp.services import skill_views as skills
from bay_mcp.services.cargos import CargoView
from bay_mcp.services.reaper import GcStatus, RunReport
from bay_mcp.services.secret_views import SecretList, SecretView
from bay_mcp.services.views import (
    BrowserExecResult,
    ExposedPort,
    ForkedSandbox,
    HistoryEntry,
    HistoryPage,
    ProcessList,
    ProcessView,
    SandboxSummary,
    SandboxView,
    SnapshotList,
    SnapshotRestored,
    SnapshotTaken,
    TerminalLink,
)
from rest import models, skill_models
from rest.endpoint import Endpoint, starlette_route
from rest.handlers.admin import gc_run, gc_status
from rest.handlers.browser import browser_exec, browser_exec_batch
from rest.handlers.cargo_files import (
    delete_cargo_file,
    download_cargo_file,
    list_cargo_directory,
    read_cargo_file,
    upload_cargo_file,
    write_cargo_file,
)
from rest.handlers.cargos import create_cargo, delete_cargo, get_cargo, list_cargos
from rest.handlers.files import (
    delete_file,
    download_file,
    list_directory,
    read_file,
    upload_file,
    write_file,
)
from rest.handlers.history import annotate, history, history_entry, history_last
from rest.handlers.ports import expose_port, list_ports, unexpose_port
from rest.handlers.processes import (
    get_process,
    kill_process,
    list_processes,
    process_input,
    process_output,
    resize_terminal,
    signal_process,
    start_process,
    terminal_link,
    terminal_screen,
    wait_process,
)
from rest.handlers.profiles import list_profiles
from rest.handlers.runs import code_exec, python_exec, shell_exec
from rest.handlers.sandboxes import (
    create_sandbox,
    delete_sandbox,
    extend_ttl,
    get_sandbox,
    keepalive,
    list_sandboxes,
    stop_sandbox,
)
from rest.handlers.secrets import delete_secret, list_secrets, set_secret
from rest.handlers.skills import (
    create_skill_candidate,
    create_skill_payload,
    delete_skill_candidate,
    delete_skill_release,
    evaluate_skill_candidate,
    get_skill_candidate,
    get_skill_payload,
    list_skill_candidates,
    list_skill_releases,
    promote_skill_candidate,
    rollback_skill_release,
    skill_release_health,
)
from rest.handlers.snapshots import (
    create_snapshot,
    delete_snapshot,
    fork_sandbox,
    list_snapshots,
    restore_snapshot,
)
from ship import protocol

SANDBOX = "/v1/sandboxes/{sandbox_id}"
RUNTIME_ERRORS = (400, 401, 404, 409, 502, 503, 504)
COPY_ERRORS = (400, 401, 404, 409, 429, 503, 504)
PROCESS = SANDBOX + "/processes/{process_id}"
CANDIDATE = "/v1/skills/candidates/{candidate_id}"
RELEASE = "/v1/skills/releases/{release_id}"
CARGO = "/v1/cargos/{cargo_id}"
SECRET = "/v1/secrets/{name}"
CARGO_FILE_ERRORS = (400, 401, 404, 409, 502, 503, 504)

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/v1/profiles", list_profiles, "List profiles", response=models.ProfileList,
             query=models.ProfilesQuery, errors=(400, 401)),
    Endpoint("POST", "/v1/sandboxes", create_sandbox, "Create a sandbox (no container starts)",
             status=201, response=SandboxSummary, body=models.CreateSandboxBody,
             idempotent=True, errors=(400, 401, 404, 409, 429)),
    Endpoint("GET", "/v1/sandboxes", list_sandboxes, "List your sandboxes",
             response=models.SandboxPage, query=models.SandboxListQuery, errors=(400, 401)),
    Endpoint("GET", SANDBOX, get_sandbox, "Get a sandbox with its containers",
             response=SandboxView),
    Endpoint("POST", SANDBOX + "/extend_ttl", extend_ttl, "Extend a sandbox's TTL",
             response=SandboxSummary, body=models.ExtendTtlBody, idempotent=True,
             errors=(400, 401, 404, 409)),
    Endpoint("POST", SANDBOX + "/keepalive", keepalive, "Reset the idle timer",
             response=models.StatusOk),
    Endpoint("POST", SANDBOX + "/stop", stop_sandbox, "Stop: container gone, files kept",
             response=models.StatusStopped),
    Endpoint("DELETE", SANDBOX, delete_sandbox, "Delete: container and managed cargo gone",
             status=204, response="empty"),
    Endpoint("POST", SANDBOX + "/python/exec", python_exec,
             "Run Python in the kernel (Accept: text/event-stream: live output)",
             response=models.PythonExecResponse, body=models.PythonExecBody,
             errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/code/exec", code_exec,
             "Run code in a language's kernel: python, typescript, javascript or r "
             "(Accept: text/event-stream: live output)",
             response=models.CodeExecResponse, body=models.CodeExecBody,
             errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/shell/exec", shell_exec,
             "Run a shell command (Accept: text/event-stream: live output)",
             response=models.ShellExecResponse, body=models.ShellExecBody,
             errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/browser/exec", browser_exec, "Run one browser command",
             response=BrowserExecResult, body=models.BrowserExecBody, errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/browser/exec_batch", browser_exec_batch,
             "Run browser commands in order", response=models.BrowserBatchResponse,
             body=models.BrowserBatchBody, errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/snapshots", create_snapshot,
             "Snapshot the workspace's files (waits for calls in flight; no kernel memory)",
             status=201, response=SnapshotTaken, body=models.CreateSnapshotBody,
             idempotent=True, errors=COPY_ERRORS),
    Endpoint("GET", SANDBOX + "/snapshots", list_snapshots, "List the sandbox's snapshots",
             response=SnapshotList),
    Endpoint("DELETE", SANDBOX + "/snapshots/{snapshot_id}", delete_snapshot,
             "Delete a snapshot", status=204, response="empty", errors=COPY_ERRORS),
    Endpoint("POST", SANDBOX + "/snapshots/{snapshot_id}/restore", restore_snapshot,
             "Put the snapshot's files back exactly; the session restarts",
             response=SnapshotRestored, errors=COPY_ERRORS),
    Endpoint("POST", SANDBOX + "/fork", fork_sandbox,
             "Fork: a new sandbox with a copy of the files (of a snapshot, or as they are)",
             status=201, response=ForkedSandbox, body=models.ForkBody, idempotent=True,
             errors=COPY_ERRORS),
    Endpoint("POST", SANDBOX + "/ports", expose_port, "Expose a port: a preview URL",
             status=201, response=ExposedPort, body=models.ExposePortBody,
             errors=RUNTIME_ERRORS),
    Endpoint("GET", SANDBOX + "/ports", list_ports, "The exposed ports, with fresh URLs",
             response=models.PortList),
    Endpoint("DELETE", SANDBOX + "/ports/{port}", unexpose_port, "Close an exposed port",
             status=204, response="empty"),
    Endpoint("POST", SANDBOX + "/processes", start_process,
             "Start a command in the background (pty: on a terminal); answers at once",
             status=201, response=ProcessView, body=models.ProcessStartBody,
             errors=(400, 401, 404, 409, 429, 502, 503, 504)),
    Endpoint("GET", SANDBOX + "/processes", list_processes,
             "The sandbox's processes, running and recently ended", response=ProcessList,
             errors=RUNTIME_ERRORS),
    Endpoint("GET", PROCESS, get_process, "One process", response=ProcessView,
             errors=RUNTIME_ERRORS),
    Endpoint("DELETE", PROCESS, kill_process,
             "Kill a process: SIGTERM, then SIGKILL after 5 s; answers its end",
             response=ProcessView, errors=RUNTIME_ERRORS),
    Endpoint("GET", PROCESS + "/output", process_output,
             "Output since a byte offset, waiting for some (Accept: text/event-stream: "
             "follow it)", response=protocol.ProcessOutput, query=models.ProcessOutputQuery,
             errors=RUNTIME_ERRORS),
    Endpoint("POST", PROCESS + "/input", process_input,
             "Write text and named keys to its input", response=protocol.ProcessInputResult,
             body=models.ProcessInputBody, errors=RUNTIME_ERRORS),
    Endpoint("POST", PROCESS + "/signal", signal_process,
             "Signal its process group", response=protocol.ProcessSignalResult,
             body=models.ProcessSignalBody, errors=RUNTIME_ERRORS),
    Endpoint("POST", PROCESS + "/wait", wait_process,
             "Wait for its end (answers as it is after the timeout)", response=ProcessView,
             body=models.ProcessWaitBody, errors=RUNTIME_ERRORS),
    Endpoint("GET", PROCESS + "/screen", terminal_screen,
             "Its terminal's screen as text, the cursor marked (pty processes)",
             response=protocol.TerminalScreen, errors=RUNTIME_ERRORS),
    Endpoint("POST", PROCESS + "/resize", resize_terminal, "Resize its terminal",
             response=ProcessView, body=models.TerminalResizeBody, errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/terminal-link", terminal_link,
             "A signed WebSocket URL for a person's terminal: a process's, or a new shell",
             response=TerminalLink, body=models.TerminalLinkBody, errors=RUNTIME_ERRORS),
    Endpoint("GET", SANDBOX + "/history", history, "Execution history, newest first",
             response=HistoryPage, query=models.HistoryQuery),
    Endpoint("GET", SANDBOX + "/history/last", history_last, "The latest execution",
             response=HistoryEntry, query=models.LastQuery),
    Endpoint("GET", SANDBOX + "/history/{execution_id}", history_entry, "One execution",
             response=HistoryEntry),
    Endpoint("PATCH", SANDBOX + "/history/{execution_id}", annotate,
             "Annotate an execution (description, tags, notes)", response=HistoryEntry,
             body=models.AnnotateBody),
    Endpoint("GET", SANDBOX + "/filesystem/files", read_file, "Read a text file",
             response=models.FileContent, query=models.PathQuery, errors=RUNTIME_ERRORS),
    Endpoint("PUT", SANDBOX + "/filesystem/files", write_file, "Write a text file",
             response=models.StatusOk, body=models.WriteFileBody, errors=RUNTIME_ERRORS),
    Endpoint("DELETE", SANDBOX + "/filesystem/files", delete_file, "Delete a file or directory",
             response=models.StatusOk, query=models.PathQuery, errors=RUNTIME_ERRORS),
    Endpoint("GET", SANDBOX + "/filesystem/directories", list_directory, "List a directory",
             response=models.DirectoryBody, query=models.DirectoryQuery, errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/filesystem/upload", upload_file, "Upload a file (multipart)",
             response=models.Uploaded, multipart=True, errors=RUNTIME_ERRORS),
    Endpoint("GET", SANDBOX + "/filesystem/download", download_file, "Download a file's bytes",
             response="binary", query=models.PathQuery, errors=RUNTIME_ERRORS),
    Endpoint("POST", "/v1/cargos", create_cargo, "Create an external cargo", status=201,
             response=CargoView, body=models.CreateCargoBody, idempotent=True,
             errors=(400, 401, 409)),
    Endpoint("GET", "/v1/cargos", list_cargos, "List cargos (external unless managed=true)",
             response=models.CargoPage, query=models.CargoListQuery, errors=(400, 401)),
    Endpoint("GET", "/v1/cargos/{cargo_id}", get_cargo, "Get a cargo",
             response=CargoView),
    Endpoint("DELETE", "/v1/cargos/{cargo_id}", delete_cargo,
             "Delete an external cargo (409 while in use)", status=204, response="empty",
             errors=(400, 401, 404, 409)),
    Endpoint("POST", "/v1/skills/payloads", create_skill_payload,
             "Store a JSON payload for skills; its ref is blob:<id>", status=201,
             response=skills.SkillPayloadRef, body=skill_models.CreateSkillPayloadBody,
             errors=(400, 401, 413)),
    Endpoint("GET", "/v1/skills/payloads/{payload_ref}", get_skill_payload,
             "Read a payload by its blob:<id> ref", response=skills.SkillPayloadView),
    Endpoint("POST", "/v1/skills/candidates", create_skill_candidate,
             "Propose a skill from runs of your history", status=201,
             response=skills.SkillCandidateView, body=skill_models.CreateSkillCandidateBody),
    Endpoint("GET", "/v1/skills/candidates", list_skill_candidates,
             "List skill candidates, newest first", response=skills.SkillCandidatePage,
             query=skill_models.SkillCandidateQuery, errors=(400, 401)),
    Endpoint("GET", CANDIDATE, get_skill_candidate, "Get a skill candidate",
             response=skills.SkillCandidateView),
    Endpoint("POST", CANDIDATE + "/evaluate", evaluate_skill_candidate,
             "Record an evaluation (a failing one rejects the candidate)",
             response=skills.SkillEvaluationView, body=skill_models.EvaluateSkillBody),
    Endpoint("POST", CANDIDATE + "/promote", promote_skill_candidate,
             "Release a candidate whose last evaluation passed (409 otherwise)",
             response=skills.SkillReleaseView, body=skill_models.PromoteSkillBody,
             errors=(400, 401, 404, 409)),
    Endpoint("DELETE", CANDIDATE, delete_skill_candidate,
             "Delete a candidate (409 while an active release uses it)",
             response=skills.SkillDeleted, body=skill_models.DeleteSkillBody,
             errors=(400, 401, 404, 409)),
    Endpoint("GET", "/v1/skills/releases", list_skill_releases,
             "List skill releases, newest version first", response=skills.SkillReleasePage,
             query=skill_models.SkillReleaseQuery, errors=(400, 401)),
    Endpoint("GET", RELEASE + "/health", skill_release_health,
             "A release's health: its tagged runs against the release before",
             response=skills.SkillReleaseHealth),
    Endpoint("POST", RELEASE + "/rollback", rollback_skill_release,
             "Roll back: a new release of the previous release's candidate",
             response=skills.SkillReleaseView, errors=(400, 401, 404, 409)),
    Endpoint("DELETE", RELEASE, delete_skill_release, "Delete a release (it stops being active)",
             response=skills.SkillDeleted, body=skill_models.DeleteSkillBody),
    Endpoint("GET", "/v1/secrets", list_secrets,
             "List your secrets (names and times, never values)", response=SecretList,
             errors=(401,)),
    Endpoint("PUT", SECRET, set_secret, "Store a secret by name (created or replaced)",
             response=SecretView, body=models.SetSecretBody, errors=(400, 401, 404, 413, 429)),
    Endpoint("DELETE", SECRET, delete_secret, "Delete a secret", status=204, response="empty"),
    Endpoint("GET", CARGO + "/filesystem/files", read_cargo_file,
             "Read a text file of the cargo (no sandbox starts)", response=models.FileContent,
             query=models.PathQuery, errors=CARGO_FILE_ERRORS),
    Endpoint("PUT", CARGO + "/filesystem/files", write_cargo_file,
             "Write a text file of the cargo (409 while a sandbox holding it runs a call)",
             response=models.StatusOk, body=models.WriteFileBody, errors=CARGO_FILE_ERRORS),
    Endpoint("DELETE", CARGO + "/filesystem/files", delete_cargo_file,
             "Delete a file or directory of the cargo (409 while a sandbox holding it runs "
             "a call)", response=models.StatusOk, query=models.PathQuery,
             errors=CARGO_FILE_ERRORS),
    Endpoint("GET", CARGO + "/filesystem/directories", list_cargo_directory,
             "List a directory of the cargo", response=models.DirectoryBody,
             query=models.DirectoryQuery, errors=CARGO_FILE_ERRORS),
    Endpoint("POST", CARGO + "/filesystem/upload", upload_cargo_file,
             "Upload a file into the cargo (multipart; 409 while a sandbox holding it runs "
             "a call)", response=models.Uploaded, multipart=True,
             errors=(*CARGO_FILE_ERRORS, 413)),
    Endpoint("GET", CARGO + "/filesystem/download", download_cargo_file,
             "Download a file's bytes from the cargo", response="binary",
             query=models.PathQuery, errors=CARGO_FILE_ERRORS),
    Endpoint("POST", "/v1/admin/gc/run", gc_run, "Run garbage collection now (admin)",
             response=RunReport, body=models.GcRunBody, errors=(400, 401, 403, 423)),
    Endpoint("GET", "/v1/admin/gc/status", gc_status, "Garbage collection status (admin)",
             response=GcStatus, errors=(401, 403)),
]  # fmt: skip


def rest_routes(bay: Bay) -> list[Route]:
    return [starlette_route(endpoint, bay) for endpoint in ENDPOINTS]
