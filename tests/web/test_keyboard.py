"""The whole flow with the keyboard only, at a phone's width: labelled controls, visible focus."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import FileChooser, Page, expect

from tests.web.conftest import PageFactory, Shots, WebServer, customers_with_errors, write_csv
from tests.web.flow import wait_state

MAX_TABS = 80


def _active(page: Page, selector: str) -> bool:
    return bool(page.evaluate("(s) => !!document.activeElement?.matches(s)", selector))


def tab_to(page: Page, selector: str) -> None:
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if _active(page, selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def choose(page: Page, selector: str, value: str) -> None:
    """Pick an option of the focused <select> with the arrow keys."""
    tab_to(page, selector)
    for _ in range(20):
        if page.locator(selector).input_value() == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{value!r} not reached in {selector}")


def focus_is_visible(page: Page) -> bool:
    style = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth, s.boxShadow] }"
    )
    return style[0] != "none" and style[1] != "0px"


def _grid_position(page: Page) -> tuple[str | None, str | None]:
    found = page.evaluate(
        "() => { const e = document.activeElement;"
        " return [e?.closest('.ag-row')?.getAttribute('row-id') ?? null,"
        " e?.closest('.ag-cell')?.getAttribute('col-id') ?? e?.getAttribute('col-id') ?? null] }"
    )
    return found[0], found[1]


def test_keyboard_only_flow_at_390px(
    web_server: WebServer, new_page: PageFactory, shots: Shots, tmp_path: Path
) -> None:
    csv = write_csv(tmp_path / "k.csv", customers_with_errors(20))
    page = new_page(width=390, height=844)
    # Listen before anything: Playwright turns on file-chooser interception asynchronously.
    choosers: list[FileChooser] = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    page.goto(web_server.base + "/")
    expect(page.locator("#schema-select")).to_be_visible()
    page.keyboard.press("Tab")
    assert _active(page, ".skip-link")
    assert focus_is_visible(page)

    choose(page, "#schema-select", "customers")
    expect(page.get_by_test_id("schema-details")).to_be_visible()
    # Uppy's "browse files" is a button: Enter opens the file chooser.
    tab_to(page, ".uppy-Dashboard-browse")
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    for _ in range(100):
        if choosers:
            break
        page.wait_for_timeout(100)
    assert choosers, "Enter on 'browse files' opened no file chooser"
    choosers[0].set_files(str(csv))
    expect(page.get_by_test_id("sha256")).to_be_visible(timeout=30_000)
    tab_to(page, "[data-testid=start-import]")
    assert focus_is_visible(page)
    page.keyboard.press("Enter")

    wait_state(page, "awaiting mapping")
    choose(page, "#map-id", "Customer No")
    choose(page, "#map-email", "Mail address")
    tab_to(page, "[data-testid=confirm-mapping]")
    page.keyboard.press("Enter")
    wait_state(page, "validated")
    shots(page, "keyboard-validated-390")

    # Into the grid, to row 5's age with the arrows; Enter edits, Enter saves.
    tab_to(
        page,
        "[data-testid=error-grid] [role=gridcell], [data-testid=error-grid] [role=columnheader]",
    )
    for _ in range(30):
        row, column = _grid_position(page)
        if row == "5" and column == "age":
            break
        page.keyboard.press("ArrowDown" if row != "5" else "ArrowRight")
    else:
        raise AssertionError("the arrows never reached row 5, age")
    expect(page.get_by_test_id("cell-message")).to_contain_text("Row 5, age: maximum")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+a")
    page.keyboard.type("44")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("save-status")).to_contain_text("Row 5 saved: it is valid now.")
    shots(page, "keyboard-fixed-390")

    # Partial is preselected while rows are invalid; Tab reaches the commit button.
    tab_to(page, "[data-testid=commit]")
    expect(page.get_by_test_id("on-error-skip")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("summary-loaded")).to_have_text("18", timeout=30_000)
    shots(page, "keyboard-committed-390")
    # Responsive: nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    tab_to(page, "header a[href='#/history']")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("history-table").locator("tbody tr")).to_have_count(1)
    shots(page, "keyboard-history-390")
