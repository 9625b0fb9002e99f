"""Python execution against a real IPython kernel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.unit.ship.conftest import make_settings, ship_client

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def run(client: httpx.AsyncClient, code: str, timeout: float = 30) -> dict[str, Any]:
    response = await client.post("/python/exec", json={"code": code, "timeout": timeout})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_variables_and_imports_persist(client: httpx.AsyncClient) -> None:
    await run(client, "import math\nradius = 2")
    result = await run(client, "math.pi * radius ** 2")
    assert result["success"] is True
    assert result["output"] == "12.566370614359172\n"


async def test_stdout_stderr_and_last_value_are_all_returned(client: httpx.AsyncClient) -> None:
    result = await run(client, "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n7")
    assert result["output"] == "to out\nto err\n7\n"
    assert isinstance(result["execution_count"], int)


async def test_exception_is_a_result_with_clean_traceback(client: httpx.AsyncClient) -> None:
    result = await run(client, "print('before')\n{}['missing']")
    assert result["success"] is False
    assert result["output"] == "before\n"
    error = result["error"]
    assert isinstance(error, dict)
    assert error["ename"] == "KeyError"
    assert error["evalue"] == "'missing'"
    assert any("KeyError" in line for line in error["traceback"])
    assert not any("\x1b[" in line for line in error["traceback"])


async def test_input_fails_fast(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    result = await run(client, "input('name? ')", timeout=20)
    assert time.monotonic() - started < 5
    assert result["success"] is False
    assert result["error"]["ename"] == "StdinNotImplementedError"


async def test_timeout_interrupts_and_keeps_state(client: httpx.AsyncClient) -> None:
    await run(client, "kept = 'still here'")
    started = time.monotonic()
    result = await run(client, "while True: pass", timeout=1)
    assert time.monotonic() - started < 3
    assert result["timed_out"] is True
    assert result["success"] is False
    assert result["error"]["ename"] == "TimeoutError"
    assert (await run(client, "kept"))["output"] == "'still here'\n"


async def test_timeout_is_total_wall_clock_not_inactivity(client: httpx.AsyncClient) -> None:
    # Output every 0.1 s must not keep the execution alive past its limit.
    started = time.monotonic()
    result = await run(
        client, "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.1)", 1
    )
    assert time.monotonic() - started < 3
    assert result["timed_out"] is True


async def test_output_of_a_timed_out_run_does_not_leak(client: httpx.AsyncClient) -> None:
    await run(
        client,
        "import time\nfor i in range(50):\n    print('late', i, flush=True)\n    time.sleep(0.05)",
        timeout=0.5,
    )
    assert (await run(client, "print('fresh')"))["output"] == "fresh\n"


async def test_concurrent_execs_are_serialised(client: httpx.AsyncClient) -> None:
    await run(client, "import time\nlog = []")
    codes = [f"log.append({i}); time.sleep(0.2); log.append({i}); print({i})" for i in range(4)]
    results = await asyncio.gather(*(run(client, code) for code in codes))
    assert [r["output"] for r in results] == [f"{i}\n" for i in range(4)]
    log = (await run(client, "log"))["output"]
    pairs = [int(x) for x in str(log).strip("[]\n").split(", ")]
    # Each execution ran whole before the next began: entries come in pairs.
    assert all(pairs[i] == pairs[i + 1] for i in range(0, len(pairs), 2))


async def test_dead_kernel_is_restarted_and_says_state_was_lost(
    client: httpx.AsyncClient,
) -> None:
    await run(client, "doomed = 1")
    died = await run(client, "import os\nos._exit(1)", timeout=10)
    assert died["success"] is False
    assert died["error"]["ename"] == "KernelDied"
    after = await run(client, "'doomed' in globals()")
    assert after["kernel_restarted"] is True
    assert "state" in str(after["notice"]) or "gone" in str(after["notice"])
    assert after["output"] == "False\n"
    assert (await run(client, "1 + 1"))["kernel_restarted"] is False


async def test_interrupt_stops_a_running_execution(client: httpx.AsyncClient) -> None:
    running = asyncio.create_task(run(client, "import time\ntime.sleep(30)", timeout=60))
    deadline = time.monotonic() + 10
    while True:
        interrupted = (await client.post("/python/interrupt")).json()["interrupted"]
        if interrupted or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    result = await asyncio.wait_for(running, timeout=10)
    assert interrupted is True
    assert result["error"]["ename"] == "KeyboardInterrupt"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def small_cap_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(Path(tmp_path_factory.mktemp("capped")), max_output_bytes=10_000)
    async for ship in ship_client(settings):
        yield ship


async def test_huge_output_is_capped_and_says_so(small_cap_client: httpx.AsyncClient) -> None:
    result = await run(small_cap_client, "print('x' * 10**7)")
    assert result["truncated"] is True
    output = str(result["output"])
    assert len(output.encode()) < 11_000
    assert "truncated" in output
    # The cap is per execution: the next one starts with a clean slate.
    following = await run(small_cap_client, "print('ok')")
    assert following["output"] == "ok\n"
    assert following["truncated"] is False


@pytest.mark.parametrize(
    ("code", "produced"),
    [
        ("print('x' * 10**7, end='')", 10**7),
        ("import sys\nfor _ in range(100):\n    sys.stdout.write('é' * 10**5)", 2 * 10**7),
        ("print('x' * 10**6, end='')\nraise ValueError('after the flood')", 10**6),
        # A result or a display counts its repr (two quotes) and the newline Ship adds.
        ("'x' * 10**7", 10**7 + 3),
        ("from IPython.display import display\ndisplay('y' * 10**7)", 10**7 + 3),
    ],
    ids=["one-print", "many-writes-multibyte", "then-an-error", "result", "display"],
)
async def test_the_cut_counts_every_byte_not_kept(
    small_cap_client: httpx.AsyncClient, code: str, produced: int
) -> None:
    """The kernel drops most of it and Ship the rest; the note adds both up."""
    result = await run(small_cap_client, code)
    assert result["truncated"] is True
    assert f"[output truncated: {produced - 10_000} more bytes were not kept]" in result["output"]


async def test_printing_a_lot_does_not_grow_the_kernel(small_cap_client: httpx.AsyncClient) -> None:
    """IPython would otherwise keep a copy of every cell's output for the kernel's life."""
    resident = "int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024"
    before = int((await run(small_cap_client, f"print({resident})"))["output"])
    await run(
        small_cap_client, "import sys\nfor _ in range(300):\n    sys.stdout.write('x' * 10**6)"
    )
    await run(
        small_cap_client,
        "from IPython.display import display\nfor _ in range(300):\n    display('x' * 10**6)",
    )
    # Results: a small object with a 10 MB repr, as the last expression of 30 cells.
    await run(small_cap_client, "class Big:\n    def __repr__(self):\n        return 'r' * 10**7")
    for _ in range(30):
        await run(small_cap_client, "Big()")
    after = int((await run(small_cap_client, f"print({resident})"))["output"])
    assert after - before < 100, f"the kernel grew by {after - before} MiB"


# -- displays: rich outputs through the guard, the collector and the derivations ------------


async def test_each_kind_keeps_its_mime_type_in_display_order(client: httpx.AsyncClient) -> None:
    code = (
        "from IPython.display import HTML, JSON, SVG, Latex, Markdown, display\n"
        "print('first')\n"
        'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="4"/>\'))\n'
        "display(HTML('<table><tr><th>k</th></tr><tr><td>v</td></tr></table>'))\n"
        "display(Markdown('*m*'))\n"
        "display(JSON({'j': 1}))\n"
        "display(Latex('$x$'))\n"
        "print('last')"
    )
    result = await run(client, code)
    assert result["output"] == "first\nlast\n"
    kinds = [(o["mime_type"], o["offset"]) for o in result["outputs"]]
    assert kinds == [
        ("image/svg+xml", 6), ("text/html", 6), ("text/markdown", 6),
        ("application/json", 6), ("text/latex", 6),
    ]  # fmt: skip
    svg, html, markdown, data, latex = result["outputs"]
    assert svg["png"]
    assert html["text"] == "| k |\n|---|\n| v |"
    assert (markdown["data"], data["data"], latex["data"]) == ("*m*", {"j": 1}, "$x$")


async def test_displayed_html_is_saved_in_the_workspace(
    client: httpx.AsyncClient, workspace: Path
) -> None:
    result = await run(client, "from IPython.display import HTML\nHTML('<p>saved</p>')")
    [html] = result["outputs"]
    assert (workspace / html["path"]).read_text() == "<p>saved</p>"
    assert html["text"] == "saved"


async def test_an_object_with_html_keeps_its_repr_in_the_text_output(
    client: httpx.AsyncClient,
) -> None:
    code = (
        "class Table:\n"
        "    def _repr_html_(self): return '<table><tr><td>1</td></tr></table>'\n"
        "    def __repr__(self): return 'Table(1)'\n"
        "print('x')\nTable()"
    )
    result = await run(client, code)
    [html] = result["outputs"]
    assert result["output"] == "x\nTable(1)\n"
    assert (html["offset"], html["replaces"]) == (2, len("Table(1)\n"))


async def test_a_matplotlib_figure_carries_its_chart(client: httpx.AsyncClient) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2], [5, 6], label='rise')\nplt.title('Up')\nplt.show()\n"
        "%config InlineBackend.figure_formats = ['svg']\n"
        "plt.bar(['a'], [3])\nplt.show()\n"
        "%config InlineBackend.figure_formats = ['png']"
    )
    result = await run(client, code)
    line, bar = result["outputs"]
    assert line["mime_type"] == "image/png"
    assert line["chart"]["title"] == "Up"
    assert line["chart"]["elements"] == [
        {"label": "rise", "points": [[1, 5], [2, 6]], "point_count": 2}
    ]
    # Another picture format does not lose the chart: the formats' reset leaves it.
    assert bar["mime_type"] == "image/svg+xml"
    assert bar["png"]
    assert bar["chart"]["elements"][0]["label"] == "a"


async def test_a_display_over_the_budget_is_cut_in_the_kernel_and_counted(
    small_cap_client: httpx.AsyncClient,
) -> None:
    code = (
        "from IPython.display import HTML, Markdown, display\n"
        "display(HTML('<p>' + 'x' * 20_000 + '</p>'))\n"
        "display(Markdown('small'))"
    )
    result = await run(small_cap_client, code)
    assert result["truncated"] is True
    assert [o["data"] for o in result["outputs"]] == ["small"]
    assert "more bytes were not kept" in result["output"]
