"""Hostile input: markup in submitted text shown as text, hostile URLs, demo mode and access files that fail safe."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard import store
from dashboard.ingest import ingest
from tests.conftest import SAMPLE, serve
from tests.test_app import run_app

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
HOSTILE_NAME = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>[link](javascript:alert(1))"


@pytest.fixture
def hostile_store(tmp_path) -> str:
    """The sample, with one centre's name replaced by markup and script."""
    folder = tmp_path / "submission"
    folder.mkdir()
    for path in SAMPLE.glob("*.*"):
        (folder / path.name).write_bytes(path.read_bytes())
    centres = pl.read_csv(SAMPLE / "centres.csv", infer_schema=False)
    centres.with_columns(pl.when(pl.col("centre_code") == "NEY04").then(pl.lit(HOSTILE_NAME))
                         .otherwise(pl.col("centre_name")).alias("centre_name")).write_csv(folder / "centres.csv")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert ingest(store.engine_for(url), [folder]).exit_code == 0
    return url


@pytest.mark.browser
def test_markup_in_a_submitted_name_is_shown_as_text_never_run(hostile_store, browser, tmp_path):
    with serve(hostile_store, tmp_path / "snapshots", tmp_path / "serve.log") as app:
        page = browser.new_context(viewport={"width": 1400, "height": 2000}).new_page()
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for path in ("data-quality", "centres?centre=NEY04"):
            page.goto(f"{app.url}/{path}")
            page.wait_for_selector(IDLE, timeout=60_000)
            page.locator("h1").first.wait_for()
            page.get_by_text("<script>window.__xss=2</script>", exact=False).first.wait_for()  # shown, as text
            assert page.evaluate("window.__xss") is None
            assert page.locator("img[src='x']").count() == 0
            assert page.locator("a[href^='javascript:']").count() == 0
        assert dialogs == []


@pytest.mark.parametrize("query", [
    {"centre": ["' OR 1=1; DROP TABLE infusions; --"]},
    {"product": ["axi-cel' UNION SELECT * FROM audit_log --"]},
    {"start": ["2020-01-01'; DELETE FROM followup; --"]},
    {"centre": ["A" * 100_000]},
    {"ta": [f"TA{i}" for i in range(500)]},
    {"age": ["\x00\x1b[31m<svg onload=alert(1)>"]},
])
def test_hostile_url_parameters_are_ignored_with_a_note(monkeypatch, seeded_sqlite, query):
    app = run_app(monkeypatch, seeded_sqlite, query=query)
    assert not app.exception
    note = " ".join(i.value for i in app.sidebar.info)
    assert "is not a known value" in note or "is not a date" in note
    assert len(note) < 5000  # an oversized value is echoed back cut short
    counts = store.row_counts(store.engine_for(seeded_sqlite))
    assert counts["infusions"] == 3000 and counts["followup"] == 2891  # nothing ran against the store


def test_demo_mode_is_refused_on_real_data(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'real.db'}"
    real = tmp_path / "real"
    real.mkdir()
    (real / "centres.csv").write_bytes((SAMPLE / "centres.csv").read_bytes())  # no manifest: not synthetic
    ingest(store.engine_for(url), [real])
    monkeypatch.setenv("CARTGOV_AUTH_MODE", "demo")
    app = run_app(monkeypatch, url)
    assert [t.value for t in app.title] == ["Access denied"]
    assert "Demo mode shows only the bundled synthetic sample" in app.error[0].value
    assert not app.sidebar.selectbox  # no role picker


@pytest.mark.parametrize("access_file", ["missing", "broken"])
def test_a_missing_or_broken_access_file_lets_nobody_in(monkeypatch, seeded_sqlite, tmp_path, access_file):
    path = tmp_path / "access.toml"
    if access_file == "broken":
        path.write_text("[users.\n")
    monkeypatch.setenv("CARTGOV_AUTH_MODE", "header")
    monkeypatch.setenv("CARTGOV_ACCESS_FILE", str(path))
    app = run_app(monkeypatch, seeded_sqlite)
    assert [t.value for t in app.title] == ["Access denied"]
    assert "nobody is let in" in app.error[0].value
    assert not app.dataframe and not app.metric
