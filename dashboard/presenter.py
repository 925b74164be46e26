"""Signals and metric tables in words (and signals' links), written after the gate from what it lets through
(pure: no Streamlit)."""

from __future__ import annotations

import polars as pl

from dashboard import meaning, pages, wording
from dashboard.gate import SUPPRESSED
from dashboard.metrics.catalogue import catalogue
from dashboard.metrics.rates import MetricTable
from dashboard.stats import SPC_RULES

FEW_EVENTS = 3  # a signal on fewer events says so

# The page that explains a signal on a metric; funnel and completeness signals open the centre's own page.
PAGE_OF = {
    "itu_admission": pages.ITU,
    "ta_outside": pages.NICE_TA,
    "travel_exception": pages.EXCEPTIONS,
    "carer_exception": pages.EXCEPTIONS,
    "followup_d30_complete": pages.DATA_QUALITY,
    "followup_d100_complete": pages.DATA_QUALITY,
}


def _count(value: int | None) -> str:
    return SUPPRESSED if value is None else f"{value:,}"


def _few_events(events: int | None) -> str:
    """A signal resting on very few events says so: one more or one fewer patient could change it."""
    if events is None:
        return "; rests on 1-7 events (withheld)"
    if events < FEW_EVENTS:
        return f"; rests on {'one event' if events == 1 else f'{events} events'}"
    return ""


PER_CENTRE = ("funnel", "completeness", "cusum")  # the kinds of signal that are about one centre


def signal_text(signal: dict) -> str:
    """One line a panel can read: who, what, how far, on what numbers (withheld counts as *)."""
    detail = signal_detail(signal)
    return f"{signal['centre']}: {detail}" if signal["kind"] in PER_CENTRE else detail


def signal_detail(signal: dict) -> str:
    """A signal in words without the centre it is about (a meeting's agenda names the centre as its reader knows
    it)."""
    title = catalogue()[signal["metric"]].title
    kind = signal["kind"]
    if kind == "funnel":
        metric = catalogue()[signal["metric"]]
        if signal["ratio"] is not None:
            value = f"observed/expected {signal['ratio']:.2f}"
        elif signal["rate"] is not None and signal["target"] is not None:
            value = f"{signal['rate']:.1%} against {signal['target']:.1%}"
        else:
            value = "figures withheld"
        counts = f"{_count(signal['numerator'])} of {_count(signal['denominator'])}"
        return (
            f"{title}: {meaning.words(metric, signal['rule']).lower()} ({value}, {counts}, "
            f"{meaning.p_text(signal['p_value'])}){_few_events(signal['numerator'])}"
        )
    if kind == "cusum":
        return (
            f"{title}: early warning, the CUSUM crossed its threshold in {wording.month(signal['period_end'])} "
            f"({_count(signal['numerator'])} events in {_count(signal['denominator'])} patients since "
            f"{wording.month(signal['period_start'])}, {signal['expected']:.1f} expected)"
        )
    if kind == "spc":
        return (
            f"{title}: {SPC_RULES[signal['rule']]} ({signal['side']}), {wording.quarter(signal['period_start'])} "
            f"to {wording.quarter(signal['period_end'])}"
        )
    if kind == "completeness":
        rate = "withheld" if signal["rate"] is None else f"{signal['rate']:.0%}"
        return (
            f"day-30 follow-up {signal['rule']} complete: outcomes not flagged ({rate}, "
            f"{_count(signal['numerator'])} of {_count(signal['denominator'])})"
        )
    return f"{_count(signal['numerator'])} infusions outside their TA: {signal['reason']}"


def _signal_key(signal: dict) -> tuple:
    """What makes a signal the same one in another period: a centre's on a metric, or England's on a rule."""
    per_centre = signal["kind"] in PER_CENTRE
    return (signal["kind"], signal["metric"], signal["centre"] if per_centre else signal["rule"])


def since(current: pl.DataFrame, previous: pl.DataFrame) -> dict[str, list[str]]:
    """The signals of this period against the period before, in words: new, still raised (with the level it had),
    and no longer raised."""
    before = {_signal_key(s): s for s in previous.iter_rows(named=True)}
    now = {_signal_key(s): s for s in current.iter_rows(named=True)}
    changes: dict[str, list[str]] = {"New": [], "Still raised": [], "No longer raised": []}
    for key, signal in now.items():
        line = f"{signal['severity'].upper()}: {signal_text(signal)}"
        if key not in before:
            changes["New"].append(line)
        else:
            was = before[key]["severity"]
            changes["Still raised"].append(line + ("" if was == signal["severity"] else f" (was {was.upper()})"))
    changes["No longer raised"] = [
        f"{s['severity'].upper()}: {signal_text(s)}" for key, s in before.items() if key not in now
    ]
    return changes


def signal_link(signal: dict, query: dict[str, list[str]]) -> tuple[str, dict[str, list[str]]]:
    """The page (its URL path) and query that explain a signal, from the viewer's own query (centres already in
    their labels)."""
    base = {k: v for k, v in query.items() if k not in ("metric", "centre", "adjust")}
    if signal["kind"] in ("funnel", "cusum"):
        return pages.CENTRES.path, {**base, "centre": [signal["centre"]], "metric": [signal["metric"]]}
    if signal["kind"] == "spc":
        keep_centre = {"centre": query["centre"]} if "centre" in query else {}
        page = PAGE_OF.get(signal["metric"], pages.TOXICITY)
        return page.path, {**base, **keep_centre, "metric": [signal["metric"]]}
    return PAGE_OF[signal["metric"]].path, base


def metric_rows(table: MetricTable) -> pl.DataFrame:
    """A metric table as a panel reads it: the flag in words for this metric, the exact p as people quote it, and
    a note on every rate that rests on fewer than 8 patients."""
    rows = meaning.in_words(table.metric, table.rows)
    return rows.with_columns(
        pl.col("p_value").map_elements(_p_cell, return_dtype=pl.Utf8, skip_nulls=False),
        _low_numbers_note(),
    )


def profile_rows(profile: pl.DataFrame) -> pl.DataFrame:
    """A centre's profile (every metric against England) as a panel reads it: each flag in words for its own
    metric, low numbers marked. (An observer's profile has no p: the gate withholds it.)"""
    metrics = catalogue()
    words = [meaning.words(metrics[m], f) for m, f in zip(profile["metric"], profile["flag"], strict=True)]
    shown = profile.with_columns(
        pl.Series("flag", words, pl.Utf8),
        _low_numbers_note(),
    )
    if "p_value" in shown.columns:
        shown = shown.with_columns(pl.col("p_value").map_elements(_p_cell, return_dtype=pl.Utf8))
    return shown.drop("metric", "direction", "concern", "adjust", strict=False)


def _low_numbers_note() -> pl.Expr:
    """The low-numbers flag as the note a reader sees (withheld counts count as low)."""
    return (
        pl.when(pl.col("low_numbers").fill_null(True))
        .then(pl.lit(meaning.LOW_NUMBERS_NOTE))
        .otherwise(pl.lit(""))
        .alias("low_numbers")
    )


def _p_cell(p: float | None) -> str:
    return meaning.p_text(p).removeprefix("p = ").removeprefix("p ")


def side_by_side(profile: pl.DataFrame) -> pl.DataFrame:
    """Every metric (rows) by product (columns): each cell the rate and the counts it rests on, marked when fewer
    than 8 patients."""

    def cell(rate: float | None, numerator: int | None, denominator: int | None, low: bool | None) -> str:
        if rate is None:
            return "no patients" if denominator == 0 else "withheld"
        counts = f"{_count(numerator)} of {_count(denominator)}"
        return f"{rate:.1%} ({counts})" + (f", {meaning.LOW_NUMBERS_NOTE}" if low or low is None else "")

    cells = profile.with_columns(
        pl.struct("rate", "numerator", "denominator", "low_numbers")
        .map_elements(
            lambda r: cell(r["rate"], r["numerator"], r["denominator"], r["low_numbers"]), return_dtype=pl.Utf8
        )
        .alias("cell")
    )
    return cells.pivot(on="product_code", index="title", values="cell")
