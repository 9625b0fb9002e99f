"""`/openapi.json`, generated from the route table and its pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bay_mcp import __version__
from rest import models
from rest.endpoint import Endpoint
from rest.routes import ENDPOINTS

REF = "#/components/schemas/{model}"
ERROR_TEXT = {
    400: "validation_error, invalid_path or capability_not_supported",
    401: "unauthorized: no or bad API key",
    404: "not_found or file_not_found",
    403: "forbidden: this owner may not use the admin API",
    409: "conflict, sandbox_expired or sandbox_ttl_infinite",
    423: "locked: a garbage collection run is in progress",
    413: "payload_too_large: a body or upload over its limit (details.limit_bytes)",
    429: "quota_exceeded: too many sandboxes or secrets, or a cargo over its size limit",
    502: "ship_error: the sandbox runtime failed",
    503: "session_not_ready: retry after Retry-After seconds",
    504: "timeout: the operation exceeded its time limit",
}


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = [models.ErrorBody, models.HealthBody]
    for endpoint in ENDPOINTS:
        for model in (endpoint.body, endpoint.query, endpoint.response):
            if isinstance(model, type) and model not in found:
                found.append(model)
    return found


def _parameters(endpoint: Endpoint, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    if endpoint.query is not None:
        schema = schemas[endpoint.query.__name__]
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    if endpoint.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "Replays the first response for the same key and body",
            }
        )
    return parameters


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": endpoint.summary}
    if endpoint.response == "binary":
        ok["content"] = {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }
    elif isinstance(endpoint.response, type):
        ok["content"] = {
            "application/json": {"schema": {"$ref": REF.format(model=endpoint.response.__name__)}}
        }
    responses: dict[str, Any] = {str(endpoint.status): ok}
    for status in endpoint.errors:
        responses[str(status)] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
        }
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "parameters": _parameters(endpoint, schemas),
        "responses": responses,
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=endpoint.body.__name__)}}
            },
        }
    if endpoint.multipart:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "path"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "path": {"type": "string", "minLength": 1},
                        },
                    }
                }
            },
        }
    return operation


def openapi_document() -> dict[str, Any]:
    _, top = models_json_schema([(model, "serialization") for model in _models()], ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    # Query models are read in validation mode: their own schemas, inlined as parameters.
    for endpoint in ENDPOINTS:
        if endpoint.query is not None:
            schemas[endpoint.query.__name__] = endpoint.query.model_json_schema(
                ref_template=REF, mode="validation"
            )
        if endpoint.body is not None:
            body_schema = endpoint.body.model_json_schema(ref_template=REF, mode="validation")
            schemas.update(body_schema.pop("$defs", {}))
            schemas[endpoint.body.__name__] = body_schema
    paths: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    paths["/health"] = {
        "get": {
            "summary": "Health, with database and driver checks",
            "operationId": "health",
            "security": [],
            "responses": {
                code: {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": REF.format(model="HealthBody")}}
                    },
                }
                for code, text in (("200", "healthy"), ("503", "a check fails"))
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bay MCP REST API",
            "version": __version__,
            "description": "Persistent, isolated sandboxes: the same service as the MCP tools.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
        "paths": paths,
    }
