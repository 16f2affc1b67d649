"""Steps through the page shared by the browser tests (Playwright's sync API)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

Shot = Any  # conftest.Shots


def open_page(page: Page, base: str) -> None:
    page.goto(base + "/")
    expect(page.locator("#schema-select")).to_be_visible()


def upload(page: Page, path: Path) -> None:
    page.locator(".uppy-Dashboard-input").first.set_input_files(str(path))
    expect(page.get_by_test_id("sha256")).to_have_text(_hex64(), timeout=60_000)


def _hex64() -> Any:
    import re

    return re.compile(r"^[0-9a-f]{64}$")


def map_columns(page: Page) -> None:
    """The headers do not match the schema: map the two required fields by hand."""
    expect(page.get_by_test_id("mapping-blocker")).to_contain_text("id, email")
    page.select_option("#map-id", "Customer No")
    page.select_option("#map-email", "Mail address")
    expect(page.get_by_test_id("mapping-blocker")).to_have_count(0)
    page.get_by_test_id("confirm-mapping").click()


def wait_state(page: Page, state: str, timeout: float = 30_000) -> None:
    expect(page.get_by_test_id("import-state")).to_contain_text(state, timeout=timeout)


def wait_server_state(base: str, state: str, timeout: float = 60.0) -> None:
    """Wait until the newest import is in ``state`` on the server, whatever the page shows:
    a failure then says whether the job or the page fell behind."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = httpx.get(f"{base}/api/imports?limit=1", timeout=10).json()["items"][0]
        if seen["state"] == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"the import is not {state} on the server after {timeout} s: {seen}")


def grid_cell(page: Page, row: int, field: str) -> Any:
    return page.locator(
        f"[data-testid=error-grid] .ag-row[row-id='{row}'] .ag-cell[col-id='{field}']"
    )


def edit_cell(page: Page, row: int, field: str, value: str) -> None:
    cell = grid_cell(page, row, field)
    cell.dblclick()
    editor = page.locator("[data-testid=error-grid] .ag-cell-inline-editing input")
    editor.fill(value)
    editor.press("Enter")
