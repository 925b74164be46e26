"""The metric engine against hand-computed values: rates, benchmarks, product mix, limits, SPC, TA compliance."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dashboard import metrics, stats
from dashboard.filters import Choices, Filters, parse
from dashboard.loaders import Dataset
from dashboard.metrics.definitions import PROPORTION_IDS
from tests import fixtures as fx
from tests.conftest import run_cli


def _severe_crs_dataset():
    """AAA: 10 axi-cel, 3 grade 3+ CRS. BBB: 10 tisa-cel, 1. CCC: 5 axi-cel, 0.

    National: axi-cel 3/15 = 0.2, tisa-cel 1/10 = 0.1, all 4/25 = 0.16.
    """
    infusions, followup = [], []
    centres = (
        ("AAA", "axi-cel", "TA872", 10, 3),
        ("BBB", "tisa-cel", "TA975", 10, 1),
        ("CCC", "axi-cel", "TA872", 5, 0),
    )
    for centre, product, ta, patients, severe in centres:
        for i in range(patients):
            episode = f"{centre}{i}"
            infusions.append(fx.infusion(episode, centre, product, ta, age=20 if product == "tisa-cel" else 60))
            followup.append(fx.outcome(episode, crs=3 if i < severe else 1))
    return fx.dataset(infusions, followup)


def test_the_episode_table_is_built_once_per_loaded_dataset(monkeypatch):
    from dashboard.metrics import episodes

    data, built = _severe_crs_dataset(), []
    build = episodes.build
    monkeypatch.setattr(episodes, "build", lambda frames: built.append(1) or build(frames))
    first = metrics.episode_table(data)
    metrics.compute(data, "crs_severe", by="centre")
    assert metrics.episode_table(data) is first and len(built) == 1
    assert metrics.episode_table(_severe_crs_dataset()) is not first  # a new load builds its own


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_the_episode_table_matches_each_infusion_to_its_follow_up_and_panel_as_a_join_would(order):
    """Snapshots are sorted by key and the build finds rows by binary search; against plain left joins, over tables
    in any order, infusions without follow-up, a referral that is not there and one with no referral at all."""
    from dashboard.metrics import episodes

    generated = fx.generated(400, seed=16)
    frames = dict(generated.frames)
    frames["followup"] = frames["followup"].filter(pl.col("episode_id").str.contains("[13579]$"))  # half have none
    infusions = frames["infusions"].with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("referral_id")).alias("referral_id"),
    )
    frames["infusions"] = infusions.with_columns(
        pl.when(pl.int_range(pl.len()) == 8).then(pl.lit("NO-SUCH-REFERRAL")).otherwise(pl.col("referral_id"))
    )
    if order == "shuffled":
        frames = {name: frame.sample(fraction=1.0, shuffle=True, seed=3) for name, frame in frames.items()}
    built = episodes.build(frames)

    joined = (
        frames["infusions"]
        .join(frames["followup"], on="episode_id", how="left", maintain_order="left")
        .join(frames["referrals"].select("referral_id", "panel"), on="referral_id", how="left", maintain_order="left")
    )
    assert built.height == frames["infusions"].height
    assert_frame_equal(
        built.select(joined.columns).drop("d30_complete", "d100_complete"), joined.drop("d30_complete", "d100_complete")
    )
    assert built["d30_complete"].to_list() == joined["d30_complete"].fill_null(False).to_list()
    assert built["crs_max_grade"].null_count() == frames["infusions"].height - frames["followup"].height > 0
    assert built["panel"].null_count() >= 2  # the two referrals made missing above, at least


def test_crude_rates_by_centre_with_the_national_target():
    table = metrics.compute(_severe_crs_dataset(), "crs_severe", by="centre", adjust="crude")
    assert table.target == pytest.approx(0.16)
    rows = {r["group"]: r for r in table.rows.to_dicts()}
    assert [(rows[c]["numerator"], rows[c]["denominator"]) for c in ("AAA", "BBB", "CCC")] == [(3, 10), (1, 10), (0, 5)]
    assert rows["AAA"]["rate"] == pytest.approx(0.3)
    low, high = stats.exact_limits(0.16, np.array([10]), "95", ratio=False)
    assert rows["AAA"]["limit_95_low"] == pytest.approx(low[0])
    assert rows["AAA"]["limit_95_high"] == pytest.approx(high[0])
    assert rows["AAA"]["flag"] == "within" and rows["AAA"]["low_numbers"] is False
    assert rows["CCC"]["low_numbers"] is True  # 5 patients


def test_product_mix_expected_and_ratio():
    table = metrics.compute(_severe_crs_dataset(), "crs_severe", by="centre")
    assert table.adjust == "product_mix" and table.target == 1.0  # the default for toxicity metrics
    rows = {r["group"]: r for r in table.rows.to_dicts()}
    # AAA: 10 axi-cel patients x 0.2 = 2 expected, 3 observed. BBB: 10 x 0.1 = 1, 1 observed. CCC: 5 x 0.2 = 1, 0.
    assert (rows["AAA"]["expected"], rows["AAA"]["ratio"]) == (pytest.approx(2.0), pytest.approx(1.5))
    assert (rows["BBB"]["expected"], rows["BBB"]["ratio"]) == (pytest.approx(1.0), pytest.approx(1.0))
    assert (rows["CCC"]["expected"], rows["CCC"]["ratio"]) == (pytest.approx(1.0), 0.0)
    low, high = stats.exact_limits(1.0, np.array([2.0]), "998", ratio=True)
    assert rows["AAA"]["limit_998_low"] == pytest.approx(low[0])
    assert rows["AAA"]["limit_998_high"] == pytest.approx(high[0])


def test_picking_a_centre_never_moves_its_benchmark():
    data = _severe_crs_dataset()
    everyone = metrics.compute(data, "crs_severe", by="centre", adjust="crude")
    one = metrics.compute(data, "crs_severe", by="centre", adjust="crude", filters=Filters(centre=("AAA",)))
    assert one.target == everyone.target == pytest.approx(0.16)
    assert one.rows["group"].to_list() == ["AAA"]
    same_row = everyone.rows.filter(pl.col("group") == "AAA")
    assert one.rows.row(0) == same_row.row(0)
    # Another filter does move it: axi-cel patients only.
    axi = metrics.compute(data, "crs_severe", by="centre", adjust="crude", filters=Filters(product=("axi-cel",)))
    assert axi.target == pytest.approx(0.2)


def test_grouping_by_product_and_overall():
    data = _severe_crs_dataset()
    by_product = {
        r["group"]: (r["numerator"], r["denominator"])
        for r in metrics.compute(data, "crs_severe", by="product").rows.to_dicts()
    }
    assert by_product == {"axi-cel": (3, 15), "tisa-cel": (1, 10)}
    (england,) = metrics.compute(data, "crs_severe").rows.to_dicts()
    assert (england["group"], england["numerator"], england["denominator"]) == ("England", 4, 25)
    assert england["limit_95_low"] is None and england["flag"] is None  # limits only by centre


def test_an_outlier_beyond_998_is_flagged_and_the_completeness_gate_holds_back_a_flag():
    infusions, followup = [], []
    # AAA: 100 patients, 40 grade 3+ ICANS; BBB: 100, 5; CCC: 100, 10 but only 80 with day-30 follow-up.
    # Target 55/280 = 0.196; at n=100 the 99.8% limits are about 0.08 and 0.32.
    for centre, severe, complete in (("AAA", 40, 100), ("BBB", 5, 100), ("CCC", 10, 80)):
        for i in range(100):
            infusions.append(fx.infusion(f"{centre}{i}", centre))
            if i < complete:
                followup.append(fx.outcome(f"{centre}{i}", icans=3 if i < severe else 0))
    table = metrics.compute(fx.dataset(infusions, followup), "icans_severe", by="centre", adjust="crude")
    flags = dict(table.rows.select("group", "flag").iter_rows())
    assert flags == {"AAA": "above_99.8", "BBB": "below_99.8", "CCC": "insufficient follow-up"}


def test_binomial_limits_sit_between_the_last_count_within_and_the_first_flagged():
    # n=100, p=0.1: P(X<=15)=0.9601, P(X<=16)=0.9794, so P(X>=16)=0.0399 is within and P(X>=17)=0.0206 is beyond:
    # the line sits between 16 and 17 at alpha=(0.9794-0.975)/(0.9794-0.9601)=0.228 -> (17 - 0.228)/100 = 0.1677.
    # lower: P(X<=4)=0.0237 is beyond, P(X<=5)=0.0576 within: alpha=(0.0576-0.025)/(0.0576-0.0237)=0.962 -> 0.0404.
    low, high = stats.exact_limits(0.1, np.array([100, 0]), "95", ratio=False)
    assert (low[0], high[0]) == (pytest.approx(0.0404, abs=2e-4), pytest.approx(0.1677, abs=2e-4))
    assert np.isnan(low[1]) and np.isnan(high[1])


def test_poisson_limits_sit_between_the_last_count_within_and_the_first_flagged():
    # E=10: P(O>=17)=0.0270 within, P(O>=18)=0.0143 beyond; alpha=(0.9857-0.975)/(0.9857-0.9730)=0.8425
    # -> (18 - 0.8425)/10 = 1.716.
    low, high = stats.exact_limits(1.0, np.array([10.0]), "95", ratio=True)
    assert high[0] == pytest.approx(1.716, abs=1e-3)
    # lower: P(O<=3)=0.0103 beyond, P(O<=4)=0.0293 within: alpha=(0.0293-0.025)/(0.0293-0.0103)=0.2263 -> 0.3774.
    assert low[0] == pytest.approx(0.3774, abs=1e-3)


def test_tau_squared_follows_dersimonian_laird_also_when_phi_is_just_under_1():
    """k phi > k - 1 gives tau-squared > 0 (Spiegelhalter 2005; FunnelPlotR's tau_func), computed here by hand:
    arcsine square-root z-scores, winsorised at the 10th and 90th centiles, weights 1 / s^2 = 4n."""
    observed = np.array([25, 18, 21, 23, 22, 26, 24, 26, 13, 19, 20, 14, 10, 24, 29, 23, 18, 22, 18, 23])
    n = np.full(20, 100)
    target = observed.sum() / n.sum()
    z = (np.arcsin(np.sqrt(observed / n)) - np.arcsin(np.sqrt(target))) * 2 * np.sqrt(n)
    low, high = np.quantile(z, [0.1, 0.9])
    phi = np.mean(np.clip(z, low, high) ** 2)
    w = 4.0 * n
    expected_tau2 = (20 * phi - 19) / (w.sum() - (w**2).sum() / w.sum())
    assert 19 / 20 < phi < 1 and expected_tau2 > 0
    found = stats.dispersion(observed, n, target)
    assert found.phi == pytest.approx(phi, rel=1e-12) and found.tau2 == pytest.approx(expected_tau2, rel=1e-12)


def test_tau_squared_on_funnelplotrs_own_test_data_as_its_cqc_method_computes_it():
    """FunnelPlotR's test data (observed 100, 150, 180, 80, 120, 225 on expected 108, 112, 165, 95, 100, 220),
    through its CQC steps written out here: square-root scale, z-scores winsorised at 10% (R's type-7 quantiles,
    by hand), phi their mean square, DerSimonian-Laird tau-squared."""
    observed = [100, 150, 180, 80, 120, 225]
    expected = [108, 112, 165, 95, 100, 220]
    z = [(math.sqrt(o / e) - 1) * 2 * math.sqrt(e) for o, e in zip(observed, expected, strict=True)]

    def quantile(values: list[float], p: float) -> float:  # R's default (type 7)
        ordered = sorted(values)
        h = (len(ordered) - 1) * p
        return ordered[math.floor(h)] + (h - math.floor(h)) * (ordered[math.ceil(h)] - ordered[math.floor(h)])

    low, high = quantile(z, 0.1), quantile(z, 0.9)
    phi = sum(min(max(v, low), high) ** 2 for v in z) / len(z)
    w = [4 * e for e in expected]  # 1 / s^2 with s = 1 / (2 sqrt(E))
    tau2 = max(0.0, (len(z) * phi - (len(z) - 1)) / (sum(w) - sum(x * x for x in w) / sum(w)))
    found = stats.dispersion(np.array(observed), np.array(expected, float), 1.0, ratio=True)
    assert found.phi == pytest.approx(phi, rel=1e-12) and found.tau2 == pytest.approx(tau2, rel=1e-12)
    assert phi > 1 and tau2 > 0  # hospital b (150 on 112) is far out


def test_overdispersion_is_zero_without_spread_and_widens_limits_with_it():
    n = np.full(20, 200)
    calm = stats.dispersion(np.full(20, 20), n, 0.1)
    assert calm.tau2 == 0.0 and calm.phi == pytest.approx(0.0)
    spread = np.array([5, 40] * 10)  # rates 2.5% and 20% around a 11.25% target
    wild = stats.dispersion(spread, n, spread.sum() / n.sum())
    assert wild.phi > 10 and wild.tau2 > 0
    plain = stats.funnel_limits(0.1125, n[:1], ratio=False)
    wide = stats.funnel_limits(0.1125, n[:1], ratio=False, tau2=wild.tau2)
    assert wide["limit_998_high"][0] > plain["limit_998_high"][0]
    assert wide["limit_998_low"][0] < plain["limit_998_low"][0]


def _chart(rates: list[float]) -> list[tuple[str, int, int, str]]:
    quarters = pl.date_range(
        dt.date(2020, 1, 1), dt.date(2020, 1, 1) + dt.timedelta(days=92 * (len(rates) - 1)), "1q", eager=True
    )[: len(rates)]
    counts = pl.DataFrame(
        {"quarter": quarters, "numerator": [round(r * 100) for r in rates], "denominator": [100] * len(rates)}
    )
    _, found = stats.p_chart(counts)
    index = {q: i for i, q in enumerate(quarters.to_list())}
    return [(s["rule"], index[s["from"]], index[s["to"]], s["direction"]) for s in found]


def test_spc_rules_each_named():
    assert _chart([0.2] * 5 + [0.25] * 7) == [("run_of_7", 5, 11, "high")]
    assert _chart([0.2] * 5 + [0.5] + [0.2] * 4) == [("beyond_3_sigma", 5, 5, "high")]
    assert _chart([0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22]) == [("trend_of_7", 0, 6, "high")]
    assert _chart([0.2] * 4 + [0.31, 0.2, 0.31] + [0.2] * 3) == [("two_of_three_beyond_2_sigma", 4, 6, "high")]
    assert _chart([0.2, 0.21, 0.19, 0.2, 0.22, 0.18]) == []


def test_ta_compliance_reports_each_reason_separately():
    cases = [
        fx.infusion("ok", "AAA", "axi-cel", "TA872", 60, dt.date(2025, 1, 1)),
        fx.infusion("mismatch", "AAA", "tisa-cel", "TA872", 60, dt.date(2025, 1, 1)),
        fx.infusion("too_young", "AAA", "brexu-cel", "TA893", 20, dt.date(2025, 1, 1)),
        fx.infusion("too_old", "AAA", "tisa-cel", "TA975", 26, dt.date(2025, 1, 1)),
        fx.infusion("not_recommended", "AAA", "axi-cel", "TA894", 50, dt.date(2025, 1, 1)),
        fx.infusion("superseded", "AAA", "axi-cel", "TA559", 60, dt.date(2023, 3, 1)),
        fx.infusion("before_successor", "AAA", "axi-cel", "TA559", 60, dt.date(2023, 1, 31)),
        fx.infusion("successor_day", "AAA", "tisa-cel", "TA554", 10, dt.date(2024, 5, 1)),
    ]
    data = fx.dataset(cases, [])
    reasons = metrics.ta_outside(data).select("episode_id", "reason_id").rows()
    assert sorted(reasons) == sorted(
        [
            ("mismatch", "ta_product_mismatch"),
            ("too_young", "ta_age_below"),
            ("too_old", "ta_age_above"),
            ("not_recommended", "ta_not_recommended"),
            ("superseded", "ta_superseded"),
            ("successor_day", "ta_superseded"),
        ]
    )
    (row,) = metrics.compute(data, "ta_outside").rows.to_dicts()
    assert (row["numerator"], row["denominator"]) == (6, 8)
    counts = dict(metrics.ta_outside_by_reason(data).select("reason_id", "infusions").iter_rows())
    assert counts == {
        "ta_product_mismatch": 1,
        "ta_age_below": 1,
        "ta_age_above": 1,
        "ta_not_recommended": 1,
        "ta_superseded": 2,
    }


def test_exceptions_and_their_reasons():
    rows = [
        fx.infusion("a", nearby_stay_days=20, carer_24h_available=True),
        fx.infusion(
            "b",
            nearby_stay_days=5,
            travel_exception_reason="patient_choice",
            carer_24h_available=False,
            carer_exception_reason="patient_declined",
        ),
        fx.infusion("c", nearby_stay_days=13, travel_exception_reason="patient_choice"),
        fx.infusion("d"),  # neither recorded: outside both denominators
    ]
    data = fx.dataset(rows, [])
    (travel,) = metrics.compute(data, "travel_exception").rows.to_dicts()
    (carer,) = metrics.compute(data, "carer_exception").rows.to_dicts()
    assert (travel["numerator"], travel["denominator"]) == (2, 3)
    assert (carer["numerator"], carer["denominator"]) == (1, 2)
    reasons = metrics.exception_reasons(data, "travel").rows()
    assert reasons == [("AAA", "patient_choice", 2)]


def test_cart12_review_times_by_panel():
    referrals = [
        {
            "referral_id": f"L{d}",
            "patient_id": "PATIENT0001",
            "panel": "lymphoma",
            "ta_code": "TA872",
            "age_at_referral": 60,
            "referral_date": dt.date(2025, 1, 1),
            "review_date": dt.date(2025, 1, 1) + dt.timedelta(days=d),
            "decision": "approved",
            "allocated_centre": "AAA",
        }
        for d in (2, 4, 6, 8, 10)
    ] + [
        {
            "referral_id": "A1",
            "patient_id": "PATIENT0002",
            "panel": "ALL",
            "ta_code": "TA893",
            "age_at_referral": 40,
            "referral_date": dt.date(2025, 2, 1),
            "review_date": dt.date(2025, 2, 4),
            "decision": "declined",
            "allocated_centre": None,
        },
        {
            "referral_id": "A2",
            "patient_id": "PATIENT0003",
            "panel": "ALL",
            "ta_code": "TA893",
            "age_at_referral": 40,
            "referral_date": dt.date(2025, 9, 1),
            "review_date": None,
            "decision": "pending",
            "allocated_centre": None,
        },
    ]
    table = {r["group"]: r for r in metrics.referral_to_review(fx.dataset([], [], referrals)).to_dicts()}
    assert table["lymphoma"] == {
        "group": "lymphoma",
        "reviewed": 5,
        "mean_days": 6.0,
        "median_days": 6.0,
        "p90_days": pytest.approx(9.2),
    }
    assert (table["ALL"]["reviewed"], table["ALL"]["median_days"]) == (1, 3.0)


def test_cart14_cytopenia_recovery():
    rows = [fx.infusion(e) for e in ("a", "b", "c", "d")]
    followup = [
        fx.outcome("a", cytopenia_grade_d30=3, cytopenia_onset_day=2, cytopenia_resolved_day=12),
        fx.outcome("b", cytopenia_grade_d30=4, cytopenia_onset_day=4, cytopenia_resolved_day=24),
        fx.outcome("c", cytopenia_grade_d30=3, cytopenia_onset_day=6, cytopenia_grade_d100=3),
        fx.outcome("d"),  # no cytopenia onset: not counted
    ]
    (row,) = metrics.cytopenia_recovery(fx.dataset(rows, followup)).to_dicts()
    assert (row["episodes_with_onset"], row["d30_grade_3"], row["d30_grade_4"], row["d100_grade_3"]) == (3, 2, 1, 1)
    assert (row["median_onset_day"], row["median_days_to_resolution"]) == (4.0, 15.0)
    assert row["share_unresolved_d100"] == pytest.approx(1 / 3)


def test_catalogue_and_code_define_the_same_metrics():
    proportions = [m.id for m in metrics.catalogue().values() if m.kind == "proportion"]
    assert proportions == list(PROPORTION_IDS)
    assert [m.id for m in metrics.catalogue().values() if m.kind == "summary"] == [
        "referral_to_review_days",
        "cytopenia_recovery",
    ]
    titles = {m.id: m.title for m in metrics.catalogue().values()}
    assert titles["referral_to_review_days"].startswith("CART12") and titles["cytopenia_recovery"].startswith("CART14")
    toxicity = {
        "crs_any",
        "crs_severe",
        "icans_any",
        "icans_severe",
        "itu_admission",
        "cytopenia_d30_severe",
        "cytopenia_d100_severe",
        "nrm_d100",
    }
    assert {m.id for m in metrics.catalogue().values() if m.adjustment == "product_mix"} == toxicity


def test_filters_from_a_url_keep_valid_values_and_note_the_rest():
    choices = Choices(frozenset({"AAA", "BBB"}), frozenset({"axi-cel"}), frozenset({"TA872"}), frozenset({"crs_any"}))
    chosen = parse(
        {
            "start": "2025-01-01",
            "end": "soon",
            "centre": ["AAA", "ZZZ", "BBB", "AAA"],
            "product": "axi-cel,cilta-cel",
            "age": "adults",
            "metric": "crs_any",
            "adjust": "weird",
            "ta": ["<script>"],
        },
        choices,
    )
    filters, view = chosen.filters, chosen.view
    assert (filters.start, filters.end, filters.centre, filters.product, filters.age) == (
        dt.date(2025, 1, 1),
        None,
        ("AAA", "BBB"),
        ("axi-cel",),
        ("adults",),
    )
    assert (view.metric, view.adjust, filters.ta) == ("crs_any", None, ())
    assert chosen.notes == (
        "end: 'soon' is not a date (use YYYY-MM-DD)",
        "centre: 'ZZZ' is not a known value",
        "product: 'cilta-cel' is not a known value",
        "ta: '<script>' is not a known value",
        "adjust: 'weird' is not a known value",
    )
    assert Filters(centre=("AAA",), start=dt.date(2025, 1, 1)).as_query() == {
        "start": ["2025-01-01"],
        "centre": ["AAA"],
    }


@pytest.mark.parametrize(
    ("query", "extract", "period", "noted"),
    [
        ({}, "2026-09-30", ("2023-10-01", "2026-09-30"), False),  # the three years to the extract date
        ({"start": "2025-01-01"}, "2026-09-30", ("2025-01-01", "2026-09-30"), False),  # open end: the extract date
        ({"end": "2024-12-31"}, "2026-09-30", ("2022-01-01", "2024-12-31"), False),  # three years before the end
        ({"start": "2026-01-01", "end": "2025-01-01"}, "2026-09-30", ("2023-10-01", "2026-09-30"), True),  # refused
        ({"start": "2027-01-01"}, "2026-09-30", ("2023-10-01", "2026-09-30"), False),  # starts after the data ends
    ],
)
def test_every_link_shows_a_stated_period(query, extract, period, noted):
    choices = Choices(frozenset(), frozenset(), frozenset(), frozenset(), dt.date.fromisoformat(extract))
    chosen = parse(query, choices)
    assert (chosen.filters.start.isoformat(), chosen.filters.end.isoformat()) == period
    assert bool(chosen.notes) == noted


@pytest.mark.parametrize("end", ["2026-09-30", "2027-02-28", "2028-02-28", "2028-02-29", "2024-12-31"])
def test_the_default_period_is_three_calendar_years_to_the_day(end):
    # Written from the calendar, not from the project: the period after three years back from the day after `end`
    # starts on that day's date (or 1 March when that date is 29 February and three years earlier has none).
    from dashboard.filters import default_start

    last = dt.date.fromisoformat(end)
    after = last + dt.timedelta(days=1)
    expected = (
        dt.date(after.year - 3, 3, 1) if (after.month, after.day) == (2, 29) else after.replace(year=after.year - 3)
    )
    assert default_start(last) == expected
    assert Filters().dated(last) == Filters(start=expected, end=last)


# --- On the sample: the planted findings are found, and the CLI says the same as the engine ---


def test_signals_on_the_sample_find_the_planted_outliers(seeded_sqlite):
    from dashboard import store
    from dashboard.loaders import load_dataset

    data = load_dataset(store.engine_for(seeded_sqlite))
    found = metrics.signals(data)
    alarms = found.filter(pl.col("severity") == "alarm").select("metric", "centre").rows()
    assert ("icans_severe", "MID02") in alarms
    completeness = found.filter(pl.col("kind") == "completeness")["centre"].to_list()
    assert completeness == ["NEY04"]
    assert found.filter(pl.col("kind") == "outside_ta").height >= 3
    assert not found.filter(pl.col("centre") == "NEY04").filter(pl.col("kind") == "funnel").height


def test_the_cli_prints_the_engines_figures_as_documented(seeded_sqlite):
    from dashboard import store
    from dashboard.loaders import load_dataset

    result = run_cli(
        "metrics",
        "--metric",
        "crs_severe",
        "--by",
        "centre",
        "--adjust",
        "crude",
        "--format",
        "json",
        "--database-url",
        seeded_sqlite,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) == {"metric", "by", "adjust", "as_of", "filters", "target", "dispersion", "rows"}
    # Without --start and --end: the three years to the extract date (2026-09-30 in the sample), as on screen.
    assert printed["filters"] == {
        "start": "2023-10-01",
        "end": "2026-09-30",
        "centre": [],
        "product": [],
        "ta": [],
        "age": [],
    }
    assert set(printed["rows"][0]) == {
        "group",
        "numerator",
        "denominator",
        "rate",
        "ci_low",
        "ci_high",
        "expected",
        "ratio",
        "limit_95_low",
        "limit_95_high",
        "limit_998_low",
        "limit_998_high",
        "p_value",
        "flag",
        "direction",
    }
    period = Filters(start=dt.date(2023, 10, 1), end=dt.date(2026, 9, 30))
    engine_rows = metrics.compute(
        load_dataset(store.engine_for(seeded_sqlite)), "crs_severe", by="centre", adjust="crude", filters=period
    ).rows
    assert [(r["group"], r["numerator"], r["denominator"]) for r in printed["rows"]] == engine_rows.select(
        "group", "numerator", "denominator"
    ).rows()
    bad = run_cli("metrics", "--metric", "crs_severe", "--centre", "NOPE", "--database-url", seeded_sqlite)
    assert (bad.returncode, bad.stderr.strip()) == (2, "cartgov: invalid filter: centre: 'NOPE' is not a known value")


@pytest.mark.parametrize("n", [5, 20, 100, 500])
@pytest.mark.parametrize("target", [0.03, 0.2])
def test_funnel_limits_agree_with_a_direct_scipy_computation(n, target):
    from scipy.stats import binom

    def direct(tail: float) -> tuple[float, float]:
        # The last count flagged low and the first flagged high, by the exact tails, then the interpolated position
        # between it and its neighbour within, written out by hand.
        low_count = max([x for x in range(n + 1) if binom.cdf(x, n, target) < tail], default=-1)
        high_count = min([x for x in range(n + 1) if binom.sf(x - 1, n, target) < tail], default=n + 1)
        inside = low_count + 1
        alpha = (binom.cdf(inside, n, target) - tail) / binom.pmf(inside, n, target)
        low = (inside - min(max(alpha, 0.001), 0.999)) / n
        inside = high_count - 1
        alpha = (binom.cdf(inside, n, target) - (1 - tail)) / binom.pmf(inside, n, target)
        high = (high_count - min(max(alpha, 0.001), 0.999)) / n
        return min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0)

    for level, key in ((0.95, "95"), (0.998, "998")):
        limits = stats.funnel_limits(target, np.array([n]), ratio=False)
        low, high = direct((1 - level) / 2)
        assert limits[f"limit_{key}_low"][0] == pytest.approx(low, abs=1e-9)
        assert limits[f"limit_{key}_high"][0] == pytest.approx(high, abs=1e-9)


@pytest.fixture(scope="module")
def generated() -> Dataset:
    return fx.generated(3_000, seed=5)  # the sample's generator, another seed


COUNTED_FILTERS = [
    Filters(),
    Filters(start=dt.date(2024, 1, 1), end=dt.date(2026, 9, 30)),
    Filters(centre=("MID02",)),
    Filters(centre=("LDN03", "NEY05"), product=("axi-cel",)),
    Filters(product=("tisa-cel",), age=("children", "tya")),
    Filters(ta=("TA872",), start=dt.date(2026, 9, 1), end=dt.date(2026, 9, 30)),  # one month: tiny counts
    Filters(start=dt.date(2030, 1, 1)),  # nothing in view
]


@pytest.mark.parametrize("filters", COUNTED_FILTERS, ids=str)
def test_counts_per_centre_product_and_quarter_give_every_metric_exactly_as_the_episodes_do(generated, filters):
    """The signals read every metric from one pass of counts (rates.counts); each table must be the one a page
    computes from the episodes: counts, rates, expected, limits, p-values and flags, for every grouping it serves."""
    as_of = generated.extract_date
    counts = metrics.rates.counts(generated, filters, as_of)
    for metric_id in PROPORTION_IDS:
        for by in (None, "centre", "product", "quarter"):
            for adjust in ("crude", "product_mix") if by == "centre" else ("crude",):  # the ratio matters by centre
                options = {"by": by, "filters": filters, "as_of": as_of, "adjust": adjust}
                from_episodes = metrics.rates.compute(generated, metric_id, per_episode=True, **options)
                from_counts = metrics.rates.compute(generated, metric_id, counts=counts, **options)
                shared = metrics.rates.compute(generated, metric_id, **options)  # the filter state's shared counts
                assert_frame_equal(shared.rows, from_counts.rows)
                where = (metric_id, by, adjust)
                assert from_counts.target == (from_episodes.target and pytest.approx(from_episodes.target)), where
                assert from_counts.national == from_episodes.national, where
                assert_frame_equal(from_counts.rows, from_episodes.rows, rel_tol=1e-9, check_dtypes=False), where
                if from_episodes.limits is not None:  # drawn only; each centre's own limits are in its row
                    ends = [(f["size"].min(), f["size"].max()) for f in (from_counts.limits, from_episodes.limits)]
                    assert ends[0] == pytest.approx(ends[1]), where


def test_a_filter_states_counts_are_made_once_and_only_the_latest_states_are_kept(monkeypatch):
    made = []
    counts = metrics.rates.counts
    monkeypatch.setattr(metrics.rates, "counts", lambda *args: made.append(args[1]) or counts(*args))
    data = fx.generated(300, seed=11)  # a dataset of its own: nothing kept with it yet
    for metric_id in ("crs_severe", "icans_severe"):
        for centre in ((), ("MID02",)):
            metrics.rates.compute(data, metric_id, by="centre", filters=Filters(centre=centre))
    assert made == [Filters()]  # two metrics, two centres, the completeness gate: one pass
    metrics.rates.compute(data, "crs_severe", as_of=dt.date(2025, 1, 1))  # another date: another pass
    assert made == [Filters(), Filters()]
    for day in range(metrics.rates.COUNTS_KEPT + 6):
        metrics.rates.compute(data, "crs_any", filters=Filters(start=dt.date(2023, 1, 1) + dt.timedelta(days=day)))
    assert len(data.derived("counts", lambda _: None).values) == metrics.rates.COUNTS_KEPT


def test_sessions_asking_for_a_new_filter_states_counts_at_once_wait_for_one_pass(monkeypatch):
    made = []
    counts = metrics.rates.counts

    def slow_counts(*args):
        made.append(args[1])
        time.sleep(0.3)  # long enough for every thread to ask while the first is still counting
        return counts(*args)

    monkeypatch.setattr(metrics.rates, "counts", slow_counts)
    data = fx.generated(300, seed=12)
    threads = [threading.Thread(target=metrics.rates.compute, args=(data, "crs_any")) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [Filters()]
