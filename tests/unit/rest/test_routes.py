"""The REST layer in-process over a fake driver and Ship: shapes, errors, idempotency."""

from __future__ import annotations

import json

import httpx
import pytest

from bay_mcp.bay import Bay
from ship import protocol
from tests.fakes import FakeDriver, FakeShip


async def test_errors_have_the_contract_shape_and_request_id(api: httpx.AsyncClient) -> None:
    for response in [
        await api.get("/v1/sandboxes/sandbox-nope"),
        await api.get("/v1/unknown"),
        await api.post("/v1/sandboxes", content=b"[1, 2"),
        await api.post("/v1/sandboxes", json={"ttl": "soon"}),
    ]:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "request_id", "details"}
        assert error["request_id"] == response.headers["x-request-id"]
        assert response.status_code in (400, 404)


async def test_validation_names_the_fields(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/sandboxes", json={"ttl": "soon", "profile": 3})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"] == ["profile", "ttl"]


async def test_idempotency_replays_and_conflicts(
    api: httpx.AsyncClient, driver: FakeDriver, bay: Bay
) -> None:
    key = {"Idempotency-Key": "abc"}
    first = await api.post("/v1/sandboxes", json={}, headers=key)
    again = await api.post("/v1/sandboxes", json={}, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(driver.volumes) == 1
    other = await api.post("/v1/sandboxes", json={"ttl": 5}, headers=key)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"
    _, bob_key = await bay.keys.create("bob")
    bob = {"Authorization": f"Bearer {bob_key}"}
    as_bob = await api.post("/v1/sandboxes", json={}, headers={**key, **bob})
    assert as_bob.status_code == 201  # keys are per owner
    assert as_bob.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["has space", "k" * 256, "clé", "tab\there"])
async def test_an_idempotency_key_of_the_wrong_form_is_refused(
    api: httpx.AsyncClient, driver: FakeDriver, key: str
) -> None:
    response = await api.post(
        "/v1/sandboxes", json={}, headers=[(b"Idempotency-Key", key.encode("utf-8"))]
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("validation_error", "Idempotency-Key")
    assert "visible ASCII" in error["message"]
    assert driver.volumes == {}  # nothing made


async def test_a_failed_request_frees_its_idempotency_key(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "retry-me"}
    failed = await api.post("/v1/sandboxes", json={"cargo_id": "ws-missing"}, headers=key)
    assert failed.status_code == 404
    again = await api.post("/v1/sandboxes", json={"cargo_id": "ws-missing"}, headers=key)
    assert again.status_code == 404  # ran again, not a replay or a conflict


async def test_pages_cover_everything_once(api: httpx.AsyncClient) -> None:
    made = {(await api.post("/v1/sandboxes", json={})).json()["id"] for _ in range(5)}
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/sandboxes", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)


async def test_timeouts_and_runtime_errors_map_to_their_statuses(
    api: httpx.AsyncClient, ship: FakeShip
) -> None:
    sandbox = (await api.post("/v1/sandboxes", json={})).json()["id"]
    ship.python_answer = protocol.PythonExecResult(success=False, timed_out=True)
    timed_out = await api.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "x"})
    assert timed_out.status_code == 504
    assert timed_out.json()["error"]["code"] == "timeout"


async def test_openapi_describes_every_route(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    from rest.routes import ENDPOINTS

    assert {(e.method, e.path) for e in ENDPOINTS} <= operations
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (method, path)


async def test_unknown_body_fields_are_refused_by_name(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/sandboxes", json={"ttl_second": 60})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "ttl_second" in error["message"]
    assert error["details"]["fields"] == ["ttl_second"]


def _events(body: str) -> list[tuple[str, object]]:
    found = []
    for block in body.strip().split("\n\n"):
        name, data = block.split("\n")
        found.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return found


async def test_python_exec_answers_its_outputs_and_keeps_images_for_existing_clients(
    api: httpx.AsyncClient, ship: FakeShip
) -> None:
    sandbox = (await api.post("/v1/sandboxes", json={})).json()["id"]
    ship.python_answer = protocol.PythonExecResult(
        success=True,
        output="df\n",
        outputs=[
            protocol.RichOutput(mime_type="image/svg+xml", data="<svg/>", png="SVGPNG"),
            protocol.RichOutput(mime_type="text/html", data="<table/>", text="| a |",
                                path=".bay/outputs/display-1.html", replaces=3),
            protocol.RichOutput(mime_type="application/json", data={"k": [1]}),
        ],
    )  # fmt: skip
    answer = (await api.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "x"})).json()
    assert answer["output"] == "df\n"
    output = answer["data"]["output"]
    assert output["images"] == [{"image/png": "SVGPNG"}]
    assert [item["mime_type"] for item in output["outputs"]] == [
        "image/svg+xml", "text/html", "application/json",
    ]  # fmt: skip
    assert output["outputs"][1]["text"] == "| a |"
    assert output["outputs"][2]["data"] == {"k": [1]}


async def test_an_exec_asked_for_events_streams_output_then_the_result(
    api: httpx.AsyncClient, ship: FakeShip
) -> None:
    sandbox = (await api.post("/v1/sandboxes", json={})).json()["id"]
    events = {"Accept": "text/event-stream"}
    ship.python_answer = protocol.PythonExecResult(success=True, output="a\nb\n")
    response = await api.post(
        f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "x"}, headers=events
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    *outputs, (name, result) = _events(response.text)
    assert "".join(data["text"] for _, data in outputs) == "a\nb\n"  # type: ignore[index]
    assert name == "result"
    assert isinstance(result, dict)
    assert result["output"] == "a\nb\n"
    shell = await api.post(
        f"/v1/sandboxes/{sandbox}/shell/exec", json={"command": "ls"}, headers=events
    )
    assert _events(shell.text)[-1][0] == "result"
    ship.python_answer = protocol.PythonExecResult(success=False, timed_out=True)
    failed = await api.post(
        f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "x"}, headers=events
    )
    name, error = _events(failed.text)[-1]
    assert name == "error"
    assert isinstance(error, dict)
    assert error["error"]["code"] == "timeout"
    assert error["error"]["request_id"] == failed.headers["x-request-id"]
