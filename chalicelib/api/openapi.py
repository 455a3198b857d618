"""The OpenAPI 3.1 document, generated from the operation registry and its pydantic models."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib import __version__
from chalicelib.api.http import FORM, REGISTRY, Operation
from chalicelib.api.problems import PROBLEM_CONTENT_TYPE, STATUS_TITLES, ProblemDetails
from chalicelib.domain.ids import PATH_ID_PATTERN

REF = "#/components/schemas/{model}"


def _error_statuses(op: Operation) -> list[int]:
    statuses = {500}
    if op.request is not None:
        statuses |= {400, 413, 415, 422}
    if op.raw:
        statuses |= {400, 413}
    if op.query is not None:
        statuses.add(422)
    if op.roles is not None:
        statuses |= {401, 403}
    if op.path_params:
        statuses.add(404)
    return sorted(statuses | set(op.errors))


def _query_parameters(model: type[BaseModel], schema: dict[str, Any]) -> list[dict[str, Any]]:
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        parameters.append({"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop})
    return parameters


def openapi_dict() -> dict[str, Any]:
    models: set[tuple[type[BaseModel], JsonSchemaMode]] = {(ProblemDetails, "serialization")}
    for op in REGISTRY:
        if op.request:
            models.add((op.request, "validation"))
        if op.query:
            models.add((op.query, "validation"))
        if op.response:
            models.add((op.response, "serialization"))
    keyed, definitions = models_json_schema(sorted(models, key=lambda m: (m[0].__name__, m[1])), ref_template=REF)
    schemas = definitions.get("$defs", {})

    paths: dict[str, dict[str, Any]] = {}
    for op in REGISTRY:
        entry: dict[str, Any] = {"operationId": op.name, "summary": op.summary, "tags": [op.tag]}
        parameters = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string", "pattern": PATH_ID_PATTERN.pattern}}
            for p in op.path_params
        ]
        if op.query:
            parameters += _query_parameters(op.query, schemas[op.query.__name__])
        if parameters:
            entry["parameters"] = parameters
        if op.request:
            ref = keyed[(op.request, "validation")]
            entry["requestBody"] = {
                "required": True,
                "description": "JSON, or a form post whose dotted field names build the nested objects (admin.email).",
                "content": {ct: {"schema": ref} for ct in op.content_types if ct in ("application/json", FORM)},
            }
        if op.raw:
            entry["requestBody"] = {
                "required": True,
                "description": "Read as received and verified by its signature before it is parsed.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        success: dict[str, Any] = {"description": "Success"}
        if op.status == 204:
            pass  # no content
        elif op.response:
            success["content"] = {"application/json": {"schema": keyed[(op.response, "serialization")]}}
        else:
            success["content"] = {"application/json": {"schema": {"type": "object"}}}
        responses: dict[str, Any] = {str(op.status): success}
        for status in _error_statuses(op):
            responses[str(status)] = {
                "description": STATUS_TITLES[status][1],
                "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": REF.format(model="ProblemDetails")}}},
            }
        entry["responses"] = responses
        entry["security"] = [{"bearerAuth": []}] if op.roles is not None else []
        if op.roles is not None:
            entry["x-roles"] = sorted(r.value for r in op.roles)
        paths.setdefault(op.path, {})[op.method.lower()] = entry

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Customersonly API",
            "version": __version__,
            "description": "The shared sales organisation of consultancy agencies. Errors are RFC 9457 problem details.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Cognito access token from POST /auth/login.",
                }
            },
        },
    }


@cache
def build_openapi() -> str:
    return json.dumps(openapi_dict(), separators=(",", ":"))
