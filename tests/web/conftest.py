"""Browser tests: Playwright (Python) driving Debian's Chromium against a real server.

The server is `python -m loadbay serve` in a subprocess (tests/e2e's ServerProcess) on a free
port, with its own SQLite stores and upload directory under the test's tmp dir, and a
`customers` schema loaded from a file. Chromium is launched by its path (`make chromium`
installs it; nothing is downloaded), with the flags that keep it off the network.
Outside CI a missing Chromium or an unbuilt page skips these tests; under CI=true it fails
them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loadbay.web.serve import DIST
from tests.conftest import IN_CI
from tests.e2e.conftest import ServerProcess, server_env

CHROMIUM = Path(os.environ.get("LOADBAY_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WEB = Path(__file__).resolve().parents[2] / "src" / "loadbay" / "web"

CUSTOMERS_YAML = """\
name: customers
title: Customers
description: People who bought something
fields:
  - name: id
    type: integer
    constraints: {required: true, minimum: 1}
  - name: email
    type: string
    format: email
    constraints: {required: true}
  - name: age
    type: integer
    constraints: {minimum: 0, maximum: 120}
  - name: country
    type: string
    constraints: {enum: [FR, DE, US]}
primaryKey: id
"""
# Headers that do not match the schema's names: the import waits for a person's mapping.
HEADER = "Customer No,Mail address,Age,Country"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: run `make chromium`")
    if not (DIST / "index.html").is_file():
        _unavailable("the page is not built: run `make build-web`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class WebServer:
    def __init__(self, process: ServerProcess, data_dir: Path) -> None:
        self.process = process
        self.base = process.base
        self.data_dir = data_dir

    @property
    def target(self) -> Path:
        return self.data_dir / "data.sqlite"


@pytest.fixture
def web_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WebServer]:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "customers.yaml").write_text(CUSTOMERS_YAML)
    data_dir = tmp_path / "var"
    env = server_env(
        data_dir,
        LOADBAY_SCHEMAS_DIR=str(schemas),
        LOADBAY_PROGRESS_INTERVAL="0.2",
        LOADBAY_EVENTS_POLL_INTERVAL="0.1",
    )
    process = ServerProcess(env, tmp_path / "server.log")
    process.start()
    yield WebServer(process, data_dir)
    process.stop()
    process.show_log_if_failed(request)


class Shots:
    """Screenshots of each step, kept under the test's tmp dir for review."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, page: object, name: str) -> Path:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        self.taken.append(path)
        return path


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path / "screenshots")


PageFactory = Callable[..., object]


@pytest.fixture
def new_page(browser: object) -> Iterator[PageFactory]:
    """Pages in fresh contexts; uncaught page errors fail the test."""
    contexts: list[object] = []
    errors: list[str] = []

    def make(locale: str = "en-US", width: int = 1280, height: int = 900) -> object:
        context = browser.new_context(  # type: ignore[attr-defined]
            locale=locale, viewport={"width": width, "height": height}, accept_downloads=True
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()  # type: ignore[attr-defined]
    assert not errors, f"uncaught errors in the page: {errors}"


def write_csv(path: Path, rows: list[tuple[object, ...]]) -> Path:
    lines = [HEADER, *(",".join(str(v) for v in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def customers_with_errors(count: int = 40) -> list[tuple[object, ...]]:
    """Rows 1..count; row 5 has age 130, row 9 a broken email, row 13 country XX."""
    rows: list[tuple[object, ...]] = []
    for i in range(1, count + 1):
        email = "broken@" if i == 9 else f"user{i}@example.com"
        age = 130 if i == 5 else 20 + i % 50
        country = "XX" if i == 13 else ("FR", "DE", "US")[i % 3]
        rows.append((i, email, age, country))
    return rows


def english_values() -> dict[str, str]:
    """The English catalogue (src/loadbay/web/src/locales/en.ts), key -> text."""
    text = (WEB / "src" / "locales" / "en.ts").read_text()
    return dict(re.findall(r"^\s+'([\w.]+)': '((?:[^'\\]|\\.)*)',$", text, flags=re.M))
