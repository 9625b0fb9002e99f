"""Bay's Ship client against Ship's protocol: every error code maps to one Bay error,
and an answer of the wrong shape is a ship_error."""

from __future__ import annotations

import httpx
import pytest

from bay_mcp.adapters.ship_client import SHIP_ERRORS, ShipClient, ShipEndpoint
from bay_mcp.errors import BayError, ResourceExhausted, ShipError
from ship import protocol

ENDPOINT = ShipEndpoint(url="http://ship", token="t" * 32)
EXPECTED_STATUS: dict[protocol.ErrorCode, tuple[str, int]] = {
    "validation_error": ("validation_error", 400),
    "invalid_path": ("invalid_path", 400),
    "file_not_found": ("file_not_found", 404),
    "quota_exceeded": ("quota_exceeded", 429),
    "resource_exhausted": ("resource_exhausted", 503),
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
