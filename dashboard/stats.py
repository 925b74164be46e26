"""Statistics for governance: each method a small function, named and cited (no Streamlit).

Funnel limits follow Spiegelhalter, "Funnel plots for comparing institutional performance", Stat Med 2005;24:1185
(exact quantiles with interpolation), and overdispersion follows Spiegelhalter, "Handling over-dispersion of
performance indicators", Qual Saf Health Care 2005;14:347, as the CQC and FunnelPlotR apply it (10% winsorised
z-scores, DerSimonian-Laird additive random effects). SPC follows NHS England's Making Data Count. The early
warning is the risk-adjusted Bernoulli CUSUM of Steiner, Cook, Farewell and Treasure, "Monitoring surgical
performance using risk-adjusted cumulative sum charts", Biostatistics 2000;1:441, its run lengths from the Markov
chain of Brook and Evans (Biometrika 1972;59:539), with the VLAD of Lovegrove et al. (Lancet 1997;350:1128).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

Z95 = 1.959963984540054
LEVELS = {"95": 0.95, "998": 0.998}
LEVELS_SHOWN = {"95": "95", "998": "99.8"}  # as the flags name them


def wilson_interval(numerator: pl.Expr, denominator: pl.Expr, z: float = Z95) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval for a proportion (Wilson 1927; Newcombe 1998, method 3). Null when nothing is counted."""
    n = denominator.cast(pl.Float64)
    p = numerator.cast(pl.Float64) / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * ((p * (1 - p) / n + z**2 / (4 * n**2)).sqrt()) / (1 + z**2 / n)
    valid = denominator > 0
    return (
        pl.when(valid).then((centre - half).clip(0, 1)),
        pl.when(valid).then((centre + half).clip(0, 1)),
    )


def with_rate(frame: pl.DataFrame, numerator: str = "numerator", denominator: str = "denominator") -> pl.DataFrame:
    """Add rate, ci_low and ci_high (Wilson 95%) to a frame of counts."""
    low, high = wilson_interval(pl.col(numerator), pl.col(denominator))
    return frame.with_columns(
        pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator)).alias("rate"),
        low.alias("ci_low"),
        high.alias("ci_high"),
    )


# --- Funnel limits and flags: the exact test, and lines drawn where it changes its answer ---

TAILS = {"95": 0.025, "998": 0.001}  # one-sided: beyond the 95% limit is a tail probability under 2.5%


class _Null:
    """The count a centre would show by chance: Poisson with mean E (observed/expected), or binomial on n at the
    target (a proportion). Scipy's distribution with its arguments, not frozen: freezing one copies it (0.4 ms),
    which costs more than the call, several times for every funnel of every page run."""

    def __init__(self, size: np.ndarray, target: float, ratio: bool) -> None:
        self.distribution: Any = sps.poisson if ratio else sps.binom
        self.arguments = (size,) if ratio else (size, target)

    def pmf(self, count: np.ndarray) -> np.ndarray:
        return self.distribution.pmf(count, *self.arguments)

    def cdf(self, count: np.ndarray) -> np.ndarray:
        return self.distribution.cdf(count, *self.arguments)

    def sf(self, count: np.ndarray) -> np.ndarray:
        return self.distribution.sf(count, *self.arguments)

    def ppf(self, tail: float) -> np.ndarray:
        return self.distribution.ppf(tail, *self.arguments)


def exact_tails(observed: np.ndarray, size: np.ndarray, target: float, ratio: bool) -> tuple[np.ndarray, np.ndarray]:
    """P(X >= x) and P(X <= x) under the target: the exact one-sided tail probabilities of each centre's count."""
    observed, size = np.asarray(observed, float), np.asarray(size, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        null = _Null(size, target, ratio)
        return null.sf(observed - 1), null.cdf(observed)


def p_value(observed: np.ndarray, size: np.ndarray, target: float, ratio: bool) -> np.ndarray:
    """The exact one-sided tail probability towards the side the centre lies on (the smaller one at the mean)."""
    observed, size = np.asarray(observed, float), np.asarray(size, float)
    high, low = exact_tails(observed, size, target, ratio)
    mean = size if ratio else size * target
    towards = np.where(observed > mean, high, np.where(observed < mean, low, np.minimum(high, low)))
    return np.where((size > 0) & ~np.isnan(observed), towards, np.nan)


def _boundaries(size: np.ndarray, target: float, ratio: bool, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """The largest count flagged low and the smallest flagged high (P(X <= l) < tail, P(X >= u) < tail), found
    with the very tail functions that flag. Each is within a count of the quantile; l may be -1, u above n."""
    null = _Null(size, target, ratio)
    low_quantile, high_quantile = null.ppf(tail), null.ppf(1 - tail)
    lowest = np.full(size.shape, -1.0)
    for step in (-2, -1, 0, 1):
        candidate = low_quantile + step
        lowest = np.where((candidate >= 0) & (null.cdf(candidate) < tail), candidate, lowest)
    highest = high_quantile + 2
    for step in (1, 0, -1):
        candidate = high_quantile + step
        highest = np.where(null.sf(candidate - 1) < tail, candidate, highest)
    return lowest, highest


def exact_limits(target: float, size: np.ndarray, level: str, ratio: bool) -> tuple[np.ndarray, np.ndarray]:
    """Limits drawn where the exact test changes its answer, on the plotted scale (rate, or observed/expected).

    Between the last count within and the first count flagged, at Spiegelhalter's (2005, appendix A.1.1)
    interpolated position (so the funnel is as smooth as his), kept strictly between the two counts: a point
    drawn beyond a line is flagged, and only then. (His upper limit sits one count lower, where a centre at the
    quantile count itself would be drawn beyond a line the exact test does not support.)
    """
    size = np.asarray(size, float)
    tail = TAILS[level]
    with np.errstate(divide="ignore", invalid="ignore"):
        null = _Null(size, target, ratio)
        lowest, highest = _boundaries(size, target, ratio, tail)
        above_low = null.pmf(lowest + 1)
        alpha_low = np.where(above_low > 0, (null.cdf(lowest + 1) - tail) / above_low, 0.5)
        below_high = null.pmf(highest - 1)
        alpha_high = np.where(below_high > 0, (null.cdf(highest - 1) - (1 - tail)) / below_high, 0.5)
        low = (lowest + 1 - np.clip(alpha_low, 0.001, 0.999)) / size
        high = (highest - np.clip(alpha_high, 0.001, 0.999)) / size
    valid = size > 0
    upper_bound = np.inf if ratio else 1.0
    return (
        np.where(valid, np.clip(low, 0, upper_bound), np.nan),
        np.where(valid, np.clip(high, 0, upper_bound), np.nan),
    )


# --- Overdispersion ---


@dataclass(frozen=True)
class Dispersion:
    """The spread between centres beyond chance: phi (the dispersion ratio) and tau-squared (0 when none)."""

    phi: float
    tau2: float
    centres: int


def _transformed(
    observed: np.ndarray, size: np.ndarray, target: float, ratio: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """Variance-stabilised value, its standard error and the target, as FunnelPlotR does.

    Proportions: arcsine square root, s = 1 / (2 sqrt(n)). Ratios O/E: square root, s = 1 / (2 sqrt(E)).
    """
    if ratio:
        return np.sqrt(observed / size), 1 / (2 * np.sqrt(size)), np.sqrt(target)
    return np.arcsin(np.sqrt(observed / size)), 1 / (2 * np.sqrt(size)), np.arcsin(np.sqrt(target))


def dispersion(observed: np.ndarray, size: np.ndarray, target: float, ratio: bool = False) -> Dispersion:
    """DerSimonian-Laird tau-squared from 10% winsorised z-scores (Spiegelhalter 2005, the CQC method)."""
    observed, size = np.asarray(observed, float), np.asarray(size, float)
    keep = size > 0
    observed, size = observed[keep], size[keep]
    k = len(size)
    if k < 2:
        return Dispersion(1.0, 0.0, k)
    y, s, theta = _transformed(observed, size, target, ratio)
    z = (y - theta) / s
    low, high = np.quantile(z, [0.1, 0.9])
    phi = float(np.mean(np.clip(z, low, high) ** 2))
    w = 1 / s**2
    denominator = w.sum() - (w**2).sum() / w.sum()
    # DerSimonian-Laird as Spiegelhalter (2005) and FunnelPlotR's tau_func apply it: positive once k phi > k - 1,
    # which a phi just under 1 can already be.
    tau2 = max(0.0, (k * phi - (k - 1)) / denominator)
    return Dispersion(phi, float(tau2), k)


def overdispersed_limits(
    target: float, size: np.ndarray, level: float, tau2: float, ratio: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Limits with additive random effects: theta +- z sqrt(s^2 + tau^2) on the transformed scale, back-transformed."""
    size = np.asarray(size, float)
    z = sps.norm.ppf(1 - (1 - level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        _, s, theta = _transformed(np.zeros_like(size), size, target, ratio)
        spread = z * np.sqrt(s**2 + tau2)
        if ratio:
            low, high = np.maximum(theta - spread, 0) ** 2, (theta + spread) ** 2
        else:
            low = np.sin(np.clip(theta - spread, 0, np.pi / 2)) ** 2
            high = np.sin(np.clip(theta + spread, 0, np.pi / 2)) ** 2
    valid = size > 0
    return np.where(valid, low, np.nan), np.where(valid, high, np.nan)


def funnel_limits(target: float, size: np.ndarray, ratio: bool, tau2: float = 0.0) -> dict[str, np.ndarray]:
    """95% and 99.8% limits at each size (patients, or expected events for a ratio). With overdispersion
    (tau-squared > 0) each line is the outer of the exact and the random-effects limits, as a flag needs both."""
    limits = {}
    for name, level in LEVELS.items():
        low, high = exact_limits(target, size, name, ratio)
        if tau2 > 0:
            wide_low, wide_high = overdispersed_limits(target, size, level, tau2, ratio)
            low, high = np.fmin(low, wide_low), np.fmax(high, wide_high)
        limits[f"limit_{name}_low"], limits[f"limit_{name}_high"] = low, high
    return limits


def limits_curve(target: float, sizes: np.ndarray, ratio: bool, tau2: float = 0.0, points: int = 200) -> pl.DataFrame:
    """The funnel as a table, like FunnelPlotR's limits lookup: size against each limit, for drawing or checking.
    Every centre's own size is on it, so the line drawn at a centre is exactly the limit it was judged by."""
    sizes = np.asarray(sizes, float)
    sizes = sizes[sizes > 0]
    largest = float(sizes.max()) if sizes.size else 1.0
    start = 1.0 if not ratio else max(largest / 1000, 0.05)
    size = np.geomspace(start, max(largest * 1.1, start * 2), points)
    if not ratio:
        size = np.round(size)
    size = np.unique(np.concatenate([size, sizes]))
    return pl.DataFrame({"size": size, **funnel_limits(target, size, ratio, tau2)})


FLAGS = ("above_99.8", "above_95", "within", "below_95", "below_99.8")


def funnel_flags(observed: np.ndarray, size: np.ndarray, target: float, ratio: bool, tau2: float = 0.0) -> np.ndarray:
    """Each centre's flag: beyond the 95% (99.8%) limit when its exact one-sided tail probability is under 2.5%
    (0.1%) on that side; with overdispersion, only when it is also beyond the random-effects limit. None where
    there is nothing to judge (no patients, or no expected events)."""
    observed, size = np.asarray(observed, float), np.asarray(size, float)
    high, low = exact_tails(observed, size, target, ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = observed / size
    flags = np.full(size.shape, "within", dtype=object)
    for name, level in LEVELS.items():  # 95 first, then 99.8 overwrites the stronger ones
        above, below = high < TAILS[name], low < TAILS[name]
        if tau2 > 0:
            wide_low, wide_high = overdispersed_limits(target, size, level, tau2, ratio)
            above, below = above & (value > wide_high), below & (value < wide_low)
        flags = np.where(above, f"above_{LEVELS_SHOWN[name]}", np.where(below, f"below_{LEVELS_SHOWN[name]}", flags))
    return np.where((size > 0) & ~np.isnan(observed), flags, np.array(None, dtype=object))


# --- Statistical process control ---

SPC_RULES = {
    "beyond_3_sigma": "a point beyond the 3-sigma limits",
    "run_of_7": "a run of 7 points on one side of the centre line",
    "trend_of_7": "a trend of 7 points rising or falling",
    "two_of_three_beyond_2_sigma": "2 of 3 points beyond 2 sigma on one side",
}


def p_chart(counts: pl.DataFrame, period: str = "quarter") -> tuple[pl.DataFrame, list[dict]]:
    """p-chart (numerator/denominator per period) with 2- and 3-sigma limits, and the Making Data Count signals.

    Returns the chart table and a list of signals, each naming its rule, the periods it covers and its side.
    """
    table = counts.filter(pl.col("denominator") > 0).sort(period)
    if table.height == 0:
        return table, []
    centre = float(table["numerator"].sum()) / float(table["denominator"].sum())
    sigma = (centre * (1 - centre) / table["denominator"].cast(pl.Float64)).sqrt()
    table = table.with_columns(
        (pl.col("numerator") / pl.col("denominator")).alias("rate"),
        pl.lit(centre).alias("centre_line"),
        (centre - 3 * sigma).clip(0, 1).alias("lower_3_sigma"),
        (centre + 3 * sigma).clip(0, 1).alias("upper_3_sigma"),
        (centre - 2 * sigma).clip(0, 1).alias("lower_2_sigma"),
        (centre + 2 * sigma).clip(0, 1).alias("upper_2_sigma"),
    )
    return table, spc_signals(table, period)


def spc_signals(table: pl.DataFrame, period: str = "quarter") -> list[dict]:
    rate = table["rate"].to_numpy()
    periods = table[period].to_list()
    side = np.sign(rate - table["centre_line"].to_numpy())
    signals = []

    def signal(rule: str, start: int, end: int, direction: str) -> None:
        signals.append(
            {
                "rule": rule,
                "description": SPC_RULES[rule],
                "from": periods[start],
                "to": periods[end],
                "direction": direction,
            }
        )

    for i in range(len(rate)):
        if rate[i] > table["upper_3_sigma"][i]:
            signal("beyond_3_sigma", i, i, "high")
        elif rate[i] < table["lower_3_sigma"][i]:
            signal("beyond_3_sigma", i, i, "low")
    for rule, values, length in (("run_of_7", side, 7), ("trend_of_7", np.sign(np.diff(rate)), 6)):
        # A trend of 7 points is 6 steps in one direction; a run of 7 is 7 points on one side.
        start = 0
        for i in range(1, len(values) + 1):
            if i == len(values) or values[i] != values[start] or values[start] == 0:
                if values[start] != 0 and i - start >= length:
                    end = i if rule == "trend_of_7" else i - 1
                    signal(rule, start, end, "high" if values[start] > 0 else "low")
                start = i
    upper2, lower2 = table["upper_2_sigma"].to_numpy(), table["lower_2_sigma"].to_numpy()
    for direction, beyond in (("high", rate > upper2), ("low", rate < lower2)):
        for i in range(len(rate) - 2):
            if beyond[i : i + 3].sum() >= 2:
                signal("two_of_three_beyond_2_sigma", i, i + 2, direction)
    return _merged(signals)


def _merged(signals: list[dict]) -> list[dict]:
    """Overlapping windows of the same rule and side are one signal."""
    merged: list[dict] = []
    for s in sorted(signals, key=lambda s: (s["rule"], s["direction"], s["from"])):
        last = merged[-1] if merged else None
        if last and last["rule"] == s["rule"] and last["direction"] == s["direction"] and s["from"] <= last["to"]:
            last["to"] = max(last["to"], s["to"])
        else:
            merged.append(dict(s))
    return sorted(merged, key=lambda s: (s["from"], s["rule"]))


# --- Early warning between meetings: the risk-adjusted Bernoulli CUSUM and the VLAD ---

_CHUNK = 4096  # patients a CUSUM pass reads at once: its cost is one chunk per crossing, whatever the series' length


def cusum_scores(risk: np.ndarray, odds_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's score for an event and for no event: the log-likelihood ratio of the patient's odds multiplied
    by `odds_ratio` against their expected risk (Steiner et al. 2000, equation 2.2 with R0 = 1)."""
    scale = 1 - risk + odds_ratio * risk
    return np.log(odds_ratio / scale), -np.log(scale)


def bernoulli_cusum(
    risk: np.ndarray, event: np.ndarray, odds_ratio: float, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The chart after each patient in order, X_t = max(0, X_(t-1) + W_t) from X_0 = 0, and where it reached
    `threshold`; after a crossing it starts again from 0 (a signal, then a reset)."""
    on_event, on_none = cusum_scores(np.asarray(risk, dtype=np.float64), odds_ratio)
    score = np.where(np.asarray(event, dtype=bool), on_event, on_none)
    values, crossed = np.empty(len(score)), np.zeros(len(score), dtype=bool)
    start, level = 0, 0.0
    while start < len(score):
        # Within a stretch without a reset, X_t = C_t - min(-X_0, min of C_k for k <= t), C the cumulative score.
        climbed = np.cumsum(score[start : start + _CHUNK])
        path = climbed - np.minimum(-level, np.minimum.accumulate(climbed))
        over = np.flatnonzero(path >= threshold)
        stop = int(over[0]) + 1 if over.size else len(path)
        values[start : start + stop] = path[:stop]
        if over.size:
            crossed[start + stop - 1] = True
        level = 0.0 if over.size else float(path[-1])
        start += stop
    return values, crossed


def vlad(risk: np.ndarray, event: np.ndarray) -> np.ndarray:
    """The variable life-adjusted display: events observed minus events expected, cumulated patient by patient."""
    return np.cumsum(np.asarray(event, dtype=np.float64) - np.asarray(risk, dtype=np.float64))


def cusum_run_length(
    risks: np.ndarray,
    shares: np.ndarray,
    odds_ratio: float,
    threshold: float,
    true_odds_ratio: float = 1.0,
    states: int = 200,
) -> float:
    """The average number of patients before the chart reaches `threshold`, for patients whose expected risks are
    `risks` in proportions `shares`, when their true odds are `true_odds_ratio` times the expected ones (1: a centre
    as expected). Brook and Evans' Markov chain on `states` levels from 0 to the threshold, scores rounded to the
    nearest level."""
    risks, shares = np.asarray(risks, dtype=np.float64), np.asarray(shares, dtype=np.float64) / np.sum(shares)
    step = threshold / states
    level = np.arange(states)
    on_event, on_none = cusum_scores(risks, odds_ratio)
    true_risk = true_odds_ratio * risks / (1 - risks + true_odds_ratio * risks)
    moves = np.zeros((states, states))
    for share, p, up, down in zip(shares, true_risk, on_event, on_none, strict=True):
        for score, chance in ((up, p), (down, 1 - p)):
            following = np.maximum(level + round(score / step), 0)
            stays = following < states  # at or beyond the threshold: the run ends
            np.add.at(moves, (level[stays], following[stays]), share * chance)
    return float(np.linalg.solve(np.eye(states) - moves, np.ones(states))[0])


def cusum_thresholds(risks: np.ndarray, shares: np.ndarray, odds_ratio: float, run_lengths: np.ndarray) -> np.ndarray:
    """The threshold giving each in-control average run length (patients): the Markov chain's run length on a grid
    of thresholds, interpolated in log run length (which grows almost linearly with the threshold)."""
    grid = np.arange(0.25, 16.01, 0.25)
    logged = np.log([cusum_run_length(risks, shares, odds_ratio, h) for h in grid])
    logged = np.maximum.accumulate(logged)  # monotone for the interpolation (rounding can dent it by a hair)
    return np.interp(np.log(np.asarray(run_lengths, dtype=np.float64)), logged, grid)
