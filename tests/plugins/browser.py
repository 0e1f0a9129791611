"""A real browser for the dashboard's tests: Debian's Chromium, headless, driven by
Playwright (its Python package, with the system browser: never `playwright install`).

Registered in tests/conftest.py. A test that uses ``browser`` or ``page`` is marked
``browser``. Without a browser those tests skip saying how to get one
(scripts/ensure-browser), except under CI, where they fail.

One browser for the whole session; each test gets a fresh context (its own cookies),
1280×800 by default, where every request to anything but loopback is aborted and
recorded (``page.blocked``): the dashboard and the docs must work offline. Screenshots
go to the artifacts directory (``HOSTD_TEST_ARTIFACTS``, else ``<basetemp>/artifacts``),
named at the end of the run.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("HOSTD_TEST_CHROMIUM", "/usr/bin/chromium")
# What this machine's Chromium needs to start (and stay off the closed network).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
BROWSER_FIXTURES = frozenset({"browser", "page"})
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
UHD = {"width": 3840, "height": 2160}  # a 4K screen: the text grows with it
ARTIFACTS: list[Path] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


def _unavailable(why: str) -> None:
    hint = ("run scripts/ensure-browser (root on Debian: chromium, chromium-driver) and "
            "pip install -e '.[dev]' (playwright)")
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but no browser works ({why}); {hint}")
    pytest.skip(f"no browser ({why}): {hint}")


# Per module, not per session: Playwright's sync API keeps an event loop running in the
# main thread while it is open, and a later test's asyncio.run() would then fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright: {exc}")
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing")
    with sync_playwright() as playwright:
        try:
            # Playwright gives every launch a new empty --user-data-dir of its own.
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                  args=CHROMIUM_ARGS)
        except Error as exc:
            _unavailable(f"Chromium did not start: {str(exc)[:300]}")
        yield chromium
        chromium.close()


def is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_problem(message: Any) -> bool:
    """A console error, but an API's 4xx answer (the pages expect 401s and 404s)."""
    return message.type == "error" and not message.text.startswith(
        "Failed to load resource: the server responded with a status of 4")


def open_page(browser: Any) -> Any:
    """A page in a context of its own; `page.blocked` lists aborted non-loopback URLs,
    `page.problems` the console errors and page errors (a CSP violation is one; an
    API's 4xx answer is not). Close it with `page.context.close()`."""
    context = browser.new_context(viewport=DESKTOP)
    # Generous: on a 2-core CI machine the engine's tests run beside these.
    context.set_default_timeout(30_000)
    blocked: list[str] = []
    problems: list[str] = []

    def guard(route: Any) -> None:
        if is_loopback_url(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    tab = context.new_page()
    tab.on("console", lambda m: problems.append(m.text) if is_problem(m) else None)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    tab.blocked, tab.problems = blocked, problems
    return tab


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = open_page(browser)
    yield tab
    tab.context.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("HOSTD_TEST_ARTIFACTS")
    folder = Path(configured) if configured else tmp_path_factory.getbasetemp() / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshots(page: Any, folder: Path, name: str, *, scales_text: bool = True,
                full_page: bool = True) -> list[Path]:
    """The page at 1280×800, 360×740 and 3840×2160 (full page), each saved and checked not
    blank; at 4K the text must be larger than at 1280 (readable from where a 4K screen is
    watched; not for the vendored docs pages: `scales_text`, and only their viewport:
    `full_page`, since every operation unfolded is a page metres long). The viewport is
    1280×800 again afterwards."""
    saved = []
    text_px: dict[str, float] = {}
    for label, size in (("1280x800", DESKTOP), ("360x740", PHONE), ("3840x2160", UHD)):
        page.set_viewport_size(size)
        page.wait_for_timeout(100)  # a layout pass at the new width
        path = folder / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=full_page)
        ARTIFACTS.append(path)
        assert_not_blank(page, path)
        if size is PHONE:  # nothing wider than a phone: no sideways scrolling
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{name} is {width}px wide at 360px"
        text_px[label] = float(page.evaluate(
            "parseFloat(getComputedStyle(document.documentElement).fontSize)"))
        saved.append(path)
    if scales_text:
        assert text_px["3840x2160"] >= 1.4 * text_px["1280x800"], f"{name}'s text: {text_px}"
    page.set_viewport_size(DESKTOP)
    return saved


def assert_not_blank(page: Any, path: Path) -> None:
    """Decoded by the browser itself (a canvas in a blank page): more than a few colours,
    and more than 1% of the pixels not the background's."""
    data = base64.b64encode(path.read_bytes()).decode()
    probe = page.context.new_page()
    try:
        stats = probe.evaluate("""async (data) => {
            const img = new Image();
            img.src = `data:image/png;base64,${data}`;
            await img.decode();
            const canvas = document.createElement("canvas");
            canvas.width = img.width; canvas.height = img.height;
            const ctx = canvas.getContext("2d");
            ctx.drawImage(img, 0, 0);
            const px = ctx.getImageData(0, 0, img.width, img.height).data;
            const colours = new Set();
            let other = 0;
            for (let i = 0; i < px.length; i += 4 * 7) {
                const c = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
                colours.add(c);
                if (c !== ((px[0] << 16) | (px[1] << 8) | px[2])) other++;
            }
            return { colours: colours.size, share: other / (px.length / 28) };
        }""", data)
    finally:
        probe.close()
    assert stats["colours"] > 8 and stats["share"] > 0.01, f"{path.name} looks blank: {stats}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ARTIFACTS:
        terminalreporter.write_line(
            f"browser screenshots ({len(ARTIFACTS)}): {ARTIFACTS[0].parent}")
