"""The early warning: the risk-adjusted Bernoulli CUSUM and the VLAD against a hand-computed series and an
implementation written here from Steiner et al. (2000), run lengths against a simulation, and the generator's doubled
centre found within its quarter."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from dashboard import metrics, stats, synthetic
from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics import early_warning
from tests import fixtures
from tests.fixtures import AS_OF, infusion, outcome


def loop_cusum(risk, event, odds_ratio, threshold):
    """X_t = max(0, X_(t-1) + W_t), W_t = log-likelihood ratio of odds x odds_ratio against odds (Steiner et al.
    2000, section 2), back to 0 after reaching the threshold: one patient at a time."""
    values, crossed, level = [], [], 0.0
    for p, y in zip(risk, event, strict=True):
        score = math.log(odds_ratio / (1 - p + odds_ratio * p)) if y else math.log(1 / (1 - p + odds_ratio * p))
        level = max(0.0, level + score)
        values.append(level)
        crossed.append(level >= threshold)
        if level >= threshold:
            level = 0.0
    return np.array(values), np.array(crossed, dtype=bool)


def test_a_cusum_computed_by_hand():
    # W = log(2 / 1.2) = 0.5108, log(1 / 1.5) = -0.4055, log(2 / 1.1) = 0.5978.
    values, crossed = stats.bernoulli_cusum(np.array([0.2, 0.5, 0.1]), np.array([1, 0, 1]), 2.0, 10.0)
    assert values == pytest.approx([0.510826, 0.105361, 0.703198], abs=1e-6)
    assert not crossed.any()
    # With the threshold at 0.5 the first event crosses it; the chart restarts from 0 and falls no lower.
    values, crossed = stats.bernoulli_cusum(np.array([0.2, 0.5, 0.1]), np.array([1, 0, 1]), 2.0, 0.5)
    assert values == pytest.approx([0.510826, 0.0, 0.597837], abs=1e-6)
    assert crossed.tolist() == [True, False, True]
    assert stats.vlad(np.array([0.2, 0.5, 0.1]), np.array([1, 0, 1])) == pytest.approx([0.8, 0.3, 1.2])


@pytest.mark.parametrize("length", [0, 1, 2, 7, 4096, 4097, 10_000])
@pytest.mark.parametrize("threshold", [0.01, 0.7, 3.0, 8.0, math.inf])
def test_the_cusum_matches_one_written_patient_by_patient(length, threshold):
    rng = np.random.default_rng(length + int(min(threshold, 99) * 10))
    # Risks at the edges (0, 1, tiny) and in between; events that may be impossible under the risk (an event at a
    # risk of 0), and long runs with and without crossings across the chunk the chart reads at once.
    risk = rng.choice([0.0, 1e-9, 0.01, 0.1, 0.3, 0.5, 0.9, 1.0], size=length)
    event = rng.random(length) < np.where(rng.random(length) < 0.5, risk, 0.5)
    values, crossed = stats.bernoulli_cusum(risk, event, 2.0, threshold)
    expected_values, expected_crossed = loop_cusum(risk, event, 2.0, threshold)
    assert values == pytest.approx(expected_values, abs=1e-9)
    assert crossed.tolist() == expected_crossed.tolist()
    assert stats.vlad(risk, event) == pytest.approx(np.cumsum(event.astype(float) - risk), abs=1e-9)


def simulated_run_length(risks, shares, threshold, true_odds_ratio, runs=6000, seed=11):
    """Average patients to a crossing over `runs` charts, each patient's risk drawn from the mix and the event from
    the true risk (odds times true_odds_ratio); scores from Steiner et al.'s equation with odds ratio 2."""
    rng = np.random.default_rng(seed)
    level, stopped, alive, patients = np.zeros(runs), np.zeros(runs), np.ones(runs, dtype=bool), 0
    while alive.any():
        patients += 1
        p = rng.choice(risks, size=runs, p=shares / shares.sum())
        truth = true_odds_ratio * p / (1 - p + true_odds_ratio * p)
        event = rng.random(runs) < truth
        score = np.where(event, np.log(2 / (1 + p)), np.log(1 / (1 + p)))
        level = np.where(alive, np.maximum(0.0, level + score), level)
        done = alive & (level >= threshold)
        stopped[done] = patients
        alive &= ~done
    return stopped.mean(), stopped.std() / math.sqrt(runs)


@pytest.mark.parametrize(
    "risks, shares, run_length",
    [
        ([0.05, 0.2, 0.5], [0.3, 0.5, 0.2], 100),  # a mix of products
        ([0.1], [1.0], 60),  # one product, a short run
        ([0.02, 0.25], [0.6, 0.4], 400),  # rare events, a long run
    ],
)
def test_the_threshold_gives_the_run_length_asked_for_in_a_simulation(risks, shares, run_length):
    risks, shares = np.array(risks), np.array(shares)
    (threshold,) = stats.cusum_thresholds(risks, shares, 2.0, np.array([run_length]))
    in_control, error = simulated_run_length(risks, shares, threshold, 1.0)
    assert abs(in_control - run_length) < max(4 * error, 0.05 * run_length), (threshold, in_control)
    # And the Markov chain's run length when the odds have doubled (the change it is built to find).
    shifted, error = simulated_run_length(risks, shares, threshold, 2.0)
    chain = stats.cusum_run_length(risks, shares, 2.0, threshold, true_odds_ratio=2.0)
    assert abs(chain - shifted) < max(4 * error, 0.05 * shifted), (chain, shifted)
    assert shifted < in_control / 2


def test_longer_run_lengths_need_higher_thresholds():
    risks, shares = np.array([0.1, 0.3]), np.array([1.0, 1.0])
    levels = stats.cusum_thresholds(risks, shares, 2.0, np.array([25, 50, 100, 200, 400, 800, 1600]))
    assert (np.diff(levels) > 0).all()


# --- Per centre, in the store's data ---


def small_store() -> Dataset:
    """AAA: ten patients on axi-cel, events on the last four; BBB: ten on tisa-cel, one event; CCC: none. The dates
    run in the order the episodes are listed, which is not the order of their ids."""
    rows, outcomes = [], []
    for centre, product, events in (("AAA", "axi-cel", range(6, 10)), ("BBB", "tisa-cel", (0,))):
        for i in range(10):
            episode = f"{centre}{9 - i}"  # ids run against the dates
            rows.append(infusion(episode, centre, product, date=dt.date(2025, 1, 1) + dt.timedelta(days=7 * i)))
            outcomes.append(outcome(episode, icans=3 if i in events else 0))
    return fixtures.dataset(rows, outcomes)


def test_a_centres_chart_follows_its_patients_in_infusion_order_at_englands_rate_for_their_product():
    data = small_store()
    chart = early_warning.series(data, "icans_severe", Filters(), AS_OF)
    levels = early_warning.thresholds(data).filter(pl.col("metric") == "icans_severe")
    for centre, product_rate in (("AAA", 4 / 10), ("BBB", 1 / 10)):
        own = chart.filter(pl.col("centre_code") == centre)
        assert own["infusion_date"].is_sorted() and own.height == 10
        assert own["risk"].to_list() == pytest.approx([product_rate] * 10)
        threshold = levels.filter(pl.col("centre_code") == centre)["threshold"][0]
        values, crossed = loop_cusum(own["risk"].to_list(), own["event"].to_list(), 2.0, threshold)
        assert own["cusum"].to_list() == pytest.approx(values.tolist())
        assert own["crossed"].to_list() == crossed.tolist()
        assert own["vlad"].to_list() == pytest.approx(np.cumsum(own["event"].cast(float) - product_rate).tolist())
    # A centre's own filter leaves England's rates (the expected risks) where they were.
    only_aaa = early_warning.series(data, "icans_severe", Filters(centre=("AAA",)), AS_OF)
    assert only_aaa["centre_code"].unique().to_list() == ["AAA"]
    assert only_aaa["risk"].to_list() == pytest.approx([0.4] * 10)


def test_each_centres_threshold_is_for_five_years_of_its_own_patients_or_a_typical_centres():
    levels = early_warning.thresholds(small_store()).filter(pl.col("metric") == "icans_severe")
    by_centre = {r["centre_code"]: r for r in levels.iter_rows(named=True)}
    # Ten patients each in the last three years: 10/3 a year; CCC treats none and is held to the typical centre's.
    for centre in ("AAA", "BBB", "CCC"):
        assert by_centre[centre]["patients_a_year"] == pytest.approx(10 / 3)
        assert by_centre[centre]["run_length"] == pytest.approx(50 / 3)
    risks, shares = np.array([0.4, 0.1]), np.array([10, 10])
    (expected,) = stats.cusum_thresholds(risks, shares, 2.0, np.array([50 / 3]))
    assert by_centre["AAA"]["threshold"] == pytest.approx(expected)


def test_a_metric_nobody_has_had_is_never_charted_to_a_crossing():
    data = fixtures.dataset(
        [infusion(f"E{i}", "AAA", date=dt.date(2025, 1, 1) + dt.timedelta(days=i)) for i in range(5)],
        [outcome(f"E{i}") for i in range(5)],
    )
    assert early_warning.thresholds(data)["threshold"].is_infinite().all()
    assert not early_warning.series(data, "crs_severe", Filters(), AS_OF)["crossed"].any()
    assert early_warning.recent_crossings(data, Filters(), AS_OF).height == 0


def test_the_cusum_warns_on_a_centre_whose_toxicity_doubled_in_its_last_quarter_before_that_quarter_ends():
    """At registry volumes (100,000 infusions), LDN01's odds of every toxicity double in the three months to the
    extract date. A quarter's funnel is drawn once the quarter is over and its day-30 follow-up is in; the CUSUM has
    crossed, on patients whose day-30 outcome was due at least a month before the quarter ended."""
    as_of = synthetic.DEFAULT_AS_OF
    quarter_from = as_of - dt.timedelta(days=synthetic.WORSE_DAYS)
    view = Filters(centre=("LDN01",)).dated(as_of)
    worse, same = fixtures.generated(100_000, 5, "LDN01"), fixtures.generated(100_000, 5)
    for metric_id in early_warning.WATCHED:
        crossings = early_warning.series(worse, metric_id, view).filter(
            pl.col("crossed") & (pl.col("infusion_date") > quarter_from)
        )
        assert crossings.height, metric_id
        assert crossings["infusion_date"].min() + dt.timedelta(days=30) < as_of, metric_id
        # The same seed without the change: no crossing at LDN01 in that quarter (the draws are the same).
        unchanged = early_warning.series(same, metric_id, view)
        assert not unchanged.filter(pl.col("crossed") & (pl.col("infusion_date") > quarter_from)).height, metric_id
    warnings = metrics.signals(worse, view).filter(pl.col("kind") == "cusum")
    assert set(warnings["metric"]) == set(early_warning.WATCHED)
    assert (warnings["period_end"] > quarter_from).all()


def test_a_lead_sees_a_peers_warning_by_month_and_an_observer_sees_none():
    from dashboard import access, gate

    data = fixtures.generated(3000, 2026)
    view = Filters().dated(data.extract_date)
    records = metrics.signals(data, view).filter(pl.col("kind") == "cusum")
    assert records.height >= 2 and "MID02" in records["centre"].to_list()
    centres = list(data["centres"]["centre_code"])
    lead = gate.Gate(access.Policy.for_viewer(access.Viewer("lead", "centre", "MID02"), centres, "secret"))
    shown = lead.signals(records)
    own = shown.filter(pl.col("centre") == access.OWN_CENTRE)
    peers = shown.filter(pl.col("centre") != access.OWN_CENTRE)
    assert own.height and peers.height
    exact = records.filter(pl.col("centre") == "MID02").sort("metric")
    assert own.sort("metric")["period_end"].to_list() == exact["period_end"].to_list()
    assert (peers["period_start"].dt.day() == 1).all()
    assert (peers["period_end"] == peers["period_end"].dt.month_end()).all()
    assert not set(records["centre"]) & set(shown["centre"])  # every centre under its label
    observed = metrics.signals(data, view, disclose=gate.suppressed_metric)
    assert observed.filter(pl.col("kind") == "cusum").height == 0
