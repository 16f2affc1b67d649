"""The OpenAPI document states each operation's security, from the rules that enforce it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from loadbay.api_errors import PROBLEM_JSON
from loadbay.security.auth import required_scope
from loadbay.security.ratelimit import route_group
from loadbay.settings import Settings

SCHEMES: dict[str, dict[str, Any]] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (lbk_…) as a bearer token.",
    },
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def install_security_openapi(app: FastAPI, settings: Settings) -> None:
    """Wrap ``app.openapi`` (after ``install_problem_openapi``) to add security to it."""
    build = app.openapi
    local = settings.auth == "local"

    def openapi() -> dict[str, Any]:
        spec = build()
        if "securitySchemes" in spec["components"]:
            return spec
        spec["components"]["securitySchemes"] = SCHEMES
        for path, item in spec.get("paths", {}).items():
            for method, operation in item.items():
                if method in _METHODS:
                    _secure(operation, method.upper(), path, local)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _secure(operation: dict[str, Any], method: str, path: str, local: bool) -> None:
    scope = required_scope(method, path)
    responses = operation.setdefault("responses", {})
    if scope is None:
        operation["security"] = []
    else:
        # OpenAPI 3.1: for non-OAuth schemes the list names the roles (here: scopes) needed.
        needed = [scope.value]
        operation["security"] = [{"bearerAuth": needed}, {"apiKeyHeader": needed}]
        if local:
            # Local mode serves requests without a key as well.
            operation["security"].append({})
        responses.setdefault(
            "401", {"description": "No API key, or an unknown or revoked one.", "content": _PROBLEM}
        )
        responses.setdefault(
            "403",
            {"description": f"The API key lacks the {scope.value} scope.", "content": _PROBLEM},
        )
    if method != "OPTIONS" and route_group(path) is not None:
        responses.setdefault(
            "429",
            {
                "description": "Rate limit used up; see Retry-After and RateLimit.",
                "content": _PROBLEM,
                "headers": {
                    "Retry-After": {"schema": {"type": "integer"}},
                    "RateLimit": {"schema": {"type": "string"}},
                    "RateLimit-Policy": {"schema": {"type": "string"}},
                },
            },
        )
