"""The generated parts of docs/: the tools from a live `tools/list`, the REST routes from
`/openapi.json`, Ship's endpoints from its route table and the settings from the settings
model, rendered as Markdown blocks between markers.

A block is `<!-- generated: NAME -->` … `<!-- end generated -->` in a docs page; the
prose around it is written by hand. tests/unit/test_docs.py renders every block anew
and fails when a page differs (BAY_UPDATE_DOCS=1 rewrites the pages instead).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from mcp_types import ResourceTemplate, Tool
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bay_mcp.settings import BaySettings, EgressSettings, KubernetesSettings, Profile
from ship import protocol

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
START = "<!-- generated: {name} -->"
END = "<!-- end generated -->"
NOTE = "<!-- Generated from the code by tests/docs_reference.py: edit the code, then run "
NOTE += "BAY_UPDATE_DOCS=1 .venv/bin/pytest tests/unit/test_docs.py -->"


# ---------------------------------------------------------------------------- blocks


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with the block `name` holding `body`; ValueError when the page has no
    such block."""
    start = START.format(name=name)
    pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no block {start} … {END} in the page")
    return pattern.sub(lambda _: f"{start}\n{NOTE}\n\n{body.strip()}\n\n{END}", text, count=1)


def block_names(text: str) -> list[str]:
    return re.findall(r"<!-- generated: ([a-z][a-z0-9-]*) -->", text)


# ----------------------------------------------------------------------------- tools

# Tools are listed by family, in this order; a tool's family is the first that matches.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("Browser", r"^browser_|^run_browser_skill$"),
    ("Snapshots and forks", r"snapshot|^fork_"),
    ("Ports and previews", r"port"),
    ("Execution history", r"execution"),
    ("Runs", r"_exec$"),
    ("Processes and terminals", r"^process_|^terminal_"),
    ("Files", r"_files?$"),
    ("Sandboxes", r"sandbox|profile"),
    ("Secrets", r"_secrets?$"),
)
OTHER_FAMILY = "Other tools"


def family_of(name: str) -> str:
    return next((title for title, rule in FAMILIES if re.search(rule, name)), OTHER_FAMILY)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def schema_type(schema: Mapping[str, Any]) -> str:
    """A parameter's JSON schema as a short type: `integer 1–300`, `string or null`."""
    if "anyOf" in schema:
        kinds = [schema_type(option) for option in schema["anyOf"]]
        return " or ".join(kind for kind in kinds if kind != "null") + (
            " or null" if "null" in kinds else ""
        )
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        kind = f"list of {schema_type(schema.get('items', {}))}"
    elif kind == "object" and "additionalProperties" in schema:
        values = schema["additionalProperties"]
        if isinstance(values, dict):
            kind = f"object of {schema_type(values)}"
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and high is not None:
        kind += f" {low}–{high}"
    elif low is not None:
        kind += f" ≥ {low}"
    elif high is not None:
        kind += f" ≤ {high}"
    if "maxLength" in schema:
        kind += f", at most {schema['maxLength']} characters"
    return kind


def _hints(tool: Tool) -> str:
    hints = tool.annotations
    if hints is None:
        return ""
    said = []
    if hints.read_only_hint:
        said.append("read-only")
    else:
        if hints.destructive_hint:
            said.append("destructive")
        if hints.idempotent_hint:
            said.append("idempotent")
    if hints.open_world_hint:
        said.append("open world")
    return ", ".join(said)


def _parameters(tool: Tool) -> list[tuple[str, dict[str, Any], bool]]:
    properties: dict[str, dict[str, Any]] = tool.input_schema.get("properties", {})
    required = set(tool.input_schema.get("required", []))
    ordered = sorted(properties, key=lambda name: (name not in required, name != "sandbox_id"))
    return [(name, properties[name], name in required) for name in ordered]


def _short(name: str, schema: Mapping[str, Any], required: bool) -> str:
    if required:
        return f"`{name}`"
    default = schema.get("default")
    return f"`{name}`" if default is None else f"`{name}` = `{_json(default)}`"


def tools_reference(tools: Iterable[Tool]) -> str:
    """Every tool with every parameter: a summary table, then one section per tool."""
    by_family: dict[str, list[Tool]] = {}
    for tool in sorted(tools, key=lambda tool: tool.name):
        by_family.setdefault(family_of(tool.name), []).append(tool)
    order = [title for title, _ in FAMILIES] + [OTHER_FAMILY]
    families = [(title, by_family[title]) for title in order if title in by_family]
    count = sum(len(listed) for _, listed in families)
    lines = [
        f"{count} tools. A parameter with `= value` is optional and defaults to it; the "
        "others are required.",
        "",
        "| tool | parameters | hints |",
        "|---|---|---|",
    ]
    for _, listed in families:
        for tool in listed:
            summary = ", ".join(_short(*parameter) for parameter in _parameters(tool))
            hints = _hints(tool) or "—"
            lines.append(f"| [`{tool.name}`](#{tool.name}) | {summary or '—'} | {hints} |")
    for title, listed in families:
        lines += ["", f"### {title}"]
        for tool in listed:
            lines += ["", f"#### `{tool.name}`", ""]
            lines.append((tool.description or "").strip())
            hints = _hints(tool)
            if hints:
                lines += ["", f"Hints: {hints}."]
            parameters = _parameters(tool)
            if parameters:
                lines += ["", "| parameter | type | default | description |", "|---|---|---|---|"]
                for name, schema, required in parameters:
                    default = "required" if required else f"`{_json(schema.get('default'))}`"
                    description = _cell(schema.get("description", ""))
                    lines.append(
                        f"| `{name}` | {_cell(schema_type(schema))} | {default} | {description} |"
                    )
            output = (tool.output_schema or {}).get("properties", {})
            if output:
                fields = ", ".join(f"`{name}`" for name in output)
                lines += ["", f"Structured result: {fields}."]
    return "\n".join(lines)


def server_reference(instructions: str | None, templates: Iterable[ResourceTemplate]) -> str:
    """What a host learns from the server besides its tools: the instructions it passes
    to its model, and the resource templates."""
    lines = ["The instructions `initialize` gives the host, for its model:", ""]
    lines += [f"> {line}".rstrip() for line in (instructions or "(none)").strip().splitlines()]
    lines += ["", "| resource template | name | description |", "|---|---|---|"]
    for template in templates:
        lines.append(
            f"| `{template.uri_template}` | {template.name} | {_cell(template.description or '')} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ REST

METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def rest_reference(document: Mapping[str, Any]) -> str:
    """Every route of the OpenAPI document: method, path and its summary."""
    lines = ["| method | path | does |", "|---|---|---|"]
    for path in sorted(document["paths"]):
        operations = document["paths"][path]
        for method in sorted(operations, key=lambda m: METHOD_ORDER.index(m.upper())):
            summary = _cell(operations[method].get("summary", ""))
            lines.append(f"| {method.upper()} | `{path}` | {summary} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ Ship

# What each endpoint does beyond its models (the query string is not modelled); a route
# without an entry fails the docs test, and so does an entry that names no route.
SHIP_NOTES: dict[str, str] = {
    "GET /health": "answers before the kernel is up; `kernel` says `starting`, `ready` or "
    "`failed` (`idle` in a cargo's files helper: no kernel until a run)",
    "GET /meta": "runtime name and version, `api_version`, workspace mount path, "
    "capabilities and their operations: Bay's handshake at each session's start; open "
    "without the token, so code in the sandbox reads it (`curl localhost:8123/meta`)",
    "POST /pool/heartbeat": "a warm-pool member's Bay is there (`claimed`: it was handed to an "
    "owner, and stops watching); a member no Bay checks within SHIP_ORPHAN_AFTER_SECONDS "
    "stops itself",
    "POST /python/exec": "runs code in the persistent kernel; what it displays is in `outputs` "
    "(each with its MIME type; `images` is filled by older Ships only)",
    "POST /python/interrupt": "interrupts the running exec",
    "POST /code/exec": "code in `language`'s kernel (started on first use; TypeScript and "
    "JavaScript share Deno's); the answer is a Python exec's; `capability_not_supported` "
    "for a language the image lacks (`/meta`'s `languages`)",
    "POST /code/interrupt": "interrupts `language`'s running exec",
    "POST /shell/exec": "`bash -lc` in `cwd`; `exit_code` is null on timeout; stdout and "
    "stderr in order; `exec_id` names the run for `/shell/cancel`",
    "POST /shell/cancel": "kills the run named `exec_id` and every process it started",
    "POST /browser/exec": "runs browser actions in order in the sandbox's Chromium "
    "(started on first use); `capability_not_supported` on an image without one",
    "GET /filesystem/files": "`?path=&offset=&limit=`: UTF-8 text, lines `offset`.. at most "
    "`limit`",
    "PUT /filesystem/files": "writes text atomically, creating parents",
    "DELETE /filesystem/files": "`?path=`: a file, a directory, or a symlink (never its target)",
    "GET /filesystem/directories": "`?path=`: the entries with name, type, size, modified time",
    "POST /filesystem/upload": "`?path=&size=`, the raw body streamed to a temporary "
    "sibling, renamed into place when complete; `size` lets the quota refuse it before any "
    "byte; a caller that goes away leaves nothing",
    "POST /filesystem/move": "renames within the workspace, creating parents",
    "GET /filesystem/download": "`?path=`: the file's bytes, streamed",
    "POST /processes": "starts `bash -lc command` in the background, in its own process "
    "group, as the sandbox user; `pty` runs it on a terminal of `rows`×`cols`; "
    "`quota_exceeded` (details.limit `running_processes`) at the running-process limit",
    "GET /processes": "running and ended processes, oldest first (ended ones are forgotten "
    "past a bound)",
    "GET /processes/{process_id}": "state, exit code or signal, CPU, memory, listening ports, "
    "log; `process_not_found` for an unknown id",
    "POST /processes/{process_id}/output": "output from byte offset `since`; when there is none, "
    "waits up to `wait_seconds` for some or for the end (long poll); `dropped_bytes` counts what "
    "the ring lost before `offset` (the log has it)",
    "POST /processes/{process_id}/input": "writes `text`, then the named `keys` as an xterm sends "
    "them, then closes stdin if asked",
    "POST /processes/{process_id}/signal": "sends the signal to the process group; `sent` is "
    "false when it had ended",
    "POST /processes/{process_id}/wait": "answers when it ends or after `timeout` (still running)",
    "POST /processes/{process_id}/resize": "resizes its terminal (SIGWINCH to it)",
    "GET /processes/{process_id}/screen": "its terminal's screen as text lines, the cursor "
    "marked; `validation_error` for a process without a terminal",
}


def unused_ship_notes() -> list[str]:
    """Entries of SHIP_NOTES that name no route of Ship's (stale)."""
    return sorted(set(SHIP_NOTES) - {f"{r.method} {r.path}" for r in protocol.ROUTES})


def _model_fields(model: Any) -> str:
    if model is None:
        return "—"
    if model is bytes:
        return "bytes (streamed)"
    fields = []
    for name, field in model.model_fields.items():
        shown = field.alias or name
        if field.is_required():
            fields.append(f"`{shown}`")
        elif field.default_factory is None and field.default is not None:
            fields.append(f"`{shown}` = `{_json(field.default)}`")
        else:
            fields.append(f"`{shown}`?")
    return f"`{model.__name__}` {{{', '.join(fields)}}}"


def ship_reference() -> str:
    """Ship's endpoints from its route table: method, path, models, notes."""
    lines = ["| endpoint | request | answer | notes |", "|---|---|---|---|"]
    for route in protocol.ROUTES:
        key = f"{route.method} {route.path}"
        if key not in SHIP_NOTES:
            raise KeyError(f"Ship route {key} has no entry in SHIP_NOTES (tests/docs_reference.py)")
        notes = SHIP_NOTES[key]
        if route.streaming:
            notes += f"; with `Accept: {protocol.NDJSON}`, NDJSON events as it runs"
        if not route.authenticated:
            notes += "; no token needed"
        lines.append(
            f"| `{key}` | {_model_fields(route.request)} | {_model_fields(route.answer)} "
            f"| {_cell(notes)} |"
        )
    return "\n".join(lines)


# -------------------------------------------------------------------------- settings

# What each setting does, for the tables. A field's own `description` (Field(description=…))
# wins; a setting with neither fails the docs test, and so does an entry here that names no
# setting.
SETTING_DESCRIPTIONS: dict[str, str] = {
    "data_dir": "where the SQLite database and the instance id live",
    "instance_id": "the id of this installation, on every container's and volume's labels; "
    "generated once and stored in the data directory when unset",
    "api_key": "one API key from the environment (stored keys: `bay-mcp keys create`)",
    "api_key_owner": "the owner `BAY_API_KEY` acts as",
    "secrets_key": "the key owner secrets are encrypted with (base64 of 32 bytes); unset: "
    "`<data_dir>/secrets.key`, made once (mode 0600). Replicas need one shared key "
    "([secrets](secrets.md#the-key))",
    "allow_anonymous": "unset: callers without a key act as `default` only on a loopback "
    "bind while no key exists; `true`: always (loopback only); `false`: never",
    "metrics_public": "`false`: `/metrics` is open on loopback binds and to admin keys only",
    "max_body_bytes": "JSON request bodies over this are `413` before they are read",
    "max_concurrent_execs_per_owner": "executions one owner may have running at once; "
    "more are `429` with `Retry-After`",
    "allowed_hosts": "extra Host names MCP over HTTP accepts (DNS-rebinding protection), "
    "e.g. a proxy's name",
    "idempotency_ttl_seconds": "how long an `Idempotency-Key` is remembered",
    "public_url": "where people reach the server, the start of preview URLs; unset: "
    "`http://<bind host>:<port>` (127.0.0.1 for a wildcard bind)",
    "preview_token_ttl_seconds": "how long a signed preview URL opens its port without a key",
    "gc_enabled": "whether the reaper runs",
    "gc_interval_seconds": "how often the reaper runs",
    "gc_tasks": "the reaper's tasks; the singular names (`idle_session`, …) are accepted too",
    "gc_orphan_grace_seconds": "orphans younger than this are left alone: they may be "
    "half-way through creation",
    "admin_owners": "owners allowed the admin API (`/v1/admin`), `X-Owner` and `/metrics`",
    "max_sandboxes_per_owner": "live (not deleted) sandboxes one owner may have",
    "max_sandboxes_total": "live sandboxes in all",
    "max_snapshots_per_owner": "snapshots one owner may keep, all sandboxes together",
    "max_snapshot_mb_per_owner": "total size of one owner's snapshots (MB)",
    "docker_host": "the Docker engine, as every Docker tool reads it (`BAY_DOCKER_HOST` "
    "wins); unset: the local engine",
    "docker_network": "unset: Ship is reached on a port published on 127.0.0.1; set: "
    "containers join this network and are reached by IP (Bay itself in a container)",
    "driver": "what runs sessions: `docker` containers, or `kubernetes` (sessions as Pods, "
    "cargos and snapshots as PVCs: see [Kubernetes](kubernetes.md))",
    "kubernetes": "the Kubernetes driver's settings (table below)",
    "database_url": "unset: SQLite in the data directory; "
    "`postgresql+asyncpg://user:password@host:5432/db`: PostgreSQL, which replicas share",
    "stateless_http": "`true`: MCP over streamable HTTP keeps no session in the server for "
    "clients before 2026-07-28 (replicas behind a load balancer without stickiness); "
    "2026-07-28 keeps none in any case",
    "confirm_destructive": "`false`: never ask the person before deleting a sandbox with "
    "files, restoring over newer files or deleting a snapshot (for unattended agents); "
    "`true` asks when the MCP client supports elicitation "
    "([confirmations](tools.md#confirmations))",
    "local_owner": "the owner of everything done over stdio",
    "profiles": "the sandbox recipes (table below); JSON in `BAY_PROFILES`, "
    "`[[profiles]]` in the config file",
    "start_timeout_seconds": "how long a sandbox's start may take, container to handshake",
    "max_concurrent_starts": "sandboxes starting at once in one Bay; more wait their turn "
    "with a progress message, in arrival order, users' starts before the warm pool's "
    "refills. A start lasts until the kernel has booted",
    "pool_max_age_seconds": "warm pool members older than this are replaced",
    "pool_check_interval_seconds": "how often the warm pool is checked (age, image, "
    "health); a claim wakes its refill at once",
    "pool_demand_window_seconds": "the warm pool sizes itself by the creates of this last "
    "stretch ([warm pool](lifecycle.md#warm-pool)): grown by a stream of creates, it is "
    "back at `warm_pool_size` about this long after the stream stops",
    "history_max_entries": "execution history entries kept per sandbox (the oldest dropped)",
    "history_output_chars": "output kept per history entry (head and tail)",
    "output_limit_chars": "output a model reads in a result; the full text is saved in "
    "the workspace",
    "auto_build_image": "build a missing Ship image at start (progress on stderr)",
    "setup_pid": "set by `scripts/run`: the machine set-up running beside the server, "
    "which sandbox starts wait for",
    "setup_log": "set by `scripts/run`: the set-up's log, whose end is reported if it fails",
    "setup_status": "set by `scripts/run`: the file where the set-up reports its state",
    "log_level": "the log level; logs always go to stderr",
    "log_file": "also write the log to this file",
    "log_format": "`text`, or `json`: one object a line with `time`, `level`, `logger`, "
    "`message`, `request_id`, and `owner`, `sandbox_id`, `execution_id` where known",
    # Profile
    "id": "the profile's name, as `create_sandbox` takes it",
    "image": "the Ship image its sessions run",
    "cpus": "CPU limit, on average over each second (a start may use two cores briefly)",
    "memory_mb": "memory limit (swap off)",
    "pids_limit": "processes and threads the sandbox may have",
    "network": "`bridge`: outbound allowed; `none`: no route and no DNS (Bay still reaches "
    "Ship); `egress` says more and wins",
    "capabilities": "what its sandboxes offer: `python`, `shell`, `filesystem`, `browser`",
    "idle_timeout_seconds": "a sandbox unused this long has its container stopped (files kept)",
    "description": "shown by `list_profiles`",
    "read_only_root": "a read-only root filesystem; `false` for e.g. `apt-get`",
    "runtime": "another OCI runtime, e.g. gVisor's `runsc` (on Kubernetes: a RuntimeClass name)",
    "ca_bundle": "a host CA file sandboxes trust (behind a TLS-inspecting proxy): "
    "mounted read-only and named by `SSL_CERT_FILE`, `PIP_CERT`, `REQUESTS_CA_BUNDLE`; "
    "on Kubernetes a ConfigMap's name",
    "cargo_size_limit_mb": "size limit of the cargo made with each sandbox (MB); unset: "
    "only the disk's",
    "max_upload_mb": "largest upload accepted (MB); unset: the cargo's size limit",
    "env": "environment variables of every sandbox of the profile (a sandbox's own win)",
    "warm_pool_size": "ready sandboxes kept to be claimed by `create_sandbox` (the pool's "
    "floor); unset: 1 for `python-default`, 0 for the others",
    "warm_pool_max_size": "the most ready sandboxes the pool grows to while creates come "
    "faster than it refills, memory allowing ([warm pool](lifecycle.md#warm-pool)); unset: "
    "8 for a profile with a pool; never below `warm_pool_size`",
    "browser_idle_seconds": "the sandbox's browser closes after this long unused",
    # KubernetesSettings (its `description`-less fields share names with none above)
    "namespace": "the namespace of the sandboxes' Pods, PVCs and NetworkPolicies; Bay's "
    "Role covers only it",
    "kubeconfig": "unset: in-cluster configuration when Bay runs in a Pod, else "
    "`$KUBECONFIG` or `~/.kube/config`",
    "storage_class": "the PVCs' storage class; unset: the cluster's default",
    "default_cargo_size_mb": "the size a cargo's PVC asks for when the cargo has no size limit",
    "context": "the kubeconfig's context; unset: its current one",
    "image_pull_policy": "`IfNotPresent`: images loaded onto the nodes are used even when "
    "tagged `:latest`",
    "bay_pod_labels": "the labels of Bay's Pods: the only ingress sandboxes admit (must "
    "not be empty)",
    "bay_namespace": "Bay's namespace when it is not the sandboxes'",
    "blocked_egress_cidrs": "what `bridge` sandboxes never reach (add the cluster's Pod "
    "and Service ranges to keep them off in-cluster services)",
    "requests_fraction": "resource requests as a fraction of the limits (1.0: Guaranteed "
    "QoS; lower packs more idle sandboxes on a node)",
}

# Defaults that depend on the machine, said in words so the page is the same everywhere.
DEFAULT_TEXT: dict[str, str] = {
    "data_dir": "the per-user data directory (`~/.local/share/bay-mcp` on Linux)",
    "max_concurrent_starts": "the core count, at least 2",
    "profiles": "`python-default` and `browser-python` (below)",
    "kubernetes": "(below)",
    "egress": "(below)",
}


def _default(name: str, field: FieldInfo) -> str:
    if name in DEFAULT_TEXT:
        return DEFAULT_TEXT[name]
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and name.endswith("_bytes") and value % MIB == 0:
        return f"`{value}` ({value // MIB} MiB)"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{_json(value)}`"


def _bounds(field: FieldInfo) -> str:
    said = []
    for rule in field.metadata:
        if isinstance(rule, Ge):
            said.append(f"≥ {rule.ge}")
        elif isinstance(rule, Gt):
            said.append(f"> {rule.gt}")
        elif isinstance(rule, Le):
            said.append(f"≤ {rule.le}")
        elif isinstance(rule, Lt):
            said.append(f"< {rule.lt}")
        elif isinstance(rule, MinLen):
            said.append(f"at least {rule.min_length} entries")
        elif isinstance(rule, MaxLen):
            said.append(f"at most {rule.max_length} entries")
    return f"; {', '.join(said)}" if said else ""


def describe(name: str, field: FieldInfo) -> str:
    """What a setting does: its own description, else SETTING_DESCRIPTIONS; KeyError
    when it has neither."""
    text = field.description or SETTING_DESCRIPTIONS.get(name)
    if not text:
        raise KeyError(
            f"setting {name!r} has no description: give it Field(description=…) or add it "
            "to SETTING_DESCRIPTIONS in tests/docs_reference.py"
        )
    return text


def _env_names(name: str, field: FieldInfo, prefix: str) -> str:
    aliases = getattr(field.validation_alias, "choices", None)
    if aliases:
        return ", ".join(f"`{alias}`" for alias in aliases)
    nested = isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    return f"`{prefix}{name.upper()}__…`" if nested else f"`{prefix}{name.upper()}`"


def settings_table(model: type[BaseModel], prefix: str) -> str:
    lines = ["| environment variable | default | what it does |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        lines.append(
            f"| {_env_names(name, field, prefix)} | {_cell(_default(name, field))} "
            f"| {_cell(describe(name, field))}{_bounds(field)} |"
        )
    return "\n".join(lines)


def profile_table() -> str:
    lines = ["| key | default | what it does |", "|---|---|---|"]
    for name, field in Profile.model_fields.items():
        lines.append(
            f"| `{name}` | {_cell(_default(name, field))} "
            f"| {_cell(describe(name, field))}{_bounds(field)} |"
        )
    return "\n".join(lines)


def default_profiles_table() -> str:
    """The profiles Bay has when `profiles` is not set, as a table of what differs."""
    lines = ["| profile | image | cpus | memory | capabilities | warm pool | description |"]
    lines.append("|---|---|---|---|---|---|---|")
    for profile in BaySettings.model_fields["profiles"].default_factory():  # type: ignore[call-arg,misc]
        assert isinstance(profile, Profile)
        lines.append(
            f"| `{profile.id}` | `{profile.image}` | {profile.cpus:g} | {profile.memory_mb} MB "
            f"| {', '.join(profile.capabilities)} | {profile.pool_size} "
            f"| {_cell(profile.description)} |"
        )
    return "\n".join(lines)


def settings_reference() -> dict[str, str]:
    """The settings blocks of docs/settings.md, by block name."""
    return {
        "settings": settings_table(BaySettings, "BAY_"),
        "profile-settings": profile_table(),
        "default-profiles": default_profiles_table(),
        "kubernetes-settings": settings_table(KubernetesSettings, "BAY_KUBERNETES__"),
        "egress-settings": settings_table(EgressSettings, "BAY_EGRESS__"),
    }


def unused_descriptions() -> list[str]:
    """Entries of SETTING_DESCRIPTIONS that name no setting of any model (stale)."""
    known = {
        *BaySettings.model_fields,
        *Profile.model_fields,
        *KubernetesSettings.model_fields,
        *EgressSettings.model_fields,
    }
    return sorted(set(SETTING_DESCRIPTIONS) - known)
