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


# "How to read this" beside each chart of a metric: what the lines and colours mean, in a panel's words.
HOW_TO_READ = {
    "funnel": (
        "Each point is a centre: across, how many patients it treated (or, adjusted for product mix, how many events "
        "its patients' products would lead one to expect); up, its rate (or observed / expected). The horizontal "
        "line is England. The funnel's lines are where chance alone becomes unlikely: a centre beyond the inner "
        "(95%) line would be there by chance less than 1 time in 40 on that side, beyond the outer (99.8%) line "
        "less than 1 in 1,000, judged by the exact binomial (or Poisson) probability of its count. Small centres "
        "sit at the wide left end, where one patient moves a rate a long way.\n\n"
        "**Adjusted for product mix** compares each centre with what England's rates for each product would give "
        "for its own patients, so a centre using a more toxic product is not flagged for its product choice. "
        "**Overdispersion** widens the lines when centres differ more than chance allows (real differences in "
        "case mix or recording), so that only the clearest outliers remain flagged."
    ),
    "caterpillar": (
        "Centres ranked from lowest to highest, each with its 95% interval (the range its true rate plausibly lies "
        "in). An interval that does not cross the dashed England line is a first hint, but the funnel's flag is the "
        "judgement: it allows for the number of comparisons and for each centre's size."
    ),
    "spc": (
        "England's rate quarter by quarter around its long-run mean, with 2- and 3-sigma limits for each quarter's "
        "size. A point beyond 3 sigma, a run of 7 on one side, a trend of 7 or 2 of 3 beyond 2 sigma is a signal "
        "that something changed (NHS England's Making Data Count rules); orange points belong to a signal."
    ),
}
