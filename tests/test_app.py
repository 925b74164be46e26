"""The app under Streamlit's AppTest: every page runs without an exception on the seeded sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_ROOT

PAGES = sorted(p.name for p in (PROJECT_ROOT / "pages").glob("*.py"))


def run_app(monkeypatch, url: str, page: str | None = None) -> AppTest:
    monkeypatch.setenv("CARTGOV_DATABASE_URL", url)
    monkeypatch.chdir(PROJECT_ROOT)
    app = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60)
    if page:
        app.switch_page(str(Path("pages") / page))
    return app.run()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_sample(monkeypatch, seeded_sqlite, page):
    app = run_app(monkeypatch, seeded_sqlite, page)
    assert not app.exception, app.exception


def test_overview_shows_the_store_with_the_synthetic_banner(monkeypatch, seeded_sqlite):
    app = run_app(monkeypatch, seeded_sqlite)
    assert "Synthetic data" in app.warning[0].value
    assert {m.label: m.value for m in app.metric} == {
        "Centres": "23", "Products": "5", "NICE TAs": "11", "Referrals": "4,296", "Infusions": "3,000",
        "Follow-up": "2,891",
    }
    assert "Extract date 2026-09-30 · data version 1" in app.caption[0].value


def test_an_empty_store_says_how_to_load_data(monkeypatch, sqlite_url):
    app = run_app(monkeypatch, sqlite_url)
    assert not app.exception
    assert not app.warning  # an empty store is not the synthetic sample
    assert "cartgov seed" in app.info[0].value


def test_an_unavailable_store_shows_a_clear_message(monkeypatch):
    app = run_app(monkeypatch, "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not app.exception
    assert "data store is unavailable" in app.error[0].value
