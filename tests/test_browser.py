"""The served app in a real Chromium: what a panel member sees, clicks and shares."""

from __future__ import annotations

import json

import pytest

from bench import first_paint
from testkit.browser import IDLE
from testkit.pages import PAGE_PATHS
from tests.conftest import BAD_SUBMISSION, NATIONAL, PROJECT_ROOT, missing, run_cli

pytestmark = pytest.mark.browser

SCREENSHOTS = PROJECT_ROOT / "var" / "artifacts" / "screenshots"
AXE = PROJECT_ROOT / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = ((1440, 900), (1280, 720), (390, 844))  # a desktop, a laptop, a phone


def open_page(browser, url: str, height: int = 1000, headers: dict | None = None):
    """A new browser context (no cookies, no state: like a colleague opening a link) at url, once idle."""
    page = browser.new_context(viewport={"width": 1400, "height": height}, extra_http_headers=headers).new_page()
    page.goto(url)
    # Idle before the first run has begun, and again between the runs a first load makes: settled once the page
    # has drawn its heading and a moment later is idle (a click mid-run can lose the widgets' state).
    page.wait_for_selector(IDLE, timeout=60_000)
    page.locator("h1").first.wait_for(timeout=60_000)
    wait_idle(page)
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
    if path != "data-quality":  # by extract date, not by infusion period
        assert page.get_by_text("Period: infusions from").first.is_visible()  # every page states its period
    # Every chart drawn before the picture is taken (every page of figures has one, but Centres before one is
    # picked; cases and meetings are lists).
    least = 0 if path in ("centres", "cases", "meetings") else 1
    page.wait_for_function(
        f"document.querySelectorAll('.stPlotlyChart').length >= {least} && "
        "document.querySelectorAll('.stPlotlyChart').length === "
        "document.querySelectorAll('.stPlotlyChart .js-plotly-plot .plot-container').length",
        timeout=30_000,
    )
    # Every chart has an accessible name in words (a screen reader announces a figure, not "graphics"), and
    # every chart has a table of its figures on the page.
    names = page.evaluate(
        """() => [...document.querySelectorAll('.stPlotlyChart')]
            .map(e => [e.getAttribute('role'), e.getAttribute('aria-label') || ''])"""
    )
    assert len(names) >= least
    for role, name in names:
        assert role == "figure" and len(name.split()) >= 4, (role, name)
        assert not any(raw in name for raw in ("_", "product_mix", "ci_low")), name
    figures = page.locator("[data-testid='stExpander']", has_text="The figures in this chart")
    if figures.count():
        figures.first.locator("summary").click()
        figures.first.locator("[data-testid='stDataFrame']").wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{path}.png", full_page=True)
    # What a person sees first at three sizes (saved for a look), with no text cut short and nothing wider
    # than a phone's screen.
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(500)
        page.screenshot(path=SCREENSHOTS / f"{path}-{width}x{height}.png")
        cut = page.evaluate(
            """() => [...document.querySelectorAll("[data-testid='stMetricLabel'] p, h1, h2, h3")]
                .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""
        )
        assert cut == [], (width, cut)
        overflow = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollWidth - innerWidth")
        assert width > 400 or overflow <= 0, (width, overflow)
    page.set_viewport_size({"width": 1400, "height": 2400})
    if not AXE.exists():
        missing("axe-core is not installed (make test installs it from the npm registry)")
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], v["nodes"][0]["target"])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


def test_a_shared_url_shows_the_same_figures_as_the_cli(served_sample, browser):
    query = "start=2024-01-01&end=2024-12-31&product=axi-cel&age=adults"
    page = open_page(browser, f"{served_sample.url}/overview?{query}")
    shown = page.locator("[data-testid='stMetric']", has_text="ICANS, grade 3 or more")
    value = shown.locator("[data-testid='stMetricValue']").inner_text()
    result = run_cli(
        "metrics",
        "--metric",
        "icans_severe",
        "--adjust",
        "crude",
        "--start",
        "2024-01-01",
        "--end",
        "2024-12-31",
        "--product",
        "axi-cel",
        "--age",
        "adults",
        "--format",
        "json",
        "--database-url",
        served_sample.database_url,
    )
    (row,) = json.loads(result.stdout)["rows"]
    assert value == f"{row['rate']:.1%}"
    infusions = (
        page.locator("[data-testid='stMetric']", has_text="Infusions")
        .locator("[data-testid='stMetricValue']")
        .inner_text()
    )
    every_infusion = run_cli(
        "metrics",
        "--metric",
        "ta_outside",
        "--start",
        "2024-01-01",
        "--end",
        "2024-12-31",
        "--product",
        "axi-cel",
        "--age",
        "adults",
        "--format",
        "json",
        "--database-url",
        served_sample.database_url,
    )
    assert infusions == f"{json.loads(every_infusion.stdout)['rows'][0]['denominator']:,}"


def test_the_outlier_on_the_funnel_drills_down_to_its_centre_and_the_link_is_shareable(served_sample, browser):
    # Over every infusion (the default three years hold too few axi-cel patients at MID02 for an alarm).
    page = open_page(browser, f"{served_sample.url}/toxicity?metric=icans_severe&product=axi-cel&start=2019-01-01")
    outlier = (
        page.locator(".st-key-funnel .scatterlayer .trace")
        .filter(has=page.locator("text", has_text="MID02"))
        .locator("path.point")
        .first
    )
    outlier.wait_for()
    assert page.locator(".st-key-funnel .legend").get_by_text("Worse than expected (99.8%)").count() == 1
    box = outlier.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("location.pathname.endsWith('/centres')", timeout=30_000)
    wait_idle(page)
    assert "centre=MID02" in page.url and "product=axi-cel" in page.url  # the filter is kept
    page.get_by_role("heading", name="Trentside University Hospitals (MID02)").wait_for()

    page.get_by_text("Share this view").click()
    link = page.locator("[data-testid='stCode'] code").inner_text().strip()
    assert link.endswith("/centres?start=2019-01-01&end=2026-09-30&centre=MID02&product=axi-cel"), link
    colleague = open_page(browser, link)
    colleague.get_by_role("heading", name="Trentside University Hospitals (MID02)").wait_for()
    # The colleague's sidebar holds the same product filter (waited for: the widgets draw after the page).
    colleague.locator("[data-testid='stMultiSelect']", has_text="Product").get_by_text("axi-cel").wait_for()


WARM, COOL = {"#B1231A", "#ED8B00"}, {"#41B6E6", "#003087"}  # worse, better (as documented in the README)


def plotted(page, key: str) -> list[dict]:
    """The traces a chart drew in the browser: name, values, colours and hover data, as Plotly holds them."""
    page.wait_for_selector(f".st-key-{key} .js-plotly-plot .plot-container", timeout=30_000)
    return page.evaluate(f"""() => document.querySelector('.st-key-{key} .js-plotly-plot').data.map(t => ({{
        name: t.name, x: t.x, y: t.y, color: t.marker && t.marker.color, customdata: t.customdata || null}}))""")


def test_the_crude_icans_funnel_colours_low_icans_as_better_and_high_as_worse(served_sample, browser):
    # Over every infusion (2019 on), where the sample has centres on both sides.
    page = open_page(browser, f"{served_sample.url}/toxicity?metric=icans_severe&adjust=crude&start=2019-01-01")
    # The crude funnel (a loaded machine can show the first, product-mix run before the bound widget's rerun).
    page.wait_for_function(
        "(document.querySelector('.st-key-funnel .js-plotly-plot') || {layout: null}).layout?.yaxis?.title?.text"
        " === 'Rate'",
        timeout=30_000,
    )
    wait_idle(page)
    traces = {t["name"]: t for t in plotted(page, "funnel") if t["customdata"]}
    england = page.evaluate("() => document.querySelector('.st-key-funnel .js-plotly-plot').layout.shapes[0].y0")
    better = [
        (c[0], y)
        for name in ("Better (95%)", "Better (99.8%)")
        if name in traces
        for c, y in zip(traces[name]["customdata"], traces[name]["y"], strict=True)
    ]
    worse = [
        (c[0], y)
        for name in ("Worse (95%)", "Worse than expected (99.8%)")
        if name in traces
        for c, y in zip(traces[name]["customdata"], traces[name]["y"], strict=True)
    ]
    # LDN03 (4 of 86) and MID03 (2 of 64) have low severe ICANS; MID02 (53 of 136) high.
    assert {"LDN03", "MID03"} <= {c for c, _ in better} and "MID02" in {c for c, _ in worse}
    assert all(y < england for _, y in better) and all(y > england for _, y in worse)
    assert {traces[n]["color"] for n in traces if n.startswith("Better")} <= COOL
    assert {traces[n]["color"] for n in traces if n.startswith("Worse")} <= WARM
    # Each point's hover names it, says what its flag means and gives the exact p.
    hover = {c[0]: c for name in traces for c in traces[name]["customdata"]}
    assert hover["MID02"][7] == "Worse than expected (99.8%)" and hover["MID02"][8] == "p < 0.0001"
    assert hover["LDN03"][7] == "Better (99.8%)" and hover["LDN03"][8] == "p = 0.0003"


def test_a_centre_page_shows_complete_follow_up_as_better_not_as_an_alarm(served_sample, browser):
    page = open_page(browser, f"{served_sample.url}/centres?centre=MID02")
    (centre, _england, *_) = plotted(page, "centre_profile")
    colours = dict(zip(centre["y"], centre["color"], strict=True))
    words = dict(zip(centre["y"], [c[2] for c in centre["customdata"]], strict=True))
    # MID02 over the default three years: day-100 follow-up 69 of 69 against England's rate (exact p 0.016): better,
    # in a cool colour.
    assert words["Day-100 follow-up complete"] == "Better (95%)"
    assert colours["Day-100 follow-up complete"] in COOL
    assert words["ICANS, grade 3 or more"] == "Worse than expected (99.8%)"
    assert colours["ICANS, grade 3 or more"] in WARM
    warning = page.locator("[data-testid='stAlert']", has_text="Worse than expected")
    assert "follow-up" not in warning.inner_text()


def test_a_signal_on_the_overview_lands_on_its_centre_with_its_metric(served_sample, browser):
    page = open_page(browser, f"{served_sample.url}/overview")
    page.get_by_text("ALARM: MID02: ICANS, grade 3 or more").click()
    page.wait_for_function("location.pathname.endsWith('/centres')", timeout=30_000)
    wait_idle(page)
    page.get_by_role("heading", name="Trentside University Hospitals (MID02)").wait_for(timeout=30_000)
    assert "centre=MID02" in page.url and page.url.count("centre=") == 1


def test_four_page_changes_leave_each_parameter_once_in_the_address_bar(served_sample, browser):
    page = open_page(browser, f"{served_sample.url}/overview?start=2024-01-01&end=2024-12-31&product=axi-cel")
    for name in ("Toxicity", "ITU", "Products", "Overview"):
        page.get_by_test_id("stSidebarUserContent").get_by_role("link", name=name, exact=True).click()
        wait_idle(page)
    for parameter in ("start=", "end=", "product="):
        assert page.url.count(parameter) == 1, page.url


def test_an_inverted_date_range_is_refused_and_not_applied(served_sample, browser):
    page = open_page(browser, f"{served_sample.url}/toxicity?start=2025-06-30&end=2024-01-01")
    page.get_by_text("From is after To").wait_for(timeout=30_000)
    # Not applied: the funnel has its centres (an inverted range would leave it empty), over the default period.
    assert len(plotted(page, "funnel")) > 4
    assert page.get_by_text("Period: infusions from 2023-10-01 to 2026-09-30").is_visible()


def date_box(page, label: str) -> str:
    return page.get_by_test_id("stDateInput").filter(has_text=label).locator("input").input_value()


def test_one_stated_period_in_the_boxes_the_page_and_the_shared_link(served_sample, browser):
    # No dates in the address: the three years to the extract date (2026-09-30), everywhere on the page.
    page = open_page(browser, f"{served_sample.url}/overview")
    assert (date_box(page, "From"), date_box(page, "To")) == ("2023-10-01", "2026-09-30")
    assert page.get_by_text("Period: infusions from 2023-10-01 to 2026-09-30").is_visible()
    assert page.get_by_text("(2020-10-01 to 2023-09-30)", exact=False).is_visible()  # the headline's comparison
    page.get_by_text("Share this view").click()
    link = page.locator("[data-testid='stCode'] code").inner_text().strip()
    assert link.endswith("/overview?start=2023-10-01&end=2026-09-30"), link
    # A link with only an end: the same length before it, in the boxes and the page.
    page = open_page(browser, f"{served_sample.url}/itu?end=2024-12-31")
    assert (date_box(page, "From"), date_box(page, "To")) == ("2022-01-01", "2024-12-31")
    assert page.get_by_text("Period: infusions from 2022-01-01 to 2024-12-31").is_visible()


@pytest.mark.parametrize("path", ["toxicity?metric=icans_severe&adjust=crude&overdispersion=true", "itu", "products"])
def test_metric_pages_speak_in_words_not_identifiers(served_sample, browser, path):
    page = open_page(browser, f"{served_sample.url}/{path}")
    page.wait_for_selector(".stPlotlyChart .js-plotly-plot .plot-container", timeout=30_000)
    wait_idle(page)  # the first run binds the pickers to the address and may run again
    if path.startswith("toxicity"):
        page.get_by_text("ICANS, grade 3 or more").first.wait_for()
    shown = page.locator("[data-testid='stMain']").inner_text()
    # The pickers too show words (the URL keeps the ids: the crude funnel test opens ?adjust=crude).
    for identifier in (
        "d30_complete",
        "above_95",
        "below_99.8",
        "crs_max_grade",
        "Numerator:",
        "icans_severe",
        "product_mix",
        "tya",
    ):
        assert identifier not in shown, identifier
    if path.startswith("toxicity"):
        assert "ICANS, grade 3 or more" in shown and "as expected" in shown.lower()
        # Chosen by its title, kept in the address by its id.
        page.get_by_test_id("stSelectbox").filter(has_text="Metric").click()
        page.get_by_role("option", name="CRS, grade 3 or more", exact=True).click()
        page.wait_for_function("location.search.includes('metric=crs_severe')", timeout=30_000)
        assert "adjust=crude" in page.url and page.url.count("metric=") == 1


def contrast_on_white(rgb: str) -> float:
    """WCAG 2.2 contrast ratio of an `rgb(r, g, b)` colour against white, from relative luminance."""
    channels = [int(v) / 255 for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


@pytest.mark.parametrize("path", ["toxicity", "data-quality"])
def test_chart_text_is_readable_against_the_page(served_sample, browser, path):
    page = open_page(browser, f"{served_sample.url}/{path}", height=2400)
    chart_texts = """() => Array.from(document.querySelectorAll(
        '.js-plotly-plot .xtick text, .js-plotly-plot .ytick text, .js-plotly-plot .g-xtitle text, '
        + '.js-plotly-plot .g-ytitle text, .js-plotly-plot .legendtext, .js-plotly-plot .annotation-text'))
        .filter(t => t.textContent.trim()).map(t => [t.textContent, getComputedStyle(t).fill])"""
    # Every chart drawn, not only the first: on a loaded machine the page can be idle with a chart still drawing,
    # and the count of charts can be read between two of them arriving. So wait for the text itself.
    page.wait_for_function(f"() => ({chart_texts})().length > 20", timeout=30_000)
    texts = page.evaluate(chart_texts)
    weak = [(text, fill) for text, fill in texts if contrast_on_white(fill) < 4.5]
    assert weak == []


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


def test_a_keyboard_user_skips_to_the_page_and_reaches_the_first_signal_in_a_few_presses(served_sample, browser):
    """WCAG 2.4.1: a skip link first in the tab order (Streamlit's own); signals look like links and wrap on a
    phone."""
    page = open_page(browser, f"{served_sample.url}/overview", height=720)
    page.locator(".st-key-signal_0").wait_for()
    wait_idle(page)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.innerText") == "Skip to main content"
    page.keyboard.press("Enter")
    wait_idle(page)
    page.locator(".st-key-signal_0 button").wait_for()
    passed = []
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.closest('.st-key-signal_0') !== null"):
            break
        passed.append(page.evaluate("() => (document.activeElement.innerText || '').slice(0, 40)"))
    else:
        raise AssertionError(f"the first signal is more than 15 tab presses past the skip link: {passed}")
    signal = page.locator(".st-key-signal_0 button p")
    page.mouse.move(0, 0)  # no hover
    style = signal.evaluate("e => [getComputedStyle(e).textDecorationLine, getComputedStyle(e).color]")
    assert style == ["underline", "rgb(0, 94, 184)"], style  # underlined, NHS blue (6.7:1 on white)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    assert signal.evaluate("e => e.scrollWidth <= e.clientWidth && e.getBoundingClientRect().right <= innerWidth")


def test_the_first_paint_bench_times_a_page_beside_its_floor(served_sample, browser):
    """bench/first_paint.py's parts once each: the one-chart floor page served, and a load timed to its first
    chart and to idle, for the floor and for a page of the app."""
    with first_paint.floor_served() as floor:
        floor_chart, floor_idle = first_paint.load(browser, floor)
    chart, idle = first_paint.load(browser, f"{served_sample.url}/products")
    assert 0 < floor_chart <= floor_idle < 60
    assert 0 < chart <= idle < 60
