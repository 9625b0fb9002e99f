"""`/v1/secrets` in-process over the fakes: PUT answers the view (200, created or
replaced), GET lists names without values, DELETE is 204 then 404; a bad name or value
is the contract's 400 naming the field; another owner's secrets are not listed."""

from __future__ import annotations

import httpx

from bay_mcp.bay import Bay
from bay_mcp.limits import MAX_SECRET_VALUE_CHARS

VALUE = "rest-unit-secret-7f3a9c"


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    error: dict[str, object] = response.json()["error"]
    assert error["code"] == code
    return error


async def test_put_list_delete(api: httpx.AsyncClient, bay: Bay) -> None:
    made = await api.put("/v1/secrets/API_TOKEN", json={"value": VALUE})
    assert made.status_code == 200, made.text
    assert set(made.json()) == {"name", "created_at", "updated_at"}
    assert made.json()["created_at"].endswith("Z")
    again = await api.put("/v1/secrets/API_TOKEN", json={"value": VALUE + "2"})
    assert again.status_code == 200
    assert again.json()["created_at"] == made.json()["created_at"]
    listed = await api.get("/v1/secrets")
    assert listed.status_code == 200
    assert listed.json() == {"items": [again.json()], "next_cursor": None}
    assert await bay.secrets.values("default", ["API_TOKEN"]) == {"API_TOKEN": VALUE + "2"}
    gone = await api.delete("/v1/secrets/API_TOKEN")
    assert (gone.status_code, gone.content) == (204, b"")
    assert "API_TOKEN" in str(_error(await api.delete("/v1/secrets/API_TOKEN"), 404, "not_found"))
    for response in (made, again, listed):
        assert VALUE not in response.text


async def test_a_bad_name_or_value_is_a_validation_error_naming_the_field(
    api: httpx.AsyncClient,
) -> None:
    bad_name = _error(await api.put("/v1/secrets/9-lives", json={"value": "x"}), 400,
                      "validation_error")  # fmt: skip
    assert bad_name["details"] == {"fields": ["name"], "field": "name"}
    too_long = "Q" * (MAX_SECRET_VALUE_CHARS + 1)
    for body in ({"value": ""}, {"value": too_long}, {}, {"value": 5}):
        error = _error(await api.put("/v1/secrets/OK", json=body), 400, "validation_error")
        assert error["details"]["field"] == "value"  # type: ignore[index]
        assert "QQQQ" not in str(error)
    unknown = _error(await api.put("/v1/secrets/OK", json={"value": "x", "hosts": []}), 400,
                     "validation_error")  # fmt: skip
    assert "hosts" in str(unknown["details"])
    _error(await api.delete("/v1/secrets/not-a-name"), 400, "validation_error")
    assert (await api.get("/v1/secrets")).json()["items"] == []


async def test_another_owners_secrets_are_not_listed(api: httpx.AsyncClient, bay: Bay) -> None:
    await bay.secrets.set("bob", "BOBS", VALUE)
    assert (await api.get("/v1/secrets")).json()["items"] == []
    _error(await api.delete("/v1/secrets/BOBS"), 404, "not_found")
    assert [view.name for view in await bay.secrets.list("bob")] == ["BOBS"]
