"""The dashboard in headless Chromium (Debian's package, driven by Playwright; no browser
download) against the demo paper-trading feed: the page loads, the curves and positions
update live, halt works. Saves a screenshot as a test artefact."""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
TOKEN = "browser-test-token-7f3a9c"
ARTIFACTS = pathlib.Path(os.environ.get("PYENGINE_TEST_ARTIFACTS",
                                        pathlib.Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian's chromium is not installed (apt-get install -y chromium)"),
]


@pytest.fixture
def demo_url():
    env = dict(os.environ, PYENGINE_DASHBOARD_TOKEN=TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "pyengine.cli", "dashboard", "--demo", "--port", "0",
                             "--speed", "40"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.search(r"dashboard: (http://\S+)", line)
        if not match:
            pytest.fail(f"demo did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def poll(page, predicate, timeout_s: float, what: str):
    """Wait for a Python-side condition (the page's CSP forbids eval, so no wait_for_function)."""
    for _ in range(int(timeout_s * 10)):
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(100)
    pytest.fail(f"timed out waiting for {what}")


def test_dashboard_live_updates_and_halt(demo_url):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (test extra)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(demo_url)
            page.wait_for_selector("[data-testid=connection]:has-text('live')", timeout=15_000)

            # the equity / PnL curves grow while we watch
            points = lambda name: int(page.get_attribute(f"[data-testid={name}]", "data-points"))
            poll(page, lambda: points("equity-chart") > 2, 20, "equity points")
            before = points("equity-chart")
            poll(page, lambda: points("equity-chart") > before, 20, "the equity curve to grow")
            assert points("pnl-chart") > 0 and points("price-chart") > 0

            # a position opens and its mark moves live
            page.wait_for_selector("[data-testid=position-row]", timeout=60_000)
            mark = lambda: page.inner_text("[data-testid=position-row] td:nth-child(4)")
            first_mark = mark()
            poll(page, lambda: page.query_selector("[data-testid=position-row]") is None or mark() != first_mark,
                 60, "the position's mark to move")
            assert page.inner_text("[data-testid=risk-state]") == "ACTIVE"
            assert TOKEN not in page.content()

            # halt without the token is refused, with it the engine halts
            page.fill("[data-testid=reason]", "browser test")
            page.click("[data-testid=halt]")
            page.wait_for_selector("[data-testid=action-result]:has-text('halt failed')", timeout=10_000)
            assert page.inner_text("[data-testid=risk-state]") == "ACTIVE"
            page.fill("[data-testid=token]", TOKEN)
            page.click("[data-testid=halt]")
            page.wait_for_selector("[data-testid=risk-state]:has-text('HALTED')", timeout=10_000)
            assert page.inner_text("[data-testid=action-result]") == "halted: browser test"
            page.wait_for_selector("[data-testid=alerts] li:has-text('Trading HALTED')", timeout=10_000)
            page.wait_for_selector("[data-testid=orders] td:has-text('none')", timeout=10_000)  # stop cancelled
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            page.click("[data-testid=resume]")
            page.wait_for_selector("[data-testid=risk-state]:has-text('ACTIVE')", timeout=10_000)
            # the only failed request is the deliberately refused halt
            assert errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
        finally:
            browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
