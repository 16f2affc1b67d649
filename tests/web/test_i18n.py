"""The page in 简体中文: chosen from the browser's language, every string translated, switchable."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.conftest import (
    PageFactory,
    Shots,
    WebServer,
    customers_with_errors,
    english_values,
    write_csv,
)
from tests.web.flow import open_page, upload, wait_state

ZH_VALUES = Path(__file__).resolve().parents[2] / "src/loadbay/web/src/locales/zh-CN.ts"


def _english_fragments() -> set[str]:
    """Pieces of English catalogue text that would show if a string were left untranslated:
    the text around the {parameters}, at least two words long, and not also in zh-CN."""
    zh = ZH_VALUES.read_text()
    fragments = set()
    for value in english_values().values():
        for piece in re.split(r"\{\w+\}", value):
            piece = piece.strip(" .,:;()·—–-…")
            if len(piece.split()) >= 2 and piece not in zh:
                fragments.add(piece)
    return fragments


def _assert_translated(page: Page, fragments: set[str]) -> None:
    assert page.evaluate("window.__loadbayMissingKeys ?? []") == []
    text = page.locator("body").inner_text()
    untranslated = sorted(f for f in fragments if f in text)
    assert not untranslated, f"English text on the zh-CN page: {untranslated}"


def test_chinese_locale_has_no_untranslated_strings(
    web_server: WebServer, new_page: PageFactory, shots: Shots, tmp_path: Path
) -> None:
    fragments = _english_fragments()
    assert len(fragments) > 100
    page = new_page(locale="zh-CN")
    open_page(page, web_server.base)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("link", name="新建导入")).to_be_visible()
    page.select_option("#schema-select", "customers")
    _assert_translated(page, fragments)
    shots(page, "zh-schema")

    # Uppy's own strings come from its zh_CN locale.
    expect(page.locator(".uppy-Dashboard")).to_contain_text("将文件拖拽到这里")
    upload(page, write_csv(tmp_path / "c.csv", customers_with_errors(20)))
    _assert_translated(page, fragments)
    page.get_by_test_id("start-import").click()
    wait_state(page, "等待映射")
    _assert_translated(page, fragments)
    shots(page, "zh-mapping")
    page.select_option("#map-id", "Customer No")
    page.select_option("#map-email", "Mail address")
    page.get_by_test_id("confirm-mapping").click()
    wait_state(page, "已校验")
    expect(page.get_by_test_id("error-grid").locator(".ag-row").first).to_be_visible()
    _assert_translated(page, fragments)
    shots(page, "zh-grid")

    page.get_by_role("link", name="导入历史").click()
    expect(page.get_by_test_id("history-table")).to_contain_text("已校验")
    _assert_translated(page, fragments)
    shots(page, "zh-history")

    # Switch to English: the choice is kept over a reload.
    page.get_by_test_id("language").select_option("en")
    expect(page.get_by_role("link", name="History")).to_be_visible()
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Import history")).to_be_visible()
    # (the scan would have found untranslated text: the English page is full of it)
    assert any(f in page.locator("body").inner_text() for f in fragments)
