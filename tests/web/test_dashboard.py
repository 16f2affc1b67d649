"""The dashboard (#/dashboard) in Chromium: after a scripted mix of requests the tiles show
what GET /api/stats answered, the uPlot charts are drawn, polling stops when the view is
left or the tab hidden, the view is reachable with the keyboard, and it reads in 简体中文."""

from __future__ import annotations

import time
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from playwright.sync_api import Page, Response, expect

from tests.web.conftest import PageFactory, Shots, WebServer
from tests.web.test_i18n import _assert_translated, _english_fragments

WINDOWS = ("1m", "5m", "15m")
RECORDS = [
    {"id": 1, "email": "a@example.com", "age": 30, "country": "FR"},
    {"id": 2, "email": "b@example.com", "age": 41, "country": "DE"},
    {"id": 3, "email": "c@example.com", "age": 52, "country": "US"},
]


def _traffic(base: str) -> None:
    """200s, two 404s, a 422 and an inline import of three rows (201). The import is the
    server's first: it loads the data path (polars, the validation engine), which takes
    seconds on a loaded CI machine."""
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(5):
            assert client.get("/api/schemas").status_code == 200
        for _ in range(2):
            assert client.get(f"/api/imports/{uuid.uuid4()}").status_code == 404
        assert client.get("/api/imports/not-a-uuid").status_code == 422
        created = client.post("/api/imports", json={"schema": "customers", "records": RECORDS})
        assert created.status_code == 201, created.text
        assert created.json()["state"] == "completed"


# The page's number formats (src/lib/dashboard.ts) for the English locale: Intl rounds the
# shortest decimal form half up and drops trailing zeros.
def _number(value: float | Decimal, digits: int) -> str:
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    text = f"{exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{_number(value, 2 if value < 1 else 1 if value < 100 else 0)} ms"


def _share(value: float) -> str:
    return f"{_number(Decimal(repr(value)) * 100, 2)}%"


def _qps(value: float) -> str:
    return _number(value, 2 if value < 10 else 1 if value < 1000 else 0)


def _expected_tiles(stats: dict[str, Any]) -> dict[str, str]:
    tiles = {}
    for name in WINDOWS:
        window = stats["windows"][name]
        tiles |= {
            f"p50-{name}": _ms(window["p50"]),
            f"p90-{name}": _ms(window["p90"]),
            f"p99-{name}": _ms(window["p99"]),
            f"qps-{name}": _qps(window["qps"]),
            f"errors4xx-{name}": _share(window["error_rate_4xx"]),
            f"errors5xx-{name}": _share(window["error_rate_5xx"]),
            f"rows-{name}": f"{window['rows_imported']:,}",
        }
    return tiles


def _shown_tiles(page: Page, keys: list[str]) -> dict[str, str]:
    return {key: page.get_by_test_id(f"tile-{key}").inner_text() for key in keys}


class StatsSeen:
    """The /api/stats answers the page received, newest last, and how many it asked for."""

    def __init__(self, page: Page) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        page.on("request", self._on_request)
        page.on("response", self._on_response)

    def _on_request(self, request: Any) -> None:
        if request.url.endswith("/api/stats"):
            self.requests += 1

    def _on_response(self, response: Response) -> None:
        if response.url.endswith("/api/stats") and response.ok:
            self.bodies.append(response.json())


def _tiles_match_the_last_answer(page: Page, seen: StatsSeen, timeout: float = 15) -> None:
    """The tiles show the last answer the page got (a poll may land while they are read)."""
    deadline = time.monotonic() + timeout
    while True:
        # Playwright hands the response event over while the test waits (below), which can
        # be after the tiles already show the answer.
        if seen.bodies:
            expected = _expected_tiles(seen.bodies[-1])
            shown = _shown_tiles(page, list(expected))
            if shown == expected:
                return
        if time.monotonic() > deadline:
            assert seen.bodies, "the page has not fetched /api/stats"
            assert shown == expected
        page.wait_for_timeout(200)


def _set_hidden(page: Page, hidden: bool) -> None:
    page.evaluate(
        """(hidden) => {
            Object.defineProperty(document, 'visibilityState', {
                configurable: true, get: () => (hidden ? 'hidden' : 'visible') })
            document.dispatchEvent(new Event('visibilitychange'))
        }""",
        hidden,
    )


def test_dashboard_shows_the_stats_and_charts(
    web_server: WebServer, new_page: PageFactory, shots: Shots
) -> None:
    _traffic(web_server.base)
    page: Page = new_page()  # type: ignore[assignment]
    seen = StatsSeen(page)
    page.goto(web_server.base + "/")
    expect(page.locator("#schema-select")).to_be_visible()

    # Keyboard: Tab to the nav entry, Enter opens the view.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.getAttribute('href')") == "#/dashboard":
            break
    else:
        raise AssertionError("the Dashboard link is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{web_server.base}/#/dashboard")
    expect(page.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_test_id("dashboard-tiles")).to_be_visible()

    # The tiles: the page's own numbers are the API's.
    _tiles_match_the_last_answer(page, seen)
    last = seen.bodies[-1]["windows"]["1m"]
    # the scripted 404s and 422 (and no 5xx) are in the last minute's shares
    assert last["error_rate_4xx"] > 0
    assert last["error_rate_5xx"] == 0
    assert page.get_by_test_id("tile-errors4xx-1m").inner_text() != "0%"
    # Rows imported are read from the store: a fresh read by the test agrees with the page.
    fetched = httpx.get(web_server.base + "/api/stats", timeout=10).json()
    for name in WINDOWS:
        assert fetched["windows"][name]["rows_imported"] == 3
        expect(page.get_by_test_id(f"tile-rows-{name}")).to_have_text("3")
        expect(page.get_by_test_id(f"tile-imports-{name}")).to_have_text("Imports completed: 1")
    assert fetched["windows"]["15m"]["requests"] >= seen.bodies[-1]["windows"]["15m"]["requests"]
    expect(page.get_by_test_id("dashboard-empty")).to_have_count(0)
    expect(page.get_by_test_id("dashboard-status")).to_contain_text("Updated at")

    # The charts: one uPlot canvas each, with their series in the legend.
    for chart in ("latency", "qps", "errors"):
        plot = page.get_by_test_id(f"chart-{chart}-plot")
        expect(plot.locator("canvas")).to_have_count(1)
        assert plot.locator("canvas").bounding_box()["width"] > 200  # type: ignore[index]
    legend = page.get_by_test_id("chart-latency-plot").locator(".u-legend")
    for label in ("p50", "p90", "p99"):
        expect(legend).to_contain_text(label)
    expect(page.get_by_test_id("chart-errors-plot").locator(".u-legend")).to_contain_text(
        "5xx share"
    )
    # Once a 10-second bucket is complete, the series reaches the charts.
    deadline = time.monotonic() + 30
    while not any(p["requests"] for p in seen.bodies[-1]["series"]["points"]):
        assert time.monotonic() < deadline, "no complete bucket with requests in the series"
        page.wait_for_timeout(500)
    _tiles_match_the_last_answer(page, seen)
    shots(page, "dashboard")

    # Polling: every few seconds while visible, never while hidden, and not after leaving.
    asked = seen.requests
    page.wait_for_timeout(5_600)
    assert seen.requests > asked
    _set_hidden(page, True)
    page.wait_for_timeout(300)
    asked = seen.requests
    page.wait_for_timeout(6_000)
    assert seen.requests == asked, "polled while the tab was hidden"
    with page.expect_request("**/api/stats"):
        _set_hidden(page, False)  # shown again: fetched at once
    page.get_by_role("link", name="History").click()
    expect(page.get_by_test_id("history-table")).to_be_visible()
    page.wait_for_timeout(300)
    asked = seen.requests
    page.wait_for_timeout(6_000)
    assert seen.requests == asked, "polled after the view was left"


def test_dashboard_in_chinese(web_server: WebServer, new_page: PageFactory, shots: Shots) -> None:
    _traffic(web_server.base)
    fragments = _english_fragments()
    page: Page = new_page(locale="zh-CN")  # type: ignore[assignment]
    page.goto(web_server.base + "/#/dashboard")
    expect(page.get_by_role("link", name="仪表盘")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="仪表盘", level=1)).to_be_visible()
    tiles = page.get_by_test_id("dashboard-tiles")
    labels = ("延迟 p50", "延迟 p99", "每秒请求数", "客户端错误（4xx）", "导入行数", "最近 1 分钟")
    for label in labels:
        expect(tiles).to_contain_text(label)
    expect(page.get_by_test_id("tile-imports-15m")).to_have_text("完成的导入：1")
    expect(page.get_by_test_id("tile-p50-1m")).to_contain_text("毫秒")
    expect(page.get_by_test_id("chart-latency")).to_contain_text("延迟（毫秒）")
    legend = page.get_by_test_id("chart-errors-plot").locator(".u-legend")
    expect(legend).to_contain_text("5xx 占比")
    expect(page.get_by_test_id("dashboard-status")).to_contain_text("更新于")
    _assert_translated(page, fragments)
    shots(page, "dashboard-zh")
