"""/healthz and /readyz: the reasons a server is not ready."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.settings import Settings


def test_healthy_server_is_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "checks": {"store": {"ok": True, "reason": None}, "storage": {"ok": True, "reason": None}},
    }


def test_unwritable_storage_and_unreachable_redis_are_named(settings: Settings) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(broken), raise_server_exceptions=False) as client:
        # A file where the directory was: unwritable even for root.
        settings.data_dir.rename(settings.data_dir.with_name("moved"))
        settings.data_dir.write_bytes(b"")
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/not-ready"
    checks = body["checks"]
    assert checks["store"] == {"ok": True, "reason": None}
    assert checks["storage"]["ok"] is False
    assert checks["storage"]["reason"].startswith(f"data directory {settings.data_dir}")
    assert checks["redis"]["ok"] is False
    assert checks["redis"]["reason"].startswith("redis unreachable: ConnectionError")
    assert "storage: data directory" in body["detail"]


def test_unreachable_store_is_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.app.state.context.engine.dispose()  # type: ignore[attr-defined]
        (tmp_path / "var" / "loadbay.sqlite").unlink()
        (tmp_path / "var" / "loadbay.sqlite").mkdir()  # a directory cannot be opened
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["store"]["reason"].startswith(
        "metadata store unreachable: OperationalError"
    )


def test_probes_need_no_key_and_are_not_limited(settings: Settings) -> None:
    strict = settings.model_copy(update={"auth": "required", "rate_limit_default": "1/minute"})
    with TestClient(create_app(strict)) as client:
        for _ in range(3):
            for path in ("/healthz", "/readyz"):
                response = client.get(path, headers={"Authorization": "Bearer nonsense"})
                assert response.status_code == 200
                assert "ratelimit" not in response.headers
