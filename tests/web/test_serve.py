"""The page's routes without a browser: index, hashed assets, the not-built message."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.settings import Settings


def _client(tmp_path: Path, dist: Path) -> TestClient:
    app = create_app(Settings(data_dir=tmp_path / "var"))
    app.state.web_dist = dist
    return TestClient(app)


def test_page_not_built_says_how_to_build_it(tmp_path: Path) -> None:
    with _client(tmp_path, tmp_path / "nothing") as client:
        response = client.get("/")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    assert "make build-web" in response.text
    assert response.headers["cache-control"] == "no-store"


def test_index_and_assets_with_their_cache_headers(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><script src="/assets/index-ab12.js"></script>')
    (dist / "assets" / "index-ab12.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    with _client(tmp_path, dist) as client:
        index = client.get("/")
        asset = client.get("/assets/index-ab12.js")
        head = client.head("/")
        missing = client.get("/assets/nope.js")
        traversal = client.get("/assets/..%2F..%2Fsecret.txt")
        hidden = client.get("/assets/.env")
        # The page is public even when the API needs a key.
    assert index.status_code == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.headers["cache-control"] == "no-cache"
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in asset.headers["content-type"]
    assert head.status_code == 200
    assert missing.status_code == 404
    assert traversal.status_code == 404
    assert hidden.status_code == 404


def test_page_is_public_when_keys_are_required(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "var", auth="required"))
    app.state.web_dist = tmp_path / "nothing"
    with TestClient(app) as client:
        assert client.get("/").status_code == 503  # served (not built), not 401
        assert client.get("/api/imports").status_code == 401
    assert not any(route == "/" for route in app.openapi()["paths"])
