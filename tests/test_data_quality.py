"""Data quality: follow-up completeness against hand-computed values, quarantine reasons, exports, the page, the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import polars as pl
import pytest

from dashboard import metrics, stats, store
from dashboard.exports import csv_bytes
from dashboard.ingest import ingest
from dashboard.loaders import Dataset, load_dataset
from tests import fixtures as fx
from tests.conftest import BAD_SUBMISSION, run_cli
from tests.test_app import run_app


def test_wilson_interval_matches_hand_computed_values():
    counts = pl.DataFrame({"numerator": [12, 0, 5, 0], "denominator": [140, 20, 5, 0]})
    rows = stats.with_rate(counts).to_dicts()
    # 12/140 (the worked example of docs/design.md, Statistics): centre 0.09676, half-width 0.04709.
    assert rows[0]["rate"] == pytest.approx(0.085714, abs=1e-6)
    assert rows[0]["ci_low"] == pytest.approx(0.04968, abs=1e-4)
    assert rows[0]["ci_high"] == pytest.approx(0.14385, abs=1e-4)
    # 0/20: z^2/(n+z^2) = 3.8415/23.8415 = 0.16113 for the upper bound, 0 below.
    assert (rows[1]["ci_low"], rows[1]["ci_high"]) == (0.0, pytest.approx(0.16113, abs=1e-4))
    # 5/5: 1 above, n/(n+z^2) = 5/8.8415 = 0.56551 below.
    assert (rows[2]["ci_low"], rows[2]["ci_high"]) == (pytest.approx(0.56551, abs=1e-4), 1.0)
    assert rows[3]["rate"] is None and rows[3]["ci_low"] is None


def _tiny_dataset() -> Dataset:
    """Centre AAA: 4 infusions due at day 30 (2 received), 2 due at day 100 (1 received); BBB: nothing due yet."""
    day = lambda n: fx.AS_OF - dt.timedelta(days=n)  # noqa: E731
    infusions = [
        fx.infusion("e1", date=day(200)),
        fx.infusion("e2", date=day(100)),
        fx.infusion("e3", date=day(50)),
        fx.infusion("e4", date=day(30)),
        fx.infusion("e5", date=day(29)),
        fx.infusion("e6", centre="BBB", date=day(10)),
    ]
    followup = [
        fx.outcome("e1"),
        fx.outcome("e2", d100=False),
        {**fx.outcome("e3", d100=False), "d30_complete": False, "crs_max_grade": None, "icans_max_grade": None},
        fx.outcome("e5", d100=False),
    ]
    return fx.dataset(infusions, followup)


def test_followup_completeness_counts_due_and_received_as_defined():
    table = metrics.followup_completeness(_tiny_dataset()).to_dicts()
    a, b, c = table
    # e1..e4 are due at day 30 (infused 30+ days before as_of); e1, e2 received; e3 not; e4 has no row.
    assert (a["d30_due"], a["d30_received"], a["d30_rate"]) == (4, 2, 0.5)
    assert (a["d100_due"], a["d100_received"], a["d100_rate"]) == (2, 1, 0.5)
    assert a["below_threshold"] is True
    # B: one infusion, not yet due: no rate, not judged. C: no infusions at all, still listed.
    assert (b["d30_due"], b["d30_rate"], b["below_threshold"]) == (0, None, False)
    assert (c["centre_code"], c["d30_due"]) == ("CCC", 0)


@pytest.fixture
def with_bad_submission(seeded_sqlite):
    engine = store.engine_for(seeded_sqlite)
    ingest(engine, [BAD_SUBMISSION])
    return seeded_sqlite


def test_quarantine_reasons_list_every_held_row_once_per_reason(with_bad_submission):
    data = load_dataset(store.engine_for(with_bad_submission))
    reasons = metrics.quarantine_reasons(data.quarantine)
    assert reasons.height == 19 and reasons["quarantine_id"].n_unique() == 19
    row = reasons.filter(pl.col("value") == "140").to_dicts()[0]
    assert (row["table"], row["row_number"], row["column"], row["rule"]) == (
        "infusions",
        1,
        "age_at_infusion",
        "in_range(0, 110)",
    )
    assert row["centre_code"] is not None


def test_the_lagging_centre_is_the_only_one_under_the_threshold(with_bad_submission):
    data = load_dataset(store.engine_for(with_bad_submission))
    three_days_on = dt.date.today() + dt.timedelta(days=3)
    table = metrics.data_quality_by_centre(data, three_days_on)
    assert table.filter("below_threshold")["centre_code"].to_list() == ["NEY04"]
    assert table["days_since_submission"].to_list() == [3] * 23  # every centre sent rows today
    assert table.filter(pl.col("centre_code") == "LDN03")["rows_quarantined"].item() >= 1


def test_csv_exports_neutralise_spreadsheet_formulas():
    frame = pl.DataFrame({"value": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "plain"], "n": [1, 2, 3, 4, 5]})
    text = csv_bytes(frame).decode("utf-8-sig")
    values = [row["value"] for row in csv.DictReader(io.StringIO(text))]
    assert values == ['\'=HYPERLINK("x")', "'+1", "'-2", "'@SUM(A1)", "plain"]


def test_the_data_quality_page_shows_the_lagging_centre_and_the_quarantine(monkeypatch, with_bad_submission):
    from dashboard import sample

    # Not the bundled sample, so demo mode is refused; AppTest cannot send a trusted header: let the picker open.
    monkeypatch.setattr(sample, "demo_allowed", lambda data: True)
    app = run_app(monkeypatch, with_bad_submission, "data_quality.py")
    assert not app.exception
    assert {m.label: m.value for m in app.metric}["Rows held in quarantine"] == "19"
    assert any("Don Valley Royal Hospital (NEY04) 74%" in w.value for w in app.warning)
    held = next(d.value for d in app.dataframe if "rule" in d.value.columns)  # the quarantine table
    assert len(held) == 19
    app.multiselect(key="q_table").select("centres").run()
    held = next(d.value for d in app.dataframe if "rule" in d.value.columns)
    assert held["value"].tolist() == ["Wales"]


def test_quarantine_cli_lists_shows_and_exports(with_bad_submission, tmp_path):
    listed = run_cli("quarantine", "list", "--format", "json", "--database-url", with_bad_submission)
    assert listed.returncode == 0, listed.stderr
    reasons = json.loads(listed.stdout)
    assert len(reasons) == 19
    wales = next(r for r in reasons if r["value"] == "Wales")
    shown = run_cli("quarantine", "show", str(wales["quarantine_id"]), "--database-url", with_bad_submission)
    assert "centres.csv row 24 (centres)" in shown.stdout and "nhs_region: Wales" in shown.stdout
    out = tmp_path / "back-to-ldn03.csv"
    exported = run_cli("quarantine", "export", str(out), "--centre", "LDN03", "--database-url", with_bad_submission)
    assert exported.returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows and {r["centre_code"] for r in rows} == {"LDN03"}
    assert {"path", "row_number", "column", "rule", "value"} <= set(rows[0])
    missing = run_cli("quarantine", "show", "99999", "--database-url", with_bad_submission)
    assert (missing.returncode, missing.stderr.strip()) == (2, "cartgov: no quarantined row with id 99999")
