"""A 50 MB upload interrupted by a page reload, then resumed from where it stopped."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from playwright.sync_api import Response, expect

from tests.web.conftest import HEADER, PageFactory, Shots, WebServer
from tests.web.flow import open_page

SIZE = 50 * 1024 * 1024
# Throttled upload (bytes per second) through Chromium's network emulation, so that the
# reload lands mid-upload: 50 MB at 12 MB/s takes about four seconds.
UPLOAD_RATE = 12 * 1024 * 1024


def _big_csv(path: Path) -> Path:
    line = b"1,someone@example.com,42,FR\n"
    with path.open("wb") as out:
        out.write(HEADER.encode() + b"\n")
        block = line * 65536
        while out.tell() + len(block) < SIZE:
            out.write(block)
        out.write(line * ((SIZE - out.tell()) // len(line)))
    return path


def _throttle(page: object) -> None:
    cdp = page.context.new_cdp_session(page)  # type: ignore[attr-defined]
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": UPLOAD_RATE},
    )


def test_reload_mid_upload_resumes(
    web_server: WebServer, new_page: PageFactory, shots: Shots, tmp_path: Path
) -> None:
    csv = _big_csv(tmp_path / "big.csv")
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()
    page = new_page()
    _throttle(page)
    open_page(page, web_server.base)
    page.select_option("#schema-select", "customers")

    def acknowledged(response: Response) -> bool:
        return response.request.method == "PATCH" and response.status == 204

    with page.expect_response(acknowledged, timeout=30_000) as first_chunk:
        page.locator(".uppy-Dashboard-input").first.set_input_files(str(csv))
    offset_before = int(first_chunk.value.headers["upload-offset"])
    upload_url = first_chunk.value.url
    assert 0 < offset_before < SIZE
    shots(page, "uploading")
    page.reload()

    # After the reload the page says how to go on; the same file resumes from the offset.
    expect(page.get_by_test_id("resume-hint")).to_contain_text("big.csv")
    shots(page, "resume-hint")
    _throttle(page)
    page.select_option("#schema-select", "customers")

    def asked_offset(response: Response) -> bool:
        return response.request.method == "HEAD" and response.url == upload_url

    with page.expect_response(asked_offset, timeout=30_000) as head:
        page.locator(".uppy-Dashboard-input").first.set_input_files(str(csv))
    resumed_at = int(head.value.headers["upload-offset"])
    assert resumed_at >= offset_before > 0
    expect(page.get_by_test_id("sha256")).to_have_text(digest, timeout=60_000)
    shots(page, "resumed")

    resource = httpx.get(upload_url, timeout=10).json()
    assert resource["state"] == "complete"
    assert resource["size"] == resource["offset"] == csv.stat().st_size
    assert resource["sha256"] == digest
    # One upload only: the reload did not start a second one.
    uploads = list((web_server.data_dir / "uploads").iterdir())
    assert len(uploads) == 1
