"""Faults while the app is open, in Chromium: the store stopped and restarted, SQLite locked by a long write, a disk
too full for the next snapshot. Each time the page shows nothing wrong and recovers without restarting the app."""

from __future__ import annotations

import resource
import sqlite3
import time

import pytest

from dashboard import store
from dashboard.ingest import ingest
from dashboard.loaders import COMPLETE, SNAPSHOT_FORMAT
from testkit.browser import IDLE
from tests.conftest import BAD_SUBMISSION, NATIONAL, SAMPLE, national_env, serve

pytestmark = pytest.mark.browser

CHECK_EVERY = 1  # seconds: the served apps here ask the store for its data version every second
FAST = {"CARTGOV_VERSION_CHECK_SECONDS": str(CHECK_EVERY)}
UNAVAILABLE = "The data store is unavailable"


def open_overview(browser, app):
    page = browser.new_context(viewport={"width": 1400, "height": 1200}, extra_http_headers=NATIONAL).new_page()
    page.goto(f"{app.url}/overview")
    page.wait_for_selector(IDLE, timeout=60_000)
    shows_version(page, 1)
    return page


def shows_version(page, version: int) -> None:
    """The overview's caption names the data version its figures come from."""
    page.locator("p", has_text="Headline figures").filter(has_text=f"data version {version}").wait_for()


def interact(page, link: str) -> float:
    """What a reader does next: open another page from the sidebar (or press "Try again" when the store is
    unavailable and there is no sidebar). Returns the seconds it took."""
    time.sleep(CHECK_EVERY + 0.5)  # past the version check, so that this run asks the store
    started = time.monotonic()
    if page.get_by_text(UNAVAILABLE).count():
        page.get_by_role("button", name="Try again").click()
    else:
        page.get_by_test_id("stSidebarUserContent").get_by_role("link", name=link, exact=True).click()
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=60_000)
    return time.monotonic() - started


def shows_nothing_wrong(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("Traceback").count() == 0


def test_a_stopped_postgresql_shows_unavailable_then_recovers_without_a_restart(private_postgres, browser, tmp_path):
    ingest(store.engine_for(private_postgres.url), [SAMPLE])
    with serve(private_postgres.url, tmp_path / "snapshots", tmp_path / "serve.log", FAST) as app:
        page = open_overview(browser, app)
        private_postgres.stop()
        interact(page, "ITU")
        page.get_by_text(UNAVAILABLE).wait_for()
        page.screenshot(path=tmp_path / "unavailable.png")
        shows_nothing_wrong(page)
        # Nothing stale or half-drawn beside the message: no figures, no charts, no filters.
        assert page.locator("[data-testid='stMetric'], .stPlotlyChart, [data-testid='stMultiSelect']").count() == 0
        interact(page, "Toxicity")  # still down: still the message, still no traceback
        page.get_by_text(UNAVAILABLE).wait_for()

        private_postgres.start()
        interact(page, "Overview")  # "Try again" on the ITU page
        page.get_by_role("heading", name="Critical care (ITU) escalation").wait_for()
        assert page.get_by_text(UNAVAILABLE).count() == 0
        page.screenshot(path=tmp_path / "recovered.png")
        interact(page, "Overview")
        shows_version(page, 1)
        shows_nothing_wrong(page)


def test_readers_keep_the_last_version_while_sqlite_is_locked_by_a_long_write(seeded_sqlite, browser, tmp_path):
    with serve(seeded_sqlite, tmp_path / "snapshots", tmp_path / "serve.log", FAST) as app:
        page = open_overview(browser, app)
        # A long write: an exclusive transaction that has changed the data and the version but not committed.
        writer = sqlite3.connect(seeded_sqlite.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("DELETE FROM followup")
        writer.execute("UPDATE dataset SET data_version = 2")
        try:
            took = [interact(page, "ITU"), interact(page, "Overview")]
            shows_version(page, 1)  # the last committed version, in full
            assert page.get_by_text(UNAVAILABLE).count() == 0
            shows_nothing_wrong(page)
            # Readers do not wait for the writer (they would wait 30 s, SQLite's busy timeout here, then fail).
            assert max(took) < 15, took
            newcomer = open_overview(browser, app)  # a new session while the lock is held
            shows_nothing_wrong(newcomer)
        finally:
            writer.execute("COMMIT")
            writer.close()
        interact(page, "ITU")
        interact(page, "Overview")
        shows_version(page, 2)


def test_a_full_disk_keeps_the_previous_snapshot_in_use_until_there_is_room(seeded_sqlite, browser, tmp_path):
    snapshots = tmp_path / "snapshots"
    # The sample plus bad_submission is not the sample: behind the trusted header, not in demo mode.
    with serve(seeded_sqlite, snapshots, tmp_path / "serve.log", {**FAST, **national_env(tmp_path)}) as app:
        page = open_overview(browser, app)  # the server has written version 1's snapshot
        # The server may write no file beyond 1 KB from now on: every Parquet file of a snapshot fails as on a
        # full disk (EFBIG rather than ENOSPC; the same OSError path).
        resource.prlimit(app.pid, resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))  # soft limit
        ingest(store.engine_for(seeded_sqlite), [BAD_SUBMISSION])  # version 2, its snapshot not yet written
        interact(page, "ITU")
        interact(page, "Overview")
        page.get_by_text("Newer data has arrived but cannot be prepared for display (File too large)").wait_for()
        shows_version(page, 1)
        page.screenshot(path=tmp_path / "disk-full.png")
        shows_nothing_wrong(page)
        folders = sorted(p.name for p in next(snapshots.iterdir()).iterdir())
        assert folders == [f"v1.{SNAPSHOT_FORMAT}"]  # nothing half-written left beside it

        resource.prlimit(app.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        interact(page, "ITU")
        interact(page, "Overview")
        shows_version(page, 2)
        assert page.get_by_text("Newer data has arrived").count() == 0
        assert (next(snapshots.iterdir()) / f"v2.{SNAPSHOT_FORMAT}" / COMPLETE).exists()
        shows_nothing_wrong(page)
        log = (tmp_path / "serve.log").read_text()
        assert "could not be written" in log and "Traceback" not in log  # the log was written throughout
