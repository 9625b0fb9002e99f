"""Bay's Ship client against Ship's protocol: every error code maps to one Bay error,
and an answer of the wrong shape is a ship_error."""

from __future__ import annotations

import httpx
import pytest

from bay_mcp.adapters.ship_client import ShipClient, ShipEndpoint
from bay_mcp.adapters.ship_errors import SHIP_ERRORS
from bay_mcp.errors import BayError, ResourceExhausted, ShipError
from ship import protocol

ENDPOINT = ShipEndpoint(url="http://ship", token="t" * 32)
EXPECTED_STATUS: dict[protocol.ErrorCode, tuple[str, int]] = {
    "validation_error": ("validation_error", 400),
    "invalid_path": ("invalid_path", 400),
    "file_not_found": ("file_not_found", 404),
    "quota_exceeded": ("quota_exceeded", 429),
    "resource_exhausted": ("resource_exhausted", 503),
    "capability_not_supported": ("capability_not_supported", 400),
    "process_not_found": ("not_found", 404),
    # Bay and Ship disagree (token, endpoint, method) or Ship broke: the runtime's fault.
    "unauthorized": ("ship_error", 502),
    "not_found": ("ship_error", 502),
    "method_not_allowed": ("ship_error", 502),
    "internal_error": ("ship_error", 502),
}


def client_answering(status: int, body: bytes) -> ShipClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    return ShipClient(httpx.AsyncClient(transport=transport))


def test_every_protocol_error_code_has_a_mapping() -> None:
    assert set(SHIP_ERRORS) == set(protocol.ERROR_CODES) == set(EXPECTED_STATUS)


@pytest.mark.parametrize("code", protocol.ERROR_CODES)
async def test_each_ship_error_becomes_its_bay_error(code: protocol.ErrorCode) -> None:
    body = protocol.ErrorBody(error=protocol.ErrorInfo(code=code, message=f"it is {code}"))
    client = client_answering(418, body.model_dump_json().encode())
    with pytest.raises(BayError) as raised:
        await client.meta(ENDPOINT)
    assert (raised.value.code, raised.value.status) == EXPECTED_STATUS[code]
    assert f"it is {code}" in raised.value.message


async def test_out_of_processes_is_a_503_that_says_what_ran_out() -> None:
    body = protocol.ErrorBody(
        error=protocol.ErrorInfo(
            code="resource_exhausted", message="the sandbox has no free processes or threads"
        )
    )
    client = client_answering(503, body.model_dump_json().encode())
    with pytest.raises(ResourceExhausted, match="processes"):
        await client.shell_exec(ENDPOINT, "true", 5, ".", "exec-1")


@pytest.mark.parametrize("body", [b"not json", b'{"no": "shape"}', b"[]"])
async def test_an_answer_of_the_wrong_shape_is_a_ship_error(body: bytes) -> None:
    with pytest.raises(ShipError, match="unexpected shape"):
        await client_answering(200, body).python_exec(ENDPOINT, "1", 5)
    with pytest.raises(ShipError, match="no error body"):
        await client_answering(500, body).python_exec(ENDPOINT, "1", 5)


async def test_answers_are_the_protocol_models() -> None:
    answer = protocol.PythonExecResult(
        success=True, output="2\n", images=[protocol.PngImage(png="iVBOR")]
    )
    result = await client_answering(
        200, answer.model_dump_json(by_alias=True).encode()
    ).python_exec(ENDPOINT, "1+1", 5)
    assert result == answer
    assert result.images[0].png == "iVBOR"


def exec_answer() -> bytes:
    return protocol.PythonExecResult(success=True, output="2\n").model_dump_json().encode()


def client_for(answers: dict[str, Exception | int]) -> tuple[ShipClient, list[str]]:
    """A client whose Ship at each host raises or answers with a status (200: a result)."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        outcome = answers[request.url.host]
        if isinstance(outcome, Exception):
            raise outcome
        body = exec_answer() if outcome == 200 else b'{"error": {"code": "unauthorized"}}'
        return httpx.Response(outcome, content=body)

    transport = httpx.MockTransport(answer)
    return ShipClient(httpx.AsyncClient(transport=transport)), seen


def recovering_to(url: str, recoveries: list[str]) -> ShipEndpoint:
    async def recover() -> ShipEndpoint:
        recoveries.append(url)
        return ShipEndpoint(url=url, token="t" * 32)

    return ShipEndpoint(url="http://gone", token="t" * 32, recover=recover)


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route"), 401],
    ids=["connect error", "connect timeout", "another Ship's 401"],
)
async def test_a_request_that_never_reached_ship_is_recovered_and_sent_once_more(
    failure: Exception | int,
) -> None:
    client, seen = client_for({"gone": failure, "new": 200})
    recoveries: list[str] = []
    result = await client.python_exec(recovering_to("http://new", recoveries), "1+1", 30)
    assert result.output == "2\n"
    assert (seen, recoveries) == (["gone", "new"], ["http://new"])


async def test_a_request_that_may_have_reached_ship_is_never_repeated() -> None:
    client, seen = client_for({"gone": httpx.ReadError("reset mid-answer"), "new": 200})
    recoveries: list[str] = []
    with pytest.raises(BayError) as raised:
        await client.python_exec(recovering_to("http://new", recoveries), "1+1", 30)
    assert raised.value.code == "session_not_ready"
    assert (seen, recoveries) == (["gone"], [])


async def test_recovery_is_tried_once_and_its_failure_named() -> None:
    client, seen = client_for({"gone": 401, "still": 401})
    recoveries: list[str] = []
    with pytest.raises(ShipError, match="refused this session's token"):
        await client.python_exec(recovering_to("http://still", recoveries), "1+1", 30)
    assert seen == ["gone", "still"]
    unrecoverable = ShipEndpoint(url="http://gone", token="t" * 32)
    client, _ = client_for({"gone": httpx.ConnectError("refused")})
    with pytest.raises(BayError, match="not reachable"):
        await client.python_exec(unrecoverable, "1+1", 30)
