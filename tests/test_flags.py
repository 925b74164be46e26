"""Funnel flags against the exact test, computed here from first principles: a flag is raised exactly when the
one-sided binomial (or Poisson) tail probability is under 2.5% (95%) or 0.1% (99.8%), at every edge; the drawn
limits agree with the flags; a flag reads as better or worse in the metric's own direction."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from scipy import stats as sps

from dashboard import charts, metrics
from dashboard.metrics.rates import with_funnel
from tests.conftest import SAMPLE

TARGETS = [0.0, 0.001, 0.02, 0.08, 0.3, 0.5, 0.9, 0.978, 0.999, 1.0]
SIZES = [*range(1, 61), 75, 100, 137, 200, 333, 500, 750, 1000, 1500, 2000]
EXPECTED = [
    0.01,
    0.02,
    0.05,
    0.08,
    0.1,
    0.196,
    0.3,
    0.5,
    0.9,
    1.0,
    2.0,
    3.0,
    5.0,
    8.0,
    13.0,
    20.0,
    35.0,
    50.0,
    80.0,
    120.0,
    200.0,
    350.0,
    500.0,
]
SEVERITY = {"within": 0, "above_95": 1, "below_95": 1, "above_99.8": 2, "below_99.8": 2}


def exact_flag(high, low, alarm=0.001, alert=0.025) -> str:
    """The exact one-sided test: high = P(X >= x), low = P(X <= x) under the target."""
    if high < alarm:
        return "above_99.8"
    if high < alert:
        return "above_95"
    if low < alarm:
        return "below_99.8"
    if low < alert:
        return "below_95"
    return "within"


def proportion_rows(n: int, target: float) -> pl.DataFrame:
    x = np.arange(n + 1)
    return pl.DataFrame(
        {
            "group": [f"x{k}" for k in x],
            "numerator": x,
            "denominator": np.full(n + 1, n),
            "rate": x / n,
            "expected": np.full(n + 1, None, float),
            "ratio": np.full(n + 1, None, float),
        }
    )


def ratio_rows(expected: float) -> pl.DataFrame:
    observed = np.arange(int(expected + 8 * math.sqrt(expected) + 8))
    return pl.DataFrame(
        {
            "group": [f"o{k}" for k in observed],
            "numerator": observed,
            "denominator": np.full(len(observed), 1000),
            "rate": observed / 1000,
            "expected": np.full(len(observed), expected),
            "ratio": observed / expected,
        }
    )


def beyond_lines_agree(rows: pl.DataFrame, value: str) -> None:
    """A point beyond a drawn limit is flagged at that level, and only then."""
    for row in rows.iter_rows(named=True):
        flag, v = row["flag"], row[value]
        assert (v > row["limit_95_high"]) == (flag in ("above_95", "above_99.8")), row
        assert (v > row["limit_998_high"]) == (flag == "above_99.8"), row
        assert (v < row["limit_95_low"]) == (flag in ("below_95", "below_99.8")), row
        assert (v < row["limit_998_low"]) == (flag == "below_99.8"), row


@pytest.mark.parametrize("target", TARGETS)
def test_a_proportion_is_flagged_exactly_when_the_binomial_tail_says_so(target):
    for n in SIZES:
        rows, _, _ = with_funnel(proportion_rows(n, target), target, ratio_based=False, overdispersion=False)
        x = np.arange(n + 1)
        high, low = sps.binom.sf(x - 1, n, target), sps.binom.cdf(x, n, target)  # P(X >= x), P(X <= x)
        assert rows["flag"].to_list() == [exact_flag(h, lo) for h, lo in zip(high, low, strict=True)], n
        towards = np.where(x > n * target, high, np.where(x < n * target, low, np.minimum(high, low)))
        np.testing.assert_allclose(rows["p_value"].to_numpy(), towards, rtol=1e-9, atol=1e-300)
        beyond_lines_agree(rows, "rate")


def binomial_tails(x: int, n: int, p: Fraction) -> tuple[Fraction, Fraction]:
    """P(X >= x) and P(X <= x) summed term by term in exact arithmetic."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    return sum(pmf[x:], Fraction(0)), sum(pmf[: x + 1], Fraction(0))


@pytest.mark.parametrize(
    "target", [Fraction(0), Fraction(1, 1000), Fraction(2, 25), Fraction(1, 2), Fraction(489, 500), Fraction(1)]
)
def test_small_centres_are_flagged_as_exact_rational_arithmetic_says(target):
    for n in range(1, 26):
        rows, _, _ = with_funnel(
            proportion_rows(n, float(target)), float(target), ratio_based=False, overdispersion=False
        )
        for x, flag in enumerate(rows["flag"].to_list()):
            high, low = binomial_tails(x, n, target)
            # At 1/1000 a tail of exactly 0.1% is not under 0.1%: thresholds as exact fractions too.
            assert flag == exact_flag(high, low, Fraction(1, 1000), Fraction(1, 40)), (n, x)


def test_a_centre_at_100_percent_is_not_an_alarm_on_its_own():
    # 18 of 18 against England's 97.8%: P(X >= 18) = 0.978 ** 18 = 0.67.
    rows, _, _ = with_funnel(proportion_rows(18, 0.978), 0.978, ratio_based=False, overdispersion=False)
    last = rows.row(18, named=True)
    assert last["flag"] == "within" and last["p_value"] == pytest.approx(0.978**18)


@pytest.mark.parametrize("expected", EXPECTED)
def test_observed_over_expected_is_flagged_exactly_when_the_poisson_tail_says_so(expected):
    rows, _, _ = with_funnel(ratio_rows(expected), 1.0, ratio_based=True, overdispersion=False)
    observed = rows["numerator"].to_numpy()
    high, low = sps.poisson.sf(observed - 1, expected), sps.poisson.cdf(observed, expected)
    assert rows["flag"].to_list() == [exact_flag(h, lo) for h, lo in zip(high, low, strict=True)]
    towards = np.where(observed > expected, high, np.where(observed < expected, low, np.minimum(high, low)))
    np.testing.assert_allclose(rows["p_value"].to_numpy(), towards, rtol=1e-9, atol=1e-300)
    beyond_lines_agree(rows, "ratio")


def test_one_death_on_a_small_expected_count_is_not_an_alert():
    # EOE02: 1 of 5, 0.196 expected: P(O >= 1) = 1 - exp(-0.196) = 0.178.
    rows, _, _ = with_funnel(ratio_rows(0.196), 1.0, ratio_based=True, overdispersion=False)
    one = rows.row(1, named=True)
    assert one["flag"] == "within" and one["p_value"] == pytest.approx(1 - math.exp(-0.196))
    # 1 on 0.01 expected: P = 0.00995, beyond 95% but not 99.8%.
    rows, _, _ = with_funnel(ratio_rows(0.01), 1.0, ratio_based=True, overdispersion=False)
    assert rows.row(1, named=True)["flag"] == "above_95"


# --- On the sample: every funnel a page draws ---


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from dashboard import store
    from dashboard.ingest import ingest
    from dashboard.loaders import load_dataset

    engine = store.engine_for(f"sqlite:///{tmp_path_factory.mktemp('flags') / 'cartgov.db'}")
    ingest(engine, [SAMPLE])
    return load_dataset(engine)


def _exact_severity(row: dict, target: float, ratio: bool) -> int:
    x = row["numerator"]
    if ratio:
        high, low = sps.poisson.sf(x - 1, row["expected"]), sps.poisson.cdf(x, row["expected"])
    else:
        high, low = sps.binom.sf(x - 1, row["denominator"], target), sps.binom.cdf(x, row["denominator"], target)
    return SEVERITY[exact_flag(high, low)]


def _drawn(figure: go.Figure, name: str, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The line of a limit as drawn (side 0: the lower, 1: the upper)."""
    lines = sorted((t for t in figure.data if t.name == name), key=lambda t: np.nanmean(np.array(t.y, float)))
    return np.array(lines[side].x, float), np.array(lines[side].y, float)


@pytest.mark.parametrize("adjust", ["crude", "product_mix"])
@pytest.mark.parametrize("overdispersion", [False, True])
def test_on_every_sample_funnel_a_point_is_drawn_beyond_a_line_exactly_when_flagged(sample, adjust, overdispersion):
    value = "ratio" if adjust == "product_mix" else "rate"
    for metric in metrics.proportions().values():
        table = metrics.compute(sample, metric.id, by="centre", adjust=adjust, overdispersion=overdispersion)
        if table.limits is None:
            continue
        figure = charts.funnel(table)
        size = "expected" if adjust == "product_mix" else "denominator"
        plotted = table.rows.filter((pl.col("denominator") > 0) & pl.col(value).is_not_null())
        for level in ("95", "998"):
            name = "99.8% limits" if level == "998" else "95% limits"
            (lx, low), (hx, high) = _drawn(figure, name, 0), _drawn(figure, name, 1)
            at = plotted[size].to_numpy()
            drawn_low, drawn_high = np.interp(at, lx, low), np.interp(at, hx, high)
            for row, dl, dh in zip(plotted.iter_rows(named=True), drawn_low, drawn_high, strict=True):
                flag = row["flag"]
                if flag == "insufficient follow-up":
                    continue
                side = flag.split("_")[0] if flag != "within" else None
                strong = flag.endswith("99.8")
                beyond_high, beyond_low = row[value] > dh, row[value] < dl
                assert beyond_high == (side == "above" and (level == "95" or strong)), (metric.id, row, dh)
                assert beyond_low == (side == "below" and (level == "95" or strong)), (metric.id, row, dl)
        # Overdispersion only ever widens: never a flag the exact test does not support.
        for row in plotted.iter_rows(named=True):
            if row["flag"] in SEVERITY:
                assert SEVERITY[row["flag"]] <= _exact_severity(row, table.target, adjust == "product_mix"), row
