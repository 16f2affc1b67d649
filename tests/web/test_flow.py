"""The whole import flow in Chromium: upload, map, fix a cell, commit partial and atomic."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.web.conftest import PageFactory, Shots, WebServer, customers_with_errors, write_csv
from tests.web.flow import (
    edit_cell,
    grid_cell,
    map_columns,
    open_page,
    upload,
    wait_server_state,
    wait_state,
)


def _table(server: WebServer) -> dict[int, tuple[str, int, str]]:
    with sqlite3.connect(server.target) as db:
        rows = db.execute("SELECT id, email, age, country FROM customers").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_whole_flow_partial_then_atomic(
    web_server: WebServer, new_page: PageFactory, shots: Shots, tmp_path: Path
) -> None:
    started = time.monotonic()
    page = new_page()
    open_page(page, web_server.base)
    shots(page, "start")

    # 1. schema: its fields and rules are shown
    page.select_option("#schema-select", "customers")
    details = page.get_by_test_id("schema-details")
    expect(details).to_contain_text("People who bought something")
    expect(details).to_contain_text("at most 120")
    expect(details).to_contain_text("one of: FR, DE, US")
    shots(page, "schema")

    # 2. upload over tus; the whole-file checksum is shown when done
    csv = write_csv(tmp_path / "customers.csv", customers_with_errors(40))
    upload(page, csv)
    import hashlib

    sha256 = hashlib.sha256(csv.read_bytes()).hexdigest()
    expect(page.get_by_test_id("sha256")).to_have_text(sha256)
    shots(page, "uploaded")
    page.get_by_test_id("start-import").click()

    # 3. analysis and 4. mapping: required fields unmapped block validation
    wait_state(page, "awaiting mapping")
    expect(page.get_by_test_id("analysis-format")).to_have_text("CSV")
    expect(page.get_by_test_id("sample-table")).to_contain_text("user1@example.com")
    shots(page, "mapping")
    map_columns(page)

    # 5. validation, 6. the error grid with the offending cells
    wait_state(page, "validated")
    expect(page.get_by_test_id("count-invalid")).to_have_text("3")
    expect(page.get_by_test_id("count-valid")).to_have_text("37")
    expect(grid_cell(page, 5, "age")).to_have_class(_contains("cell-invalid"))
    expect(grid_cell(page, 9, "email")).to_have_class(_contains("cell-invalid"))
    expect(grid_cell(page, 13, "country")).to_have_class(_contains("cell-invalid"))
    expect(grid_cell(page, 5, "email")).not_to_have_class(_contains("cell-invalid"))
    grid_cell(page, 5, "age").click()
    expect(page.get_by_test_id("cell-message")).to_contain_text("Row 5, age: maximum")
    page.select_option("[data-testid=filter-rule]", "enum")
    expect(page.get_by_text("1 row(s) match")).to_be_visible()
    expect(page.locator("[data-testid=error-grid] .ag-row[row-id='5']")).to_have_count(0)
    expect(page.locator("[data-testid=error-grid] .ag-row[row-id='13']").first).to_be_visible()
    page.select_option("[data-testid=filter-rule]", "")
    shots(page, "grid")

    # fix one cell in place: saved as a patch and validated again at once
    edit_cell(page, 5, "age", "50")
    expect(page.get_by_test_id("save-status")).to_contain_text("Row 5 saved: it is valid now.")
    expect(grid_cell(page, 5, "age")).not_to_have_class(_contains("cell-invalid"))
    expect(page.get_by_test_id("grid-summary")).to_contain_text("2 invalid row(s)")
    href = page.get_by_test_id("download-failed").get_attribute("href")
    assert href is not None
    failed = httpx.get(web_server.base + href).text
    assert failed.count("\n") == 3  # header and rows 9 and 13: the fixed row is not failing
    shots(page, "fixed")

    # 7. commit all-or-nothing is refused while rows are invalid: an actionable message
    page.get_by_test_id("on-error-abort").check()
    page.get_by_test_id("commit").click()
    banner = page.get_by_test_id("error-banner")
    expect(banner).to_contain_text("2 row(s) are invalid")
    expect(banner).to_contain_text("fix them in the grid, or commit with “Partial”")
    shots(page, "refused")
    banner.get_by_role("button").click()

    # commit partial: the valid rows (with the fix) are loaded
    page.get_by_test_id("on-error-skip").check()
    page.get_by_test_id("commit").click()
    wait_server_state(web_server.base, "completed")
    summary = page.get_by_test_id("summary")
    expect(summary).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("summary-loaded")).to_have_text("38")
    expect(page.get_by_test_id("summary-skipped")).to_have_text("2")
    link = page.get_by_test_id("resource-link").get_attribute("href")
    assert link is not None
    assert link.startswith("/api/imports/")
    assert httpx.get(web_server.base + link).json()["state"] == "completed"
    shots(page, "committed-partial")
    table = _table(web_server)
    assert len(table) == 38
    assert table[5] == ("user5@example.com", 50, "US")
    assert 9 not in table
    assert 13 not in table

    # a second file, all valid: the remembered mapping applies; commit atomic
    page.get_by_test_id("new-import").click()
    expect(page.locator("#schema-select")).to_have_value("customers")
    rows = [(100 + i, f"new{i}@example.com", 30, "US") for i in range(1, 11)]
    upload(page, write_csv(tmp_path / "more.csv", rows))
    page.get_by_test_id("start-import").click()
    wait_state(page, "validated")
    expect(page.get_by_test_id("mapping-in-use")).to_be_visible()
    expect(page.get_by_test_id("on-error-abort")).to_be_checked()
    page.get_by_test_id("commit").click()
    expect(page.get_by_test_id("summary-loaded")).to_have_text("10", timeout=30_000)
    shots(page, "committed-atomic")
    table = _table(web_server)
    assert len(table) == 48
    assert table[110] == ("new10@example.com", 30, "US")

    # history lists both, and opens one
    page.get_by_role("link", name="History").click()
    history = page.get_by_test_id("history-table")
    expect(history.locator("tbody tr")).to_have_count(2)
    expect(history).to_contain_text("38 loaded")
    # who started each: the test server is in local mode, without a sign-in
    expect(history.get_by_test_id("history-who")).to_have_text(["local server (no sign-in)"] * 2)
    page.select_option("[data-testid=history-state]", "failed")
    expect(history.locator("tbody tr")).to_have_count(0)
    page.select_option("[data-testid=history-state]", "")
    history.locator("tbody tr").last.get_by_role("link").click()
    expect(page.get_by_test_id("detail-state")).to_have_text("completed")
    expect(page.get_by_test_id("detail-who")).to_have_text("local server (no sign-in)")
    expect(page.get_by_test_id("detail-events")).to_contain_text("completed")
    shots(page, "history-detail")
    assert len(shots.taken) >= 10
    assert time.monotonic() - started < 60


def _contains(name: str) -> object:
    import re

    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")
