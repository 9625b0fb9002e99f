"""File tools and cargo resources through MCP: round trips, escapes, images, blobs."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from mcp import Client, MCPError
from mcp_types import BlobResourceContents, ResourceLink, TextResourceContents
from PIL import Image

from tests.integration.mcp.conftest import call, call_error, new_sandbox, text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

ESCAPES = ["/etc/passwd", "../../etc/passwd", "a/../../etc/passwd", "", "bad\x00name"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(client: Client) -> AsyncIterator[str]:
    sandbox_id = await new_sandbox(client)
    # A planted link out of the workspace: only Ship can see where it resolves.
    await call(
        client,
        "shell_exec",
        sandbox_id=sandbox_id,
        command="ln -s /etc etc-link && ln -s /proc/1/root root-link",
    )
    yield sandbox_id
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_write_read_edit_list_delete(client: Client, sandbox: str) -> None:
    written = await call(
        client, "write_file", sandbox_id=sandbox, path="src/app.py", content="x = 1\ny = 2\n"
    )
    assert written.structured_content == {"path": "src/app.py", "size": 12}
    read = await call(client, "read_file", sandbox_id=sandbox, path="src/app.py")
    assert text_of(read) == "x = 1\ny = 2\n"
    window = await call(client, "read_file", sandbox_id=sandbox, path="src/app.py", offset=1)
    assert text_of(window).startswith("y = 2")

    edited = await call(
        client,
        "edit_file",
        sandbox_id=sandbox,
        path="src/app.py",
        old_string="y = 2",
        new_string="y = 3",
    )
    assert edited.structured_content is not None
    assert edited.structured_content["replacements"] == 1
    error = await call_error(
        client, "edit_file", sandbox_id=sandbox, path="src/app.py", old_string="z", new_string="w"
    )
    assert "not found" in error
    ran = await call(
        client, "python_exec", sandbox_id=sandbox, code="exec(open('src/app.py').read()); y"
    )
    assert "3" in text_of(ran)

    listing = await call(client, "list_files", sandbox_id=sandbox, path="src")
    assert listing.structured_content is not None
    assert [(e["name"], e["type"]) for e in listing.structured_content["entries"]] == [
        ("app.py", "file")
    ]
    await call(client, "delete_file", sandbox_id=sandbox, path="src")
    error = await call_error(client, "read_file", sandbox_id=sandbox, path="src/app.py")
    assert "src/app.py" in error


@pytest.mark.parametrize("bad", [*ESCAPES, "etc-link/passwd", "root-link/etc/passwd"])
async def test_every_path_tool_refuses_escapes(client: Client, sandbox: str, bad: str) -> None:
    attempts = [
        ("read_file", {"path": bad}),
        ("write_file", {"path": bad, "content": "pwned"}),
        ("edit_file", {"path": bad, "old_string": "root", "new_string": "toor"}),
        ("list_files", {"path": bad or "/"}),
        ("delete_file", {"path": bad}),
        ("shell_exec", {"command": "cat passwd", "cwd": bad or "/etc"}),
    ]
    for tool, arguments in attempts:
        error = await call_error(client, tool, sandbox_id=sandbox, **arguments)
        assert "root:" not in error, (tool, error)
        assert "workspace" in error or "path" in error, (tool, error)
    check = await call(
        client, "shell_exec", sandbox_id=sandbox, command="grep -c pwned /etc/passwd"
    )
    assert text_of(check).split()[0] == "0"


async def test_binary_files_are_described_images_are_shown(client: Client, sandbox: str) -> None:
    await call(
        client,
        "python_exec",
        sandbox_id=sandbox,
        code=(
            "import matplotlib.pyplot as plt, os\n"
            "plt.plot([1, 2]); plt.savefig('plot.png')\n"
            "open('blob.bin', 'wb').write(os.urandom(300) + b'\\xff\\xfe')"
        ),
    )
    image = await call(client, "read_file", sandbox_id=sandbox, path="plot.png")
    [block] = image.content
    assert block.type == "image"
    assert Image.open(io.BytesIO(base64.b64decode(block.data))).format == "PNG"
    blob = await call(client, "read_file", sandbox_id=sandbox, path="blob.bin")
    assert "binary" in text_of(blob)
    assert "302 bytes" in text_of(blob)
    assert f"cargo://{sandbox}/blob.bin" in text_of(blob)


async def test_resources(client: Client, sandbox: str) -> None:
    templates = await client.list_resource_templates()
    assert [t.uri_template for t in templates.resource_templates] == [
        "cargo://{sandbox_id}/{+path}"
    ]
    listed = await client.list_resources()
    assert f"cargo://{sandbox}/" in [str(r.uri) for r in listed.resources]

    await call(client, "write_file", sandbox_id=sandbox, path="notes/hello.md", content="# Hi\n")
    text = await client.read_resource(f"cargo://{sandbox}/notes/hello.md")
    [content] = text.contents
    assert isinstance(content, TextResourceContents)
    assert content.text == "# Hi\n"
    assert content.mime_type == "text/markdown"

    await call(
        client,
        "python_exec",
        sandbox_id=sandbox,
        code="import matplotlib.pyplot as plt\nplt.plot([3, 1]); plt.savefig('res.png')",
    )
    png = await client.read_resource(f"cargo://{sandbox}/res.png")
    [blob] = png.contents
    assert isinstance(blob, BlobResourceContents)
    assert blob.mime_type == "image/png"
    assert base64.b64decode(blob.blob).startswith(b"\x89PNG")

    root = await client.read_resource(f"cargo://{sandbox}/")
    [listing] = root.contents
    assert isinstance(listing, TextResourceContents)
    names = [e["name"] for e in json.loads(listing.text)["entries"]]
    assert "notes" in names

    for bad in ["cargo://{}/etc-link/passwd", "cargo://{}/..%2F..%2Fetc%2Fpasswd"]:
        with pytest.raises(MCPError) as refused:
            await client.read_resource(bad.format(sandbox))
        assert "root:" not in str(refused.value)
    with pytest.raises(MCPError):
        await client.read_resource("cargo://sandbox-000000000000/x.txt")


async def test_a_run_lists_and_links_the_files_it_wrote(client: Client, sandbox: str) -> None:
    code = (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "import pandas as pd\n"
        "plt.plot([1, 2, 3]); plt.savefig('out/plot.png'); plt.close()\n"
        "pd.DataFrame({'a': range(1000)}).to_csv('out/data.csv', index=False)\n"
    )
    await call(client, "shell_exec", sandbox_id=sandbox, command="mkdir -p out")
    result = await call(client, "python_exec", sandbox_id=sandbox, code=code)
    assert result.structured_content is not None
    listed = result.structured_content["files_changed"]
    assert {(f["path"], f["change"]) for f in listed["files"]} == {
        ("out/plot.png", "created"),
        ("out/data.csv", "created"),
    }
    links = {block.name: block for block in result.content if isinstance(block, ResourceLink)}
    assert set(links) == {"out/plot.png", "out/data.csv"}
    assert links["out/plot.png"].mime_type == "image/png"
    [png] = (await client.read_resource(str(links["out/plot.png"].uri))).contents
    assert isinstance(png, BlobResourceContents)
    assert base64.b64decode(png.blob)[:8] == b"\x89PNG\r\n\x1a\n"
    [csv] = (await client.read_resource(str(links["out/data.csv"].uri))).contents
    assert isinstance(csv, TextResourceContents)
    assert csv.text.splitlines()[:2] == ["a", "0"]
    removed = await call(client, "shell_exec", sandbox_id=sandbox, command="rm out/data.csv")
    assert removed.structured_content is not None
    assert removed.structured_content["files_changed"]["files"] == [
        {"path": "out/data.csv", "change": "deleted", "size": None}
    ]
    assert not [block for block in removed.content if isinstance(block, ResourceLink)]
