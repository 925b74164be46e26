"""The served app in a real Chromium: what a panel member sees when they open the link."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def test_the_overview_opens_in_chromium_with_the_sample(served_app, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # A deep link as the first visit of a fresh server: must run through the entrypoint (see dashboard/server.py).
    page.goto(f"{served_app}/overview")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.get_by_text("CAR-T therapy in England").wait_for()
    assert page.get_by_text("Synthetic data: invented centres").is_visible()
    infusions = page.locator("[data-testid='stMetric']", has_text="Infusions")
    assert "3,000" in infusions.inner_text()
    page.locator(".st-key-volume_chart .js-plotly-plot").wait_for(timeout=30_000)
    page.screenshot(path=tmp_path / "overview.png", full_page=True)
