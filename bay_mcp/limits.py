"""Every limit and default a caller can meet, in one table: the services enforce them
(the run requests of `services/runs.py` carry the run limits), and the surfaces (MCP
tool schemas, REST models, OpenAPI) import them to describe them."""

from __future__ import annotations

from ship.settings import DEFAULT_MAX_PROCESSES as SHIP_DEFAULT_MAX_PROCESSES

MB = 1024 * 1024

DEFAULT_PROFILE = "python-default"
# Owner of the warm pool's members: no key can name it (owners have no ':').
POOL_OWNER = "bay:pool"
DEFAULT_IMAGE = "ship:latest"
# The browser flavor: the default image plus Chromium and Playwright.
BROWSER_IMAGE = "ship-browser:latest"
# Bay itself, to run as a service (`bay-mcp image build --bay`).
BAY_IMAGE = "bay-mcp:latest"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Executions (python, shell): seconds.
MIN_TIMEOUT_S = 1
MAX_TIMEOUT_S = 300
DEFAULT_TIMEOUT_S = 30
MAX_CODE_CHARS = 1_000_000
MAX_COMMAND_CHARS = 100_000
# What a caller says of a run, kept with it in the history.
MAX_DESCRIPTION_CHARS = 4096
MAX_TAGS_CHARS = 1024
MAX_NOTES_CHARS = 65536

# A profile's or an external cargo's name, as a caller gives it.
MAX_NAME_CHARS = 64

# A sandbox's time to live: seconds; 0 or none means no TTL.
MAX_TTL_SECONDS = 365 * 24 * 3600

# Files: a text write, a path, a cargo's size limit.
MAX_WRITE_CHARS = 16 * MB
MAX_PATH_CHARS = 4096
MAX_CARGO_SIZE_MB = 65536

# Whole-file reads for surfaces that cannot stream (MCP): an image returned as an
# image, and a resource returned as one blob.
MAX_IMAGE_BYTES = 5 * MB
MAX_RESOURCE_BYTES = 32 * MB
# A text read_file for a model returns at most this many times the output limit.
READ_LIMIT_FACTOR = 5

# A copy of a workspace (snapshot, restore, fork) is stopped after this many seconds.
MAX_COPY_S = 600

# Managed processes and terminals (services/process_inputs.py carries them; each is at
# most Ship's own ceiling in ship/protocol.py, a unit test holds that).
# Processes a sandbox may have running at once, unless its profile says otherwise:
# Ship's own default (one number for both sides).
DEFAULT_MAX_PROCESSES = SHIP_DEFAULT_MAX_PROCESSES
MAX_PROCESS_NAME_CHARS = MAX_NAME_CHARS
# Text written to a process's stdin (or typed into its terminal) in one call.
MAX_INPUT_CHARS = 64 * 1024
# Named keys typed into a terminal in one call.
MAX_KEYS = 100
# How long one process_output or process_wait call may wait: seconds, as a run.
MAX_PROCESS_WAIT_S = MAX_TIMEOUT_S
# A terminal's size: rows and columns.
MIN_TERMINAL_ROWS, MAX_TERMINAL_ROWS = 2, 200
MIN_TERMINAL_COLS, MAX_TERMINAL_COLS = 10, 500

# Skills: a skill key (a name a host shows, and the skill:// resource's), a payload's
# JSON, the runs a candidate may name, and the text fields of candidates and reports.
MAX_SKILL_KEY_CHARS = 64
MAX_SKILL_PAYLOAD_BYTES = 1 * MB
MAX_SKILL_SOURCES = 50
MAX_SKILL_TEXT_CHARS = 65536
MAX_SKILL_PAGE = 500
# Entries of a sandbox's egress log one call returns at most.
MAX_EGRESS_LOG_PAGE = 500

# Owner secrets: a name (often an environment variable's, so the same letters), a
# value's characters, and how many one owner may keep.
SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_SECRET_VALUE_CHARS = 8192
MAX_SECRETS_PER_OWNER = 100
