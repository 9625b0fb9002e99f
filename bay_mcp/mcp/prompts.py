"""Prompts: workflows a person starts from the host's menu, written for the model that
receives them as concrete steps naming Bay's tools.

Each prompt is a module-level function (its name is the prompt's, its docstring what
the host shows); its arguments are completed as they are typed (`completions.py`):
sandbox ids, paths in a cargo, profiles, web frameworks. The caller's released skills
are prompts too (`skill_resources.py`), listed beside these per caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, NamedTuple

from mcp_types import Icon
from pydantic import Field

from bay_mcp.mcp import icons

SandboxIdArgument = Annotated[
    str, Field(description="The sandbox to work in (list_sandboxes shows yours)")
]

# How each framework's development server is started listening on 0.0.0.0:{port}
# (a preview reaches only a server bound to every interface).
FRAMEWORKS = {
    "static": "python3 -m http.server {port} --bind 0.0.0.0",
    "flask": "flask run --host 0.0.0.0 --port {port}",
    "fastapi": "uvicorn main:app --host 0.0.0.0 --port {port}",
    "django": "python3 manage.py runserver 0.0.0.0:{port}",
    "streamlit": "streamlit run app.py --server.address 0.0.0.0 --server.port {port}",
    "gradio": "GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT={port} python3 app.py",
    "node": "PORT={port} HOST=0.0.0.0 npm start",
    "vite": "npm run dev -- --host 0.0.0.0 --port {port}",
}


def analyse_data_file(
    sandbox_id: SandboxIdArgument,
    path: Annotated[str, Field(description="The data file, relative to /workspace")],
) -> str:
    """Analyse a data file (CSV, JSON, Parquet, Excel…) in a sandbox: its shape, its
    columns, what stands out, with charts."""
    return f"""Analyse the data file {path} for me.

1. Work in sandbox {sandbox_id}. If {path} is not there (list_files), ask me to upload \
it rather than guessing its content.
2. Look at it with python_exec: load it with pandas (read_csv, read_json, \
read_parquet or read_excel by its extension), then show its shape, dtypes, the first \
rows and describe(include="all"). The kernel keeps variables between calls: load once.
3. Check its quality: missing values per column, duplicated rows, columns whose type \
looks wrong (numbers stored as text, dates as strings).
4. Find what stands out: distributions of the main numeric columns, the most frequent \
values of the categorical ones, correlations, outliers. Draw the two or three charts \
that tell most with matplotlib (plt.show() returns each one as an image) and save them \
as PNG files next to the data.
5. Answer with a short summary: what the file holds, its quality problems, three to \
five findings with the numbers behind them, and the paths of the charts you saved. \
Say what you would look at next."""


def start_web_app(
    sandbox_id: SandboxIdArgument,
    framework: Annotated[
        str | None,
        Field(description=f"One of {', '.join(FRAMEWORKS)}; none: find it from the files"),
    ] = None,
    command: Annotated[
        str | None,
        Field(description="The command that starts the app, when no framework fits"),
    ] = None,
    port: Annotated[int, Field(ge=1, le=65535, description="The port it listens on")] = 8000,
) -> str:
    """Start a web app in a sandbox and give me a preview URL to open it."""
    if command:
        start = f"Start it with process_start, command: {command!r} (it must listen on \
0.0.0.0:{port})."
    elif framework in FRAMEWORKS:
        start = f"Start it with process_start, command: \
{FRAMEWORKS[framework].format(port=port)!r} (adapt the module or file name to the app)."
    else:
        start = f"Find how it starts from the files (package.json scripts, a Procfile, \
app.py, manage.py, main.py) and start it with process_start, listening on \
0.0.0.0:{port}: a server bound to 127.0.0.1 cannot be previewed."
    return f"""Start the web app in the sandbox and give me a link to open it.

1. Work in sandbox {sandbox_id}: list_files shows what the app is made of.
2. Install what it needs with shell_exec (pip install -r requirements.txt, npm \
install, …) and read the errors if any.
3. {start} Name the process "web-app".
4. Call expose_port with port {port}: it waits for the server and returns its URL. If \
it does not answer, read process_output of the process for the error, fix it and \
start it again.
5. Check that it serves a page (shell_exec: curl -sS -o /dev/null -w '%{{http_code}}' \
http://127.0.0.1:{port}/).
6. Give me the url expose_port returned (the one for a person, not local_url), what \
you started, and how to stop it (process_signal). show_sandbox shows the sandbox \
with the preview, on hosts that display views."""


def reproduce_bug(
    repository_url: Annotated[str, Field(description="The git repository's URL")],
    description: Annotated[str, Field(description="The bug: what happens, what should")],
    profile: Annotated[
        str | None, Field(description="The sandbox profile to use; none: the default")
    ] = None,
) -> str:
    """Clone a repository in a new sandbox and reproduce a bug in it, with a failing
    test or a minimal script."""
    chosen = f", profile {profile!r}" if profile else ""
    return f"""Reproduce this bug from {repository_url}:

{description}

1. Create a sandbox with create_sandbox{chosen} and use its sandbox_id in every \
call below.
2. Clone it with shell_exec: git clone --depth 50 {repository_url} repo (the sandbox \
must be allowed to reach the repository's host; if the clone fails on the network, \
say so and stop).
3. Read the README and the build files (list_files, read_file) and install the \
project as its documentation says, with shell_exec, cwd "repo". Run its existing \
tests once to know the baseline.
4. Write the smallest test or script that shows the bug (write_file), run it with \
shell_exec or python_exec, and check it fails the way the description says. If it \
does not fail, try the versions or inputs the description hints at, and say what you \
tried.
5. Take a snapshot with snapshot_sandbox once it reproduces, so the state can be \
forked (fork_sandbox) to try fixes.
6. Answer with: the command that reproduces it, its output, the file of your test, \
the snapshot id, and where in the code you think the cause is (file and line), \
without fixing it unless I ask."""


class WorkflowPrompt(NamedTuple):
    function: Callable[..., str]
    title: str
    icons: list[Icon]


PROMPTS = (
    WorkflowPrompt(analyse_data_file, "Analyse a data file", icons.ICONS["analyse"]),
    WorkflowPrompt(start_web_app, "Start a web app with a preview", icons.ICONS["web_app"]),
    WorkflowPrompt(reproduce_bug, "Reproduce a bug from a repository", icons.ICONS["bug"]),
)
