"""Statistics for governance: each method a small function, named and cited (no Streamlit).

Funnel limits follow Spiegelhalter, "Funnel plots for comparing institutional performance", Stat Med 2005;24:1185
(exact quantiles with interpolation), and overdispersion follows Spiegelhalter, "Handling over-dispersion of
performance indicators", Qual Saf Health Care 2005;14:347, as the CQC and FunnelPlotR apply it (10% winsorised
z-scores, DerSimonian-Laird additive random effects). SPC follows NHS England's Making Data Count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats as sps

Z95 = 1.959963984540054
LEVELS = {"95": 0.95, "998": 0.998}


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


# --- Funnel limits ---


def _interpolated_quantile(distribution, probability: float) -> np.ndarray:
    """Spiegelhalter (2005) appendix A.1.1: the exact quantile r_p, moved down by the interpolation alpha."""
    r = distribution.ppf(probability)
    at_r, below_r = distribution.cdf(r), distribution.cdf(r - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(at_r > below_r, (at_r - probability) / (at_r - below_r), 0.0)
    return r - alpha


def binomial_limits(target: float, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Control limits for a proportion on n patients: exact binomial quantiles with interpolation, within 0-1."""
    n = np.asarray(n, dtype=float)
    tail = (1 - level) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        distribution = sps.binom(n, target)
        low = _interpolated_quantile(distribution, tail) / n
        high = _interpolated_quantile(distribution, 1 - tail) / n
    valid = n > 0
    return np.where(valid, np.clip(low, 0, 1), np.nan), np.where(valid, np.clip(high, 0, 1), np.nan)


def poisson_limits(expected: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Control limits for an observed/expected ratio: exact Poisson quantiles of O given E, with interpolation."""
    expected = np.asarray(expected, dtype=float)
    tail = (1 - level) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        distribution = sps.poisson(expected)
        low = _interpolated_quantile(distribution, tail) / expected
        high = _interpolated_quantile(distribution, 1 - tail) / expected
    valid = expected > 0
    return np.where(valid, np.maximum(low, 0), np.nan), np.where(valid, high, np.nan)


# --- Overdispersion ---


@dataclass(frozen=True)
class Dispersion:
    """The spread between centres beyond chance: phi (the dispersion ratio) and tau-squared (0 when none)."""

    phi: float
    tau2: float
    centres: int


def _transformed(observed: np.ndarray, size: np.ndarray, target: float, ratio: bool):
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


def overdispersed_limits(target: float, size: np.ndarray, level: float, tau2: float,
                         ratio: bool = False) -> tuple[np.ndarray, np.ndarray]:
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
    """95% and 99.8% limits for each size (patients, or expected events for a ratio)."""
    limits = {}
    for name, level in LEVELS.items():
        if tau2 > 0:
            low, high = overdispersed_limits(target, size, level, tau2, ratio)
        elif ratio:
            low, high = poisson_limits(size, level)
        else:
            low, high = binomial_limits(target, size, level)
        limits[f"limit_{name}_low"], limits[f"limit_{name}_high"] = low, high
    return limits


def limits_curve(target: float, max_size: float, ratio: bool, tau2: float = 0.0, points: int = 200) -> pl.DataFrame:
    """The funnel as a table, like FunnelPlotR's limits lookup: size against each limit, for drawing or checking."""
    start = 1.0 if not ratio else max(max_size / 1000, 0.05)
    size = np.unique(np.concatenate([np.geomspace(start, max(max_size * 1.1, start * 2), points)]))
    if not ratio:
        size = np.unique(np.round(size))
    return pl.DataFrame({"size": size, **funnel_limits(target, size, ratio, tau2)})


def funnel_flag(value: pl.Expr) -> pl.Expr:
    """Where a centre's value falls against its limits: above_99.8, above_95, within, below_95, below_99.8."""
    return (
        pl.when(value.is_null() | pl.col("limit_95_high").is_null()).then(None)
        .when(value > pl.col("limit_998_high")).then(pl.lit("above_99.8"))
        .when(value > pl.col("limit_95_high")).then(pl.lit("above_95"))
        .when(value < pl.col("limit_998_low")).then(pl.lit("below_99.8"))
        .when(value < pl.col("limit_95_low")).then(pl.lit("below_95"))
        .otherwise(pl.lit("within"))
    )


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
    centre = table["numerator"].sum() / table["denominator"].sum()
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
        signals.append({"rule": rule, "description": SPC_RULES[rule], "from": periods[start], "to": periods[end],
                        "direction": direction})

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
            if beyond[i: i + 3].sum() >= 2:
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
