"""The one gate (docs/design.md, Who sees what): what a viewer may see of every table, chart, signal, row and export.

Pure (no Streamlit). Pages, the governance pack and the command line get every figure through a Gate. Under
small-number suppression (observers, and every export made for sharing) each figure is computed again from the
rounded counts alone (rates, intervals, expected counts, ratios, limits, flags, SPC points), so that nothing sent
lets a suppressed count be worked back; a numeric column that is not declared below is withheld, not passed on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode

import polars as pl

from dashboard import exports, stats
from dashboard.access import OWN_CENTRE, Policy
from dashboard.filters import Filters, View
from dashboard.metrics.rates import (
    COMPLETENESS_THRESHOLD,
    INSUFFICIENT_FOLLOW_UP,
    LOW_NUMBERS,
    Disclose,
    MetricTable,
    exact,
    with_funnel,
    without_funnel,
)
from dashboard.metrics.signals import SEVERITY_ORDER

SUPPRESSED = "*"
SMALLEST_SHOWN = 8  # NHS Digital rule: counts 1-7 are withheld, others rounded to the nearest 5


class Rate(NamedTuple):
    """A rate and its interval, recomputed from the counts they rest on."""

    numerator: str
    denominator: str
    rate: str
    ci_low: str | None = None
    ci_high: str | None = None


# Every column of a table that counts people or events (rounded under suppression).
COUNTS = frozenset(
    {
        "numerator",
        "denominator",
        "infusions",
        "exceptions",
        "admissions",
        "referred",
        "approved",
        "infused",
        "reviewed",
        "episodes_with_onset",
        "d100_known",
        "unresolved_d100",
        "d30_due",
        "d30_received",
        "d100_due",
        "d100_received",
        "rows_quarantined",
        "england_numerator",
        "england_denominator",
        *(f"d{day}_grade_{grade}" for day in (30, 100) for grade in range(5)),
    }
)
# Figures recomputed from the rounded counts.
RATES = (
    Rate("numerator", "denominator", "rate", "ci_low", "ci_high"),
    Rate("d30_received", "d30_due", "d30_rate", "d30_ci_low", "d30_ci_high"),
    Rate("d100_received", "d100_due", "d100_rate", "d100_ci_low", "d100_ci_high"),
    Rate("unresolved_d100", "d100_known", "share_unresolved_d100"),
    Rate("approved", "referred", "approved_share"),
    Rate("infused", "approved", "infused_share"),
    Rate("england_numerator", "england_denominator", "england_rate"),
)
# Means and medians over the people counted in the key column: withheld where that count is.
SUMMARIES = {
    "reviewed": ("mean_days", "median_days", "p90_days"),
    "episodes_with_onset": ("median_onset_day", "median_days_to_resolution"),
}
# Numeric columns that label a row rather than measure anything (a histogram's bin, days since a submission).
LABELS = frozenset({"value", "days", "days_since_submission"})
_TEXT = (pl.Utf8, pl.Categorical, pl.Date, pl.Datetime)


def rounded(column: str) -> pl.Expr:
    """A count as shown: 0 stays 0, 1-7 withheld (null), others to the nearest 5 (8 -> 10, 12 -> 10, 13 -> 15)."""
    count = pl.col(column)
    return (
        pl.when(count == 0)
        .then(0)
        .when(count < SMALLEST_SHOWN)
        .then(None)
        .otherwise((count / 5).round(0) * 5)
        .cast(pl.Int64)
        .alias(column)
    )


def _rate(spec: Rate, columns: list[str]) -> list[pl.Expr]:
    numerator, denominator = pl.col(spec.numerator), pl.col(spec.denominator)
    exprs = [pl.when(denominator > 0).then(numerator / denominator).alias(spec.rate)]
    if spec.ci_low in columns and spec.ci_high in columns:
        low, high = stats.wilson_interval(numerator, denominator)
        exprs += [low.alias(spec.ci_low), high.alias(spec.ci_high)]
    return exprs


def suppressed_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Any table under suppression: counts rounded, rates and intervals recomputed from them, summaries over 1-7
    people withheld, and every other numeric column dropped (deny by default)."""
    columns = frame.columns
    derived = {
        c
        for spec in RATES
        if spec.numerator in columns and spec.denominator in columns
        for c in (spec.rate, spec.ci_low, spec.ci_high)
        if c in columns
    }
    summaries = {c for key, cs in SUMMARIES.items() if key in columns for c in cs if c in columns}
    flags = {"low_numbers", "below_threshold"} & set(columns)
    kept = [
        c
        for c, dtype in frame.schema.items()
        if c in COUNTS or c in derived or c in summaries or c in flags or c in LABELS or isinstance(dtype, _TEXT)
    ]
    shown = frame.select(kept).with_columns(rounded(c) for c in kept if c in COUNTS)
    shown = shown.with_columns(e for spec in RATES if spec.rate in derived for e in _rate(spec, columns))
    shown = shown.with_columns(
        pl.when(pl.col(key).is_not_null()).then(pl.col(c)).alias(c)
        for key, cs in SUMMARIES.items()
        if key in columns
        for c in cs
        if c in summaries
    )
    if "low_numbers" in flags:
        shown = shown.with_columns(
            (pl.col("denominator").is_null() | (pl.col("denominator") < LOW_NUMBERS)).alias("low_numbers")
            if "denominator" in columns
            else pl.lit(True).alias("low_numbers")
        )
    if "below_threshold" in flags:
        shown = shown.with_columns(
            (pl.col("d30_rate") < COMPLETENESS_THRESHOLD).alias("below_threshold")
            if "d30_rate" in columns
            else pl.lit(None, pl.Boolean).alias("below_threshold")
        )
    return shown


def suppressed_metric(table: MetricTable) -> MetricTable:
    """A metric table as its rounded counts alone show it: the benchmark, each rate, interval, expected count (the
    rounded patients times the centre's mean expected risk to 2 significant figures), ratio, limit and flag."""
    rows = table.rows
    ratio_based = table.adjust == "product_mix"
    shown = stats.with_rate(rows.with_columns(rounded("numerator"), rounded("denominator")))
    if ratio_based:
        risk = rows.select(
            pl.when(pl.col("denominator") > 0).then(pl.col("expected") / pl.col("denominator")).round_sig_figs(2)
        )["expected"]
        shown = shown.with_columns(
            pl.when(pl.col("denominator") == 0).then(0.0).otherwise(pl.col("denominator") * risk).alias("expected")
        ).with_columns(pl.when(pl.col("expected") > 0).then(pl.col("numerator") / pl.col("expected")).alias("ratio"))
    national = None
    if table.national is not None:
        national = (
            pl.DataFrame({"numerator": [table.national[0]], "denominator": [table.national[1]]})
            .select(rounded("numerator"), rounded("denominator"))
            .row(0)
        )
    target = (
        1.0
        if ratio_based
        else (national[0] / national[1] if national and national[0] is not None and national[1] else None)
    )
    dispersion = limits = None
    if table.by == "centre":
        shown, dispersion, limits = with_funnel(
            shown, target, ratio_based, table.dispersion is not None, curve=table.limits is not None
        )
        # Follow-up completeness is a gate, not a figure: a centre under it stays shown and unflagged.
        shown = shown.with_columns(
            pl.when(rows["flag"] == INSUFFICIENT_FOLLOW_UP)
            .then(pl.lit(INSUFFICIENT_FOLLOW_UP))
            .otherwise(pl.col("flag"))
            .alias("flag")
        )
    else:
        shown = without_funnel(shown)
    shown = shown.with_columns(
        (pl.col("denominator").is_null() | (pl.col("denominator") < LOW_NUMBERS)).alias("low_numbers")
    )
    return replace(
        table, rows=shown.select(rows.columns), target=target, dispersion=dispersion, limits=limits, national=national
    )


def suppressed_headlines(frame: pl.DataFrame) -> pl.DataFrame:
    """The overview's headlines under suppression: every figure, England's too, from rounded counts. (England's
    exact totals under a filter could be differenced between two filters to find a small cell.)"""
    shown = frame.with_columns(
        rounded(c) for c in ("numerator", "denominator", "previous_numerator", "previous_denominator")
    )
    counted = pl.col("id") == "infusions"
    low, high = stats.wilson_interval(pl.col("numerator"), pl.col("denominator"))
    shown = shown.with_columns(
        pl.when(counted)
        .then(pl.col("numerator").cast(pl.Float64))
        .when(pl.col("id") == "centres")
        .then(pl.col("value"))
        .when(pl.col("denominator") > 0)
        .then(pl.col("numerator") / pl.col("denominator"))
        .alias("value"),
        pl.when(counted)
        .then(pl.col("previous_numerator").cast(pl.Float64))
        .when(pl.col("id") == "centres")
        .then(pl.col("previous"))
        .when(pl.col("previous_denominator") > 0)
        .then(pl.col("previous_numerator") / pl.col("previous_denominator"))
        .alias("previous"),
        low.alias("ci_low"),
        high.alias("ci_high"),
    )
    return shown.with_columns((pl.col("value") - pl.col("previous")).alias("change"))


@dataclass(frozen=True)
class Gate:
    """Everything one viewer is shown or given passes through here."""

    policy: Policy

    @property
    def disclose(self) -> Disclose:
        """The view of a metric table this viewer gets (before labels): exact, or from rounded counts."""
        return suppressed_metric if self.policy.suppress else exact

    @property
    def labels(self) -> dict[str, str]:
        return self.policy.labels

    def relabel(self, frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        """Centre codes in these columns replaced by the viewer's labels; names hidden behind pseudonyms."""
        labels = self.labels
        pseudonymous = self.policy.pseudonymous
        # A code the policy does not know (a centre newer than the policy) is hidden behind pseudonyms, never shown.
        frame = frame.with_columns(
            pl.col(c).replace_strict(labels, default=None if pseudonymous else pl.col(c), return_dtype=pl.Utf8).alias(c)
            for c in columns
            if c in frame.columns
        )
        present = [c for c in columns if c in frame.columns]
        if pseudonymous and present:
            if "centre_name" in frame.columns:
                # A new column holding the lead's own name only. Nulling the old one (when/otherwise) would keep
                # every peer's name in the Arrow buffers behind the nulls, which Streamlit sends to the browser.
                own = frame.filter(pl.col(present[0]) == OWN_CENTRE)["centre_name"].drop_nulls().unique().to_list()
                frame = frame.with_columns(
                    pl.when(pl.col(present[0]) == OWN_CENTRE)
                    .then(pl.lit(own[0] if own else None, pl.Utf8))
                    .otherwise(None)
                    .alias("centre_name")
                )
            # Rows in the order of the real codes would pair each pseudonym with a code: order by label instead,
            # the lead's own centre first.
            frame = frame.sort([pl.col(present[0]) != OWN_CENTRE, *present], maintain_order=True)
        return frame

    def metric(self, table: MetricTable) -> MetricTable:
        """A metric table as this viewer may see it."""
        table = self.disclose(table)
        return replace(table, rows=self.relabel(table.rows, "group")) if table.by == "centre" else table

    def frame(self, frame: pl.DataFrame, centre_columns: tuple[str, ...] = ()) -> pl.DataFrame:
        """Any aggregate table: centre labels for this viewer, and suppression where the policy asks for it."""
        frame = suppressed_frame(frame) if self.policy.suppress else frame
        return self.relabel(frame, *centre_columns) if centre_columns else frame

    def headlines(self, frame: pl.DataFrame) -> pl.DataFrame:
        return suppressed_headlines(frame) if self.policy.suppress else frame

    def signals(self, records: pl.DataFrame) -> pl.DataFrame:
        """Signal records (found in this viewer's disclosed figures) with their counts as shown and centres as
        labelled."""
        if self.policy.suppress:
            records = records.with_columns(rounded("numerator"), rounded("denominator"))
        if self.policy.pseudonymous:
            # A peer's early warning by month: its exact dates are a peer patient's infusion dates.
            peer_chart = (pl.col("kind") == "cusum") & pl.col("centre").ne_missing(
                pl.lit(self.policy.viewer.centre, pl.Utf8)
            )
            start, end = pl.col("period_start"), pl.col("period_end")
            records = records.with_columns(
                pl.when(peer_chart).then(start.dt.month_start()).otherwise(start).alias("period_start"),
                pl.when(peer_chart).then(end.dt.month_end()).otherwise(end).alias("period_end"),
            )
        # A lead's own first, then worst first, then by the centre's label (an order by code would pair each pseudonym
        # with a code).
        return self.relabel(records, "centre").sort(
            pl.col("centre").ne_missing(OWN_CENTRE),
            pl.col("severity").replace_strict(SEVERITY_ORDER, return_dtype=pl.Int8),
            "kind",
            "metric",
            "centre",
            nulls_last=True,
        )

    def patient_rows(self, frame: pl.DataFrame, centre_column: str = "centre_code") -> pl.DataFrame:
        """Patient-level rows: all for national, the lead's own centre only, none for an observer."""
        role = self.policy.viewer.role
        if role == "national":
            return frame
        if role == "observer":
            return frame.clear()
        return self.relabel(frame.filter(pl.col(centre_column) == self.policy.viewer.centre), centre_column)

    def cases(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Outlier cases (or a meeting's items, or a case's history joined to its case): every one for a national
        member; a lead's own centre's only, under its label, evidence links in the lead's labels; none for an
        observer, who is told counts by status (case_counts)."""
        viewer = self.policy.viewer
        if viewer.role == "national":
            return frame
        if viewer.role == "observer":
            return frame.clear()
        own = frame.filter(pl.col("centre_code") == viewer.centre)
        links = [c for c in ("evidence_link", "link") if c in own.columns]
        return self.relabel(own, "centre_code").with_columns(
            pl.col(c).map_elements(self.link, return_dtype=pl.Utf8) for c in links
        )

    @staticmethod
    def case_counts(frame: pl.DataFrame) -> pl.DataFrame:
        """Cases by status (closed ones by decision): all an observer is told of them, no centre and no metric."""
        return (
            frame.group_by("status", "decision").agg(pl.len().cast(pl.Int64).alias("cases")).sort("status", "decision")
        )

    @staticmethod
    def item_counts(items: pl.DataFrame) -> pl.DataFrame:
        """A meeting's items by kind: all an observer is told of an agenda or its minutes."""
        return items.group_by("kind").agg(pl.len().cast(pl.Int64).alias("items")).sort("kind")

    def link(self, link: str | None) -> str | None:
        """A view's link (page and query, centres by code) with its centres as this viewer names them."""
        if not link or "?" not in link:
            return link
        page, _, query = link.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        labels = self.labels
        named = [(k, labels.get(v, SUPPRESSED) if k == "centre" else v) for k, v in pairs]
        return f"{page}?{urlencode(named)}"

    def query(self, filters: Filters) -> dict[str, list[str]]:
        """The filters as URL parameters in this viewer's own labels (a lead's link names peers by pseudonym)."""
        query = filters.as_query()
        if "centre" in query:
            query["centre"] = [self.labels.get(code, SUPPRESSED) for code in query["centre"]]
        return query

    def describe(self, filters: Filters, view: View | None = None) -> str:
        """The filters (and the view, if any) in one line, centres as this viewer knows them (for a pack's header or
        an export)."""
        query = {**self.query(filters), **(view or View()).as_query()}
        parts = [f"{name}={','.join(values)}" for name, values in query.items()]
        return "; ".join(parts) if parts else "no filters"

    def as_text(self, frame: pl.DataFrame) -> pl.DataFrame:
        """For a table or an export: withheld counts shown as *."""
        if not self.policy.suppress:
            return frame
        return frame.with_columns(pl.col(c).cast(pl.Utf8).fill_null(SUPPRESSED) for c in frame.columns if c in COUNTS)

    def csv(self, frame: pl.DataFrame) -> bytes:
        """A download of a table as shown: withheld counts as *, spreadsheet formulas neutralised."""
        return exports.csv_bytes(self.as_text(frame))
