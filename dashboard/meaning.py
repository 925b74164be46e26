"""What a funnel flag means, in words and colours the same on every chart, table, signal and pack: worse in warm
colours, better in cool ones, read in each metric's own direction (the flag codes stay for the command line)."""

from __future__ import annotations

import polars as pl

from dashboard.metrics.catalogue import Metric

# meaning: (words, colour), from worst to best
MEANINGS = {
    "worse_99.8": ("Worse than expected (99.8%)", "#B1231A"),
    "worse_95": ("Worse (95%)", "#ED8B00"),
    "as_expected": ("As expected", "#768692"),
    "better_95": ("Better (95%)", "#41B6E6"),
    "better_99.8": ("Better (99.8%)", "#003087"),
    "insufficient_follow_up": ("Insufficient follow-up", "#D8DDE0"),
}
NOT_JUDGED = ("Not judged", "#425563")  # no funnel for this view (no national rate, or no patients)
LOW_NUMBERS_NOTE = "fewer than 8 patients"


def words(metric: Metric, flag: str | None) -> str:
    return MEANINGS.get(metric.meaning(flag) or "", NOT_JUDGED)[0]


def colour(metric: Metric, flag: str | None) -> str:
    return MEANINGS.get(metric.meaning(flag) or "", NOT_JUDGED)[1]


def in_words(metric: Metric, frame: pl.DataFrame, column: str = "flag") -> pl.DataFrame:
    """A table's flag column as words a panel reads ("Worse (95%)"), not codes."""
    if column not in frame.columns:
        return frame
    return frame.with_columns(
        pl.col(column).map_elements(lambda flag: words(metric, flag), return_dtype=pl.Utf8, skip_nulls=False)
    )


def p_text(p: float | None) -> str:
    """An exact tail probability as people quote it: p = 0.03, p = 0.0004, p < 0.0001."""
    if p is None:
        return "p withheld"
    if p < 0.0001:
        return "p < 0.0001"
    return f"p = {p:.2g}" if p < 0.01 else f"p = {p:.2f}"
