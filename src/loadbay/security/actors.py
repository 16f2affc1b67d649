"""Who asked for something, as imports record it (``created_by``) and the page shows it."""

from __future__ import annotations

# A local-mode server serves requests without a key: nobody in particular asked.
LOCAL = "local"
# A browser session signed in with LOADBAY_ADMIN_PASSWORD.
ADMIN = "admin"
# `loadbay import FILE`, run on the server's machine without the HTTP API.
CLI = "cli"


def key(name: str) -> str:
    """An API key, or a session signed in with one, by the key's name."""
    return f"key:{name}"
