"""What ``/openapi.json`` says each route answers, so a client (and schemathesis) can hold the app
to it: the routes declare their bodies with these helpers in ``responses=``, and
:func:`openapi_document` adds the schemas they name.

- Resources are the proto messages (``social.proto``): :func:`resource` and :func:`page` refer to
  their JSON Schemas, generated from the descriptors by :mod:`darkroom.api.json_schema` (the HTTP
  JSON is their proto3 JSON mapping, so the schema comes from the same ``.proto``).
- Bodies that are no message (a session, a token, a follow's state) are written out with
  :func:`json_body`.
- Every error is a ``Problem`` (RFC 9457): ``4XX`` and ``5XX`` on every route
  (:data:`ERROR_RESPONSES`), and :func:`problem` for a status a route names itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from google.protobuf.descriptor import Descriptor

from darkroom.api.json_schema import message_schemas, ref
from darkroom.api.problems import PROBLEM_CONTENT_TYPE

__all__ = [
    "ERROR_RESPONSES",
    "JSON",
    "PROBLEM_SCHEMA",
    "json_body",
    "openapi_document",
    "page",
    "page_schema",
    "problem",
    "resource",
]

JSON = "application/json"
Schema = dict[str, Any]

PROBLEM_SCHEMA: Schema = {
    "title": "Problem",
    "description": "RFC 9457 problem details, with Darkroom's stable `code` and the offending `field`",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "tag:darkroom,2025:problem:<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong, naming the offending value"},
        "code": {"type": "string", "description": "stable machine-readable name (not_found, invalid_input, …)"},
        "field": {"type": "string", "description": "the offending request field, when there is one"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# The messages the routes refer to, by full name: their schemas (and those of the messages inside
# them) go into components/schemas. Filled as the route modules declare their responses.
_MESSAGES: dict[str, Descriptor] = {}


def problem(description: str) -> Schema:
    """A response object: a problem+json ``Problem``."""
    return {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# Every route may answer these (declaring 4XX also keeps FastAPI from adding its 422 shape).
ERROR_RESPONSES: dict[int | str, Schema] = {
    "4XX": problem("a client error: bad input, unauthenticated, forbidden, not found, rate limited…"),
    "5XX": problem("a server error (an incident id, no internals)"),
}


def json_body(schema: Schema, description: str) -> Schema:
    """A response object: JSON of ``schema``."""
    return {"description": description, "content": {JSON: {"schema": schema}}}


def message_ref(descriptor: Descriptor) -> Schema:
    """``{"$ref": …}`` to ``descriptor``'s schema, which :func:`openapi_document` will add."""
    _MESSAGES[descriptor.full_name] = descriptor
    return ref(descriptor)


def resource(descriptor: Descriptor, description: str = "") -> Schema:
    """A response object: one message (only the fields ``fields=`` asks for)."""
    return json_body(message_ref(descriptor), description or f"the {descriptor.name} (proto3 JSON)")


def page_schema(items: Schema) -> Schema:
    """``{"items": […], "next_cursor": …}``: a page of a list."""
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": items},
            "next_cursor": {"type": ["string", "null"], "description": "the next page's cursor; null on the last"},
        },
        "additionalProperties": False,
    }


def page(descriptor: Descriptor, description: str = "") -> Schema:
    """A response object: a page of messages (``fields=`` applies to each)."""
    return json_body(page_schema(message_ref(descriptor)), description or f"a page of {descriptor.name}s")


def openapi_document(app: FastAPI, extra_schemas: Mapping[str, Schema] | None = None) -> dict[str, Any]:
    """``app``'s OpenAPI document: FastAPI's, with the ``Problem`` and every referred message's
    schema, and without FastAPI's validation-error shapes (bad requests are 400 problems)."""
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas.update(message_schemas(_MESSAGES.values()))
    schemas.update(extra_schemas or {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return document
