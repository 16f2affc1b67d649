"""Who is calling: the client address, from ``X-Forwarded-For`` only behind a trusted proxy."""

from __future__ import annotations

from starlette.types import Scope

UNKNOWN = "unknown"


def client_address(scope: Scope, *, trust_proxy: bool) -> str:
    """The peer's address, or with ``trust_proxy`` the last ``X-Forwarded-For`` entry: the
    one the (single) trusted proxy appended. Entries before it are client-supplied."""
    if trust_proxy:
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name == b"x-forwarded-for"
        ]
        hops = [hop.strip() for hop in ",".join(forwarded).split(",") if hop.strip()]
        if hops:
            return hops[-1]
    client = scope.get("client")
    return str(client[0]) if client else UNKNOWN
