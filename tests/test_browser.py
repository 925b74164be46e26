"""The served app in a real Chromium: what a panel member sees when they open the link."""

from __future__ import annotations

import pytest

from tests.conftest import BAD_SUBMISSION, run_cli

pytestmark = pytest.mark.browser

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def test_the_overview_opens_in_chromium_with_the_sample(served_app, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # A deep link as the first visit of a fresh server: must run through the entrypoint (see dashboard/server.py).
    page.goto(f"{served_app.url}/overview")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.get_by_text("CAR-T therapy in England").wait_for()
    assert page.get_by_text("Synthetic data: invented centres").is_visible()
    infusions = page.locator("[data-testid='stMetric']", has_text="Infusions")
    assert "3,000" in infusions.inner_text()
    page.locator(".st-key-volume_chart .js-plotly-plot").wait_for(timeout=30_000)
    page.screenshot(path=tmp_path / "overview.png", full_page=True)


def test_the_data_quality_page_shows_held_rows_and_offers_them_for_download(served_app, browser, tmp_path):
    assert run_cli("ingest", str(BAD_SUBMISSION), "--database-url", served_app.database_url).returncode == 1
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(f"{served_app.url}/data-quality")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.get_by_text("Day-30 follow-up under the threshold: Don Valley Royal Hospital (NEY04)").wait_for()
    assert "19" in page.locator("[data-testid='stMetric']", has_text="Rows held in quarantine").inner_text()
    with page.expect_download() as download:
        page.locator(".st-key-quarantine_download button").click()
    saved = tmp_path / "quarantine.csv"
    download.value.save_as(saved)
    assert saved.read_text(encoding="utf-8-sig").count("\n") == 20  # header and 19 held rows
    page.screenshot(path=tmp_path / "data-quality.png", full_page=True)
