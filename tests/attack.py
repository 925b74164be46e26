"""Back-solving attacks on what an observer is given: every way a count could be worked back from the figures sent
beside it. Written from first principles (scipy's normal quantile, the Wilson formula), never the project's code.

Under suppression every count shown is 0 or a multiple of 5 (counts of 1-7 withheld, others rounded), so any count
an attack recovers that is not a multiple of 5 is an exact count that should not have left the server.
"""

from __future__ import annotations

import base64
import re
from functools import cache

import numpy as np
import polars as pl
from scipy.stats import norm

from testkit.wire import Sent

LARGEST = 3200  # the sample's largest denominator (every infusion, all years) is under this
TOLERANCE = 1e-9
# Columns that count people or events, by the names a reader sees in tables and files.
COUNT_COLUMNS = {
    "numerator",
    "denominator",
    "infusions",
    "exceptions",
    "admissions",
    "referred",
    "approved",
    "infused",
    "reviewed",
    "d30_due",
    "d30_received",
    "d100_due",
    "d100_received",
    "rows_quarantined",
    "episodes_with_onset",
    "unresolved_d100",
    "d100_known",
    "england_numerator",
    "england_denominator",
}


@cache
def _wilson_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wilson 95% bounds of every (x, n) with n up to LARGEST, sorted by the upper bound."""
    z = norm.ppf(0.975)
    n = np.repeat(np.arange(1, LARGEST + 1), np.arange(2, LARGEST + 2))
    x = np.concatenate([np.arange(0, k + 1) for k in range(1, LARGEST + 1)])
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    order = np.argsort(high, kind="stable")
    return x[order], n[order], low[order], high[order]


def wilson_solutions(low: float, high: float) -> list[tuple[int, int]]:
    """Every (x, n) whose Wilson 95% interval is exactly (low, high)."""
    x, n, lows, highs = _wilson_table()
    start, stop = np.searchsorted(highs, high - TOLERANCE), np.searchsorted(highs, high + TOLERANCE)
    hits = np.nonzero(np.abs(lows[start:stop] - low) < TOLERANCE)[0] + start
    return [(int(x[i]), int(n[i])) for i in hits]


def _exact(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(x, n) for x, n in pairs if x % 5 or n % 5]


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return None if np.isnan(value) else float(value)
    text = str(value).replace(",", "")
    return float(text) if re.fullmatch(r"-?\d+(\.\d+)?", text) else None


def _values(value) -> list:
    """A Plotly array as a list, also when it was sent as a typed array ({"dtype": "i8", "bdata": base64})."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            array = array.reshape([int(s) for s in str(shape).split(",")])
        return array.tolist()
    return list(value) if isinstance(value, list | tuple) else []


def _counted(value) -> bool:
    """A number sent as an integer (a count), not a float that happens to be whole (a rate of 1.0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(value: float | None) -> int | None:
    return int(round(value)) if value is not None and abs(value - round(value)) < 1e-6 else None


def _exact_count(value: float | None) -> bool:
    whole = _whole(value)
    return whole is not None and whole % 5 != 0


def from_tables(sent: Sent) -> list[str]:
    found = []
    for table in sent.tables:
        frame = pl.from_arrow(table)
        for low in [c for c in frame.columns if c.endswith("ci_low")]:
            high = low.replace("ci_low", "ci_high")
            if high not in frame.columns:
                continue
            for lo, hi in zip(frame[low].to_list(), frame[high].to_list(), strict=True):
                lo, hi = _number(lo), _number(hi)
                if lo is not None and hi is not None and _exact(wilson_solutions(lo, hi)):
                    found.append(f"table {low}/{high} ({lo}, {hi}) = {_exact(wilson_solutions(lo, hi))}")
        if {"ratio", "expected"} <= set(frame.columns):
            for ratio, expected in zip(frame["ratio"].to_list(), frame["expected"].to_list(), strict=True):
                ratio, expected = _number(ratio), _number(expected)
                if ratio is not None and expected is not None and _exact_count(ratio * expected):
                    found.append(f"table ratio x expected = {ratio * expected}")
        for column in COUNT_COLUMNS & set(frame.columns):
            exact = [v for v in frame[column].to_list() if _exact_count(_number(v))]
            if exact:
                found.append(f"table column {column}: {exact[:5]}")
    return found


def _spc_sizes(traces: list[dict]) -> list[float]:
    """n worked back from a p-chart's 3-sigma limit and centre line: n = 9 p (1 - p) / (limit - p)^2."""
    named = {t.get("name"): t for t in traces}
    if "3 sigma" not in named or "mean" not in named:
        return []
    sizes = []
    for upper, p in zip(_values(named["3 sigma"].get("y")), _values(named["mean"].get("y")), strict=False):
        upper, p = _number(upper), _number(p)
        if upper is not None and p is not None and 0 < p < upper < 1:
            sizes.append(9 * p * (1 - p) / (upper - p) ** 2)
    return sizes


def from_figures(sent: Sent) -> list[str]:
    found = []
    for figure in sent.figures:
        traces = figure["data"]
        found += [f"SPC limit gives n = {n:.6f}" for n in _spc_sizes(traces) if _exact_count(n)]
        for trace in traces:
            kind, mode = trace.get("type", "scatter"), trace.get("mode", "")
            for row in _values(trace.get("customdata")):
                row = row if isinstance(row, list) else [row]
                numbers = [_number(v) for v in row]
                small = [v for v in row if _counted(v) and 1 <= v <= 7]
                if small:
                    found.append(f"{kind} hover data holds {small} in {row}")
                shares = [v for v in numbers if v is not None and 0 <= v <= 1]
                for i, lo in enumerate(shares):
                    for hi in shares[i + 1 :]:
                        if lo < hi and _exact(wilson_solutions(lo, hi)):
                            found.append(f"{kind} hover interval ({lo}, {hi}) = {_exact(wilson_solutions(lo, hi))}")
            for axis in ("x", "y"):
                bars = trace.get(f"error_{axis}") or {}
                values = _values(trace.get(axis))
                if bars.get("array") is None or not bars.get("visible", True):
                    continue
                plus_values = _values(bars["array"])
                minus_values = _values(bars.get("arrayminus")) or plus_values
                for value, plus, minus in zip(values, plus_values, minus_values, strict=False):
                    value, plus, minus = _number(value), _number(plus), _number(minus)
                    if None in (value, plus, minus):
                        continue
                    lo, hi = value - minus, value + plus
                    for scale in (1, 100):  # intervals drawn in percent too
                        pairs = _exact(wilson_solutions(lo / scale, hi / scale))
                        if pairs:
                            found.append(f"{kind} error bars ({lo}, {hi}) = {pairs}")
            if kind == "scatter" and "markers" in mode:
                for x, y in zip(_values(trace.get("x")), _values(trace.get("y")), strict=False):
                    x, y = _number(x), _number(y)
                    if x is not None and y is not None and _exact_count(x * y):
                        found.append(f"funnel point: size x value = {x * y}")
            if kind == "heatmap":
                cells = [v for row in _values(trace.get("z")) for v in (row if isinstance(row, list) else [row])]
                found += [f"heatmap cell {v}" for v in cells if _exact_count(_number(v))]
            if kind == "bar":
                counts = _values(trace.get("x" if trace.get("orientation") == "h" else "y"))
                found += [f"bar of {v}" for v in counts if _counted(v) and _exact_count(v)]
    return found


X_OF_N = re.compile(r"\b(\d[\d,]*) of (\d[\d,]*)\b(?! points| beyond)")


def from_texts(sent: Sent) -> list[str]:
    found = []
    for text in sent.texts:
        for x, n in X_OF_N.findall(text):
            if _exact_count(_number(x)) or _exact_count(_number(n)):
                found.append(f"text '{x} of {n}'")
    return found


def recovered(sent: Sent) -> list[str]:
    """Every exact count an attacker works back from what was sent (empty when suppression holds)."""
    return from_tables(sent) + from_figures(sent) + from_texts(sent)
