"""The app under Streamlit's AppTest: every page runs, with default filters and with a filtered URL."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from dashboard import store
from dashboard.ui import session, widgets
from tests.conftest import PROJECT_ROOT, SAMPLE

PAGES = sorted(p.name for p in (PROJECT_ROOT / "pages").glob("*.py"))
# The state a filtered URL gives the bound widgets (AppTest drops query parameters on switch_page).
FILTERED = {"product": ["axi-cel"], "age": ["adults"], "start": dt.date(2023, 1, 1), "centre": ["MID02"]}


def run_app(
    monkeypatch, url: str, page: str | None = None, query: dict | None = None, state: dict | None = None
) -> AppTest:
    monkeypatch.setenv("CARTGOV_DATABASE_URL", url)
    monkeypatch.chdir(PROJECT_ROOT)
    # As `cartgov serve` does (dashboard/server.py): pages/ holds st.navigation pages, not a v1 multipage app.
    monkeypatch.setattr(PagesManager, "uses_pages_directory", False)
    app = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60)
    for key, values in (query or {}).items():
        app.query_params[key] = values
    for key, value in (state or {}).items():
        app.session_state[key] = value
    app.run()
    if page:
        # After a first run AppTest knows the st.navigation pages, and a switch runs through the entrypoint.
        app.switch_page(str(Path("pages") / page)).run()
    return app


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("state", [None, FILTERED], ids=["default", "filtered"])
def test_every_page_runs_on_the_sample(monkeypatch, seeded_sqlite, page, state):
    app = run_app(monkeypatch, seeded_sqlite, page, state=state)
    assert not app.exception, app.exception
    assert app.title, "every page has a title"
    if state and page in ("products.py", "centres.py"):  # the filters reach the page: it drills into them
        assert [h.value for h in app.header] == [
            {"products.py": "axi-cel (Yescarta)", "centres.py": "Trentside University Hospitals (MID02)"}[page]
        ]


def _sample_counts(start: dt.date, end: dt.date) -> tuple[int, float]:
    """Infusions in a period and their grade 3+ ICANS rate, computed straight from the sample files."""
    infusions = pl.read_csv(SAMPLE / "infusions.csv", try_parse_dates=True).filter(
        pl.col("infusion_date").is_between(start, end)
    )
    followup = pl.read_csv(SAMPLE / "followup.csv").filter(pl.col("d30_complete"))
    outcomes = infusions.join(followup, on="episode_id")
    return infusions.height, (outcomes["icans_max_grade"] >= 3).mean()


def test_overview_headlines_match_the_sample_files(monkeypatch, seeded_sqlite):
    app = run_app(monkeypatch, seeded_sqlite)
    assert "Synthetic data" in app.warning[0].value
    # The default period: the three years to the extract date, against the three years before.
    infusions, icans = _sample_counts(dt.date(2023, 10, 1), dt.date(2026, 9, 30))
    before, _ = _sample_counts(dt.date(2020, 10, 1), dt.date(2023, 9, 30))
    shown = {m.label: (m.value, m.delta) for m in app.metric}
    assert shown["Infusions"] == (f"{infusions:,}", f"{infusions - before:+,}")
    assert shown["ICANS, grade 3 or more"][0] == f"{icans:.1%}"
    assert shown["Centres treating"][0] == "23"


def test_a_url_with_unknown_values_runs_and_says_what_was_not_used(monkeypatch, seeded_sqlite):
    app = run_app(
        monkeypatch, seeded_sqlite, query={"centre": ["ZZZ99"], "metric": ["no_such_metric"], "start": ["14/03/2025"]}
    )
    assert not app.exception
    note = " ".join(i.value for i in app.sidebar.info)
    assert "centre: 'ZZZ99' is not a known value" in note
    assert "metric: 'no_such_metric' is not a known value" in note
    assert "start: '14/03/2025' is not a date" in note


def test_an_empty_store_says_how_to_load_data(monkeypatch, sqlite_url):
    app = run_app(monkeypatch, sqlite_url)
    assert not app.exception
    assert not app.warning  # an empty store is not the synthetic sample
    assert "cartgov seed" in app.info[0].value


def test_an_unavailable_store_shows_a_clear_message(monkeypatch):
    app = run_app(monkeypatch, "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not app.exception
    assert "data store is unavailable" in app.error[0].value


def test_a_new_data_version_is_prepared_in_the_background_while_pages_show_the_last(monkeypatch, seeded_sqlite):
    """The first visitor after an ingest does not wait for the new version's snapshot, frames, episode table and
    signals: the run shows the version on show, the new one is prepared off the run and shown once ready."""

    def caption(app: AppTest) -> str:
        return next(c.value for c in app.caption if "data version" in c.value)

    app = run_app(monkeypatch, seeded_sqlite)
    assert "data version 1" in caption(app)

    loading = threading.Event()
    slow = session.load_dataset

    def load_slowly(engine, version=None):
        loading.set()
        time.sleep(4)  # a million infusions' snapshot, validation and episode table
        return slow(engine, version)

    monkeypatch.setattr(session, "load_dataset", load_slowly)
    writer = sqlite3.connect(seeded_sqlite.removeprefix("sqlite:///"))
    writer.execute("UPDATE dataset SET data_version = 2")
    writer.commit()
    writer.close()
    # As if VERSION_CHECK_SECONDS had passed: runs ask the store.
    monkeypatch.setattr(session, "_data_version", lambda url: store.data_version(store.engine_for(url)))

    started = time.monotonic()
    app = run_app(monkeypatch, seeded_sqlite)  # a new visitor
    took = time.monotonic() - started
    assert not app.exception, app.exception
    assert loading.wait(5), "version 2 is being prepared"
    assert "data version 1" in caption(app) and took < 3, took  # shown at once, not after the 4 s load

    deadline = time.monotonic() + 30
    while session._on_show().get(seeded_sqlite) != 2:
        assert time.monotonic() < deadline, "version 2 was never made ready"
        time.sleep(0.2)
    assert "data version 2" in caption(run_app(monkeypatch, seeded_sqlite))


def test_a_long_table_shows_its_first_rows_and_says_so(monkeypatch, seeded_sqlite):
    """Past SHOWN_ROWS a table sends only its first rows (a browser is not sent megabytes), and says how many more."""
    monkeypatch.setattr(widgets, "SHOWN_ROWS", 5)
    app = run_app(monkeypatch, seeded_sqlite, "exceptions.py")
    assert not app.exception, app.exception
    episodes = next(t for t in app.dataframe if "home_travel_minutes" in t.value.columns)
    assert len(episodes.value) == 5
    said = [c.value for c in app.caption if c.value.startswith("The first 5 of ")]
    assert said and said[0].endswith("rows; the CSV holds them all."), said
    assert int(said[0].removeprefix("The first 5 of ").split()[0].replace(",", "")) > 5
