"""Manifests checked against the Kubernetes API's own models (kubernetes-asyncio's).

The client's deserializer builds the model (required fields and types checked), but it
ignores keys it does not know: `unknown_keys` walks the dict beside the model's
`attribute_map` and `openapi_types` and names every key the API would not know.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from kubernetes_asyncio.client import ApiClient, models
from kubernetes_asyncio.client.rest import RESTResponse

_NATIVE = {"str", "int", "float", "bool", "date", "datetime", "object"}


class _Response:
    """What ApiClient.deserialize reads: an answer's body."""

    def __init__(self, data: object) -> None:
        self.data = json.dumps(data)


def model_name(document: dict[str, Any]) -> str:
    """The model class of a document: apiVersion apps/v1, kind Deployment: V1Deployment."""
    version = str(document["apiVersion"]).rsplit("/", 1)[-1]
    return f"{version[0].upper()}{version[1:]}{document['kind']}"


def unknown_keys(data: object, type_name: str, path: str = "") -> list[str]:
    """Every key in `data` that the model `type_name` (recursively) has no field for."""
    if data is None or type_name in _NATIVE:
        return []
    if match := re.fullmatch(r"list\[(.*)\]", type_name):
        assert isinstance(data, list), f"{path}: a list expected"
        return [
            key
            for index, item in enumerate(data)
            for key in unknown_keys(item, match.group(1), f"{path}[{index}]")
        ]
    if match := re.fullmatch(r"dict\(([^,]*), (.*)\)", type_name):
        assert isinstance(data, dict), f"{path}: a mapping expected"
        return [
            key
            for name, value in data.items()
            for key in unknown_keys(value, match.group(2), f"{path}.{name}")
        ]
    model = getattr(models, type_name)
    assert isinstance(data, dict), f"{path}: an object ({type_name}) expected"
    fields = {json_key: attribute for attribute, json_key in model.attribute_map.items()}
    found = []
    for key, value in data.items():
        if key not in fields:
            found.append(f"{path}.{key}" if path else key)
            continue
        found += unknown_keys(value, model.openapi_types[fields[key]], f"{path}.{key}")
    return found


def as_model(client: ApiClient, document: dict[str, Any], type_name: str | None = None) -> Any:
    """The document as its Kubernetes model; fails on a key the model does not know."""
    name = type_name or model_name(document)
    assert unknown_keys(document, name) == [], f"keys {name} does not know"
    # deserialize reads only the answer's body: no real response is needed.
    return client.deserialize(cast(RESTResponse, _Response(document)), name)
