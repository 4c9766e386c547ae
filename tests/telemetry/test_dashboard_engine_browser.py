"""The dashboard of a real paper-trading engine (`pyengine run`) in headless Chromium: the
page goes live, equity and positions update from the engine, and halt from the page halts
the engine's risk manager. Saves a screenshot as a test artefact."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .test_dashboard_browser import ARTIFACTS, CHROMIUM, FLAGS, TOKEN, poll

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian's chromium is not installed (apt-get install -y chromium)"),
]


@pytest.fixture
def engine_url(tmp_path):
    env = dict(os.environ, PYENGINE_DASHBOARD_TOKEN=TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "pyengine.cli", "run", "--speed", "10", "--no-status",
                             "--state-dir", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            match = re.search(r"dashboard (http://\S+)", line)
            if match:
                yield match.group(1)
                break
            if len(lines) > 50:
                break
        else:
            pytest.fail("engine ended before printing its dashboard address:\n" + "".join(lines))
        if not lines or not re.search(r"dashboard (http://\S+)", lines[-1]):
            pytest.fail("no dashboard address in:\n" + "".join(lines))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_engine_dashboard_updates_live_and_halts(engine_url):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (test extra)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(engine_url)
            page.wait_for_selector("[data-testid=connection]:has-text('live')", timeout=20_000)
            points = lambda name: int(page.get_attribute(f"[data-testid={name}]", "data-points"))  # noqa: E731
            poll(page, lambda: points("equity-chart") > 2, 30, "equity points from the engine")
            before = points("equity-chart")
            poll(page, lambda: points("equity-chart") > before, 30, "the equity curve to grow")
            page.wait_for_selector("[data-testid=position-row]", timeout=60_000)
            assert page.inner_text("[data-testid=risk-state]") == "ACTIVE"
            assert TOKEN not in page.content()

            page.fill("[data-testid=token]", TOKEN)
            page.fill("[data-testid=reason]", "browser test")
            page.click("[data-testid=halt]")
            page.wait_for_selector("[data-testid=risk-state]:has-text('HALTED')", timeout=15_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard-engine.png"), full_page=True)
            page.click("[data-testid=resume]")
            page.wait_for_selector("[data-testid=risk-state]:has-text('ACTIVE')", timeout=15_000)
        finally:
            browser.close()
    assert (ARTIFACTS / "dashboard-engine.png").stat().st_size > 10_000
