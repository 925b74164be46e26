"""The served app in a real Chromium: what a panel member sees, clicks and shares."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BAD_SUBMISSION, IDLE, NATIONAL, PAGE_PATHS, PROJECT_ROOT, missing, run_cli

pytestmark = pytest.mark.browser

SCREENSHOTS = PROJECT_ROOT / "var" / "artifacts" / "screenshots"
AXE = PROJECT_ROOT / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"


def open_page(browser, url: str, height: int = 1000, headers: dict | None = None):
    """A new browser context (no cookies, no state: like a colleague opening a link) at url, once idle."""
    page = browser.new_context(viewport={"width": 1400, "height": height}, extra_http_headers=headers).new_page()
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=60_000)
    return page


def wait_idle(page) -> None:
    page.wait_for_timeout(300)  # let a rerun start before waiting for it to end
    page.wait_for_selector(IDLE, timeout=60_000)


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_every_page_loads_without_error_and_passes_an_accessibility_audit(served_sample, browser, path):
    page = open_page(browser, f"{served_sample.url}/{path}", height=2400)
    page.locator("h1").first.wait_for()
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[role='dialog']").count() == 0  # no "page not found"
    assert page.get_by_text("Synthetic data: invented centres").is_visible()
    # Every chart drawn before the picture is taken.
    page.wait_for_function("document.querySelectorAll('.stPlotlyChart').length === "
                           "document.querySelectorAll('.stPlotlyChart .js-plotly-plot .plot-container').length",
                           timeout=30_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{path}.png", full_page=True)
    if not AXE.exists():
        missing("axe-core is not installed (make test installs it from the npm registry)")
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [(v["id"], v["impact"], v["nodes"][0]["target"]) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == []


def test_a_shared_url_shows_the_same_figures_as_the_cli(served_sample, browser):
    query = "start=2024-01-01&end=2024-12-31&product=axi-cel&age=adults"
    page = open_page(browser, f"{served_sample.url}/overview?{query}")
    shown = page.locator("[data-testid='stMetric']", has_text="ICANS, grade 3 or more")
    value = shown.locator("[data-testid='stMetricValue']").inner_text()
    result = run_cli("metrics", "--metric", "icans_severe", "--adjust", "crude", "--start", "2024-01-01", "--end",
                     "2024-12-31", "--product", "axi-cel", "--age", "adults", "--format", "json",
                     "--database-url", served_sample.database_url)
    (row,) = json.loads(result.stdout)["rows"]
    assert value == f"{row['rate']:.1%}"
    infusions = page.locator("[data-testid='stMetric']", has_text="Infusions").locator(
        "[data-testid='stMetricValue']").inner_text()
    every_infusion = run_cli("metrics", "--metric", "ta_outside", "--start", "2024-01-01", "--end", "2024-12-31",
                             "--product", "axi-cel", "--age", "adults", "--format", "json",
                             "--database-url", served_sample.database_url)
    assert infusions == f"{json.loads(every_infusion.stdout)['rows'][0]['denominator']:,}"


def test_the_outlier_on_the_funnel_drills_down_to_its_centre_and_the_link_is_shareable(served_sample, browser):
    page = open_page(browser, f"{served_sample.url}/toxicity?metric=icans_severe&product=axi-cel")
    outlier = page.locator(".st-key-funnel .scatterlayer .trace").filter(
        has=page.locator("text", has_text="MID02")).locator("path.point").first
    outlier.wait_for()
    assert page.locator(".st-key-funnel .legend").get_by_text("above_99.8").count() == 1
    box = outlier.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("location.pathname.endsWith('/centres')", timeout=30_000)
    wait_idle(page)
    assert "centre=MID02" in page.url and "product=axi-cel" in page.url  # the filter is kept
    page.get_by_role("heading", name="Trentside University Hospitals (MID02)").wait_for()

    page.get_by_text("Share this view").click()
    link = page.locator("[data-testid='stCode'] code").inner_text().strip()
    assert link.endswith("/centres?centre=MID02&product=axi-cel")
    colleague = open_page(browser, link)
    colleague.get_by_role("heading", name="Trentside University Hospitals (MID02)").wait_for()
    # The colleague's sidebar holds the same product filter (waited for: the widgets draw after the page).
    colleague.locator("[data-testid='stMultiSelect']", has_text="Product").get_by_text("axi-cel").wait_for()


def test_filters_survive_page_changes(served_sample, browser):
    page = open_page(browser, f"{served_sample.url}/overview?product=tisa-cel&age=children")
    page.get_by_role("link", name="Toxicity").click()
    page.wait_for_function("location.pathname.endsWith('/toxicity')")
    wait_idle(page)
    assert "product=tisa-cel" in page.url and "age=children" in page.url
    page.locator("[data-testid='stMultiSelect']", has_text="Product").get_by_text("tisa-cel").wait_for()


def test_the_data_quality_page_shows_held_rows_and_offers_them_for_download(served_app, browser, tmp_path):
    assert run_cli("ingest", str(BAD_SUBMISSION), "--database-url", served_app.database_url).returncode == 1
    page = open_page(browser, f"{served_app.url}/data-quality", height=2400, headers=NATIONAL)
    page.get_by_text("Day-30 follow-up under the threshold: Don Valley Royal Hospital (NEY04)").wait_for()
    assert "19" in page.locator("[data-testid='stMetric']", has_text="Rows held in quarantine").inner_text()
    with page.expect_download() as download:
        page.locator(".st-key-quarantine_download button").first.click()
    saved = tmp_path / "quarantine.csv"
    download.value.save_as(saved)
    assert saved.read_text(encoding="utf-8-sig").count("\n") == 20  # header and 19 held rows
