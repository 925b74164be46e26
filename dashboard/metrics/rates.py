"""Proportion metrics by group, with Wilson intervals, national benchmarks, product-mix adjustment and funnel limits."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from dashboard import filters as filter_model
from dashboard import stats
from dashboard.dimensions import GROUPS
from dashboard.filters import FILTER_NAMES, Filters
from dashboard.loaders import Dataset
from dashboard.metrics.catalogue import Metric, catalogue
from dashboard.metrics.definitions import PROPORTION_IDS, definition
from dashboard.metrics.episodes import episode_table, in_view

COMPLETENESS_THRESHOLD = 0.90  # docs/design.md, Statistics: under 90% day-30 follow-up, shown but never flagged
INSUFFICIENT_FOLLOW_UP = "insufficient follow-up"
LOW_NUMBERS = 8  # a rate on fewer patients carries a low-numbers badge
COUNTS_KEPT = 64  # filter states whose counts a dataset keeps (a few hundred KB each at a million infusions)
ROW_COLUMNS = [
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
]


@dataclass(frozen=True)
class MetricTable:
    """A metric computed for a view: the rows behind every chart, CLI table and export of it."""

    metric: Metric
    by: str | None
    adjust: str
    as_of: dt.date
    filters: Filters
    target: float | None  # the national pooled rate (crude) or 1 (product mix)
    rows: pl.DataFrame  # ROW_COLUMNS plus low_numbers (and centre_name when by centre)
    dispersion: stats.Dispersion | None = None  # when overdispersion was asked for
    limits: pl.DataFrame | None = None  # the funnel curves (by centre only)
    national: tuple[int, int] | None = None  # the benchmark's own (numerator, denominator), pooled as target is

    def as_json(self) -> dict:
        """The stable JSON of `cartgov metrics --format json` (docs/design.md, Commands)."""
        query = self.filters.as_query()
        filters = {
            name: (query.get(name, [None])[0] if name in ("start", "end") else query.get(name, []))
            for name in FILTER_NAMES
        }
        rows = self.rows.select(ROW_COLUMNS).with_columns(pl.col("group").cast(pl.Utf8))
        return {
            "metric": self.metric.id,
            "by": self.by,
            "adjust": self.adjust,
            "as_of": self.as_of.isoformat(),
            "filters": filters,
            "target": _round(self.target),
            "dispersion": None
            if self.dispersion is None
            else {"phi": _round(self.dispersion.phi), "tau2": self.dispersion.tau2},
            # direction: the flag read in the metric's direction (worse, better, as_expected; null: not judged)
            "rows": [
                {
                    **{k: _round(v) for k, v in row.items()},
                    "p_value": _significant(row["p_value"]),
                    "direction": self.metric.judgement(row["flag"]),
                }
                for row in rows.to_dicts()
            ],
        }


def _round(value: object) -> object:
    return (
        round(value, 6)
        if isinstance(value, float) and not np.isnan(value)
        else (None if isinstance(value, float) else value)
    )


def _significant(p: float | None) -> float | None:
    """A tail probability to 6 significant figures (6 decimals would turn an alarm's p into 0)."""
    return None if p is None else float(f"{p:.6g}")


def scoped_episodes(dataset: Dataset, metric_id: str, as_of: dt.date) -> pl.DataFrame:
    """Episodes in the metric's denominator, with _num (in the numerator) as a column."""
    numerator, denominator = definition(metric_id, as_of)
    return episode_table(dataset).filter(denominator).with_columns(numerator.alias("_num"))


COUNT_KEYS = ("centre_code", "product_code", "quarter")


def counts(dataset: Dataset, filters: Filters, as_of: dt.date) -> pl.DataFrame:
    """Every proportion metric's numerator and denominator ("crs_severe:num", "crs_severe:den") per centre,
    product and quarter, under every filter but centre, in one pass over the episodes: what `compute` needs for a
    dozen metrics at once (the signals), a few thousand rows at a million infusions."""
    aggregations = []
    for metric_id in PROPORTION_IDS:
        numerator, denominator = definition(metric_id, as_of)
        aggregations += [
            (numerator & denominator).sum().cast(pl.Int64).alias(f"{metric_id}:num"),
            denominator.sum().cast(pl.Int64).alias(f"{metric_id}:den"),
        ]
    return in_view(dataset, filters.without("centre")).group_by(COUNT_KEYS).agg(aggregations).collect()


class _Kept:
    """The most recently used `size` values by key, each made once: sessions that ask for the same key at once
    wait for the one making it (at a million infusions, each making would copy the filtered episodes)."""

    def __init__(self, size: int) -> None:
        self.size, self.values, self.lock = size, OrderedDict[object, pl.DataFrame](), threading.Lock()
        self.making: dict[object, threading.Lock] = {}

    def _kept(self, key: object) -> pl.DataFrame | None:
        with self.lock:
            if key in self.values:
                self.values.move_to_end(key)
                return self.values[key]
            return None

    def get(self, key: object, make: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        value = self._kept(key)
        if value is not None:
            return value
        with self.lock:
            maker = self.making.setdefault(key, threading.Lock())
        with maker:
            value = self._kept(key)  # made by another session while this one waited
            if value is None:
                value = make()
                with self.lock:
                    self.values[key] = value
                    while len(self.values) > self.size:
                        self.values.popitem(last=False)
            with self.lock:
                self.making.pop(key, None)
        return value


def shared_counts(dataset: Dataset, filters: Filters, as_of: dt.date) -> pl.DataFrame:
    """`counts` for a filter state, made once per dataset and shared by every metric, grouping and centre in it
    (the last COUNTS_KEPT states kept): a page's second metric, or another centre's profile, reads them."""
    kept = dataset.derived("counts", lambda _: _Kept(COUNTS_KEPT))
    return kept.get((filters.without("centre"), as_of), lambda: counts(dataset, filters, as_of))


def compute(
    dataset: Dataset,
    metric_id: str,
    by: str | None = None,
    filters: Filters | None = None,
    as_of: dt.date | None = None,
    adjust: str | None = None,
    overdispersion: bool = False,
    counts: pl.DataFrame | None = None,
    funnel: bool = True,
    curve: bool = True,
    per_episode: bool = False,
) -> MetricTable:
    """A proportion metric per group under the filters; with by='centre' the funnel limits and flags too.

    For a group-by of centre, product, quarter or none it reads the filter state's counts (`counts`, given or
    shared) instead of the episodes: the same figures from a few thousand rows instead of every infusion.
    `per_episode` reads the episodes whatever the grouping (the reference the counts are tested against). Without
    `funnel` no centre is judged (rates alone); without `curve` the funnel is judged but not drawn (limits None)."""
    metric = catalogue()[metric_id]
    if metric.kind != "proportion":
        raise ValueError(f"{metric_id} is a summary metric; it has its own table")
    if by is not None and by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}; use one of {', '.join(GROUPS)}")
    filters = filters or Filters()
    adjust = adjust or metric.adjustment
    as_of = as_of or dataset.extract_date or dt.date.today()
    key = GROUPS[by] if by is not None else None

    # _num and _den per row: one episode each, or one centre, product and quarter each from `counts`.
    # The benchmark is pooled over all centres under every filter except centre.
    if not per_episode and (key is None or key in COUNT_KEYS):
        counts = shared_counts(dataset, filters, as_of) if counts is None else counts
        national = counts.select(
            *COUNT_KEYS, pl.col(f"{metric_id}:num").alias("_num"), pl.col(f"{metric_id}:den").alias("_den")
        ).filter(pl.col("_den") > 0)
        scoped = national.filter(pl.col("centre_code").is_in(list(filters.centre))) if filters.centre else national
    else:
        eligible = scoped_episodes(dataset, metric_id, as_of).with_columns(pl.lit(1).alias("_den"))
        national = filter_model.apply(eligible, filters.without("centre"))
        scoped = filter_model.apply(eligible, filters)
    national_num, national_den = national.select(pl.col("_num").sum(), pl.col("_den").sum()).row(0)
    crude_target = national_num / national_den if national_den else None
    product_rates = national.group_by("product_code").agg(
        (pl.col("_num").sum() / pl.col("_den").sum()).alias("_product_rate")
    )
    scoped = scoped.join(product_rates, on="product_code", how="left")

    aggregations = [
        pl.col("_num").sum().alias("numerator"),
        pl.col("_den").sum().alias("denominator"),
        (pl.col("_den") * pl.col("_product_rate")).sum().alias("expected"),
    ]
    if key is None:
        rows = scoped.select(*aggregations).with_columns(pl.lit("England").alias("group"))
    else:
        rows = scoped.group_by(key).agg(*aggregations).rename({key: "group"})
        if by == "centre":
            rows = _every_centre(dataset, filters, rows)
    rows = stats.with_rate(rows.with_columns(pl.col("numerator", "denominator").cast(pl.Int64)))
    ratio_based = adjust == "product_mix"
    rows = rows.with_columns(
        pl.when(pl.col("expected") > 0).then(pl.col("numerator") / pl.col("expected")).alias("ratio")
        if ratio_based
        else pl.lit(None, dtype=pl.Float64).alias("ratio"),
        pl.col("expected") if ratio_based else pl.lit(None, dtype=pl.Float64).alias("expected"),
    )
    target = 1.0 if ratio_based else crude_target

    judged = by == "centre" and funnel and target is not None
    rows, dispersion, limits = (
        with_funnel(rows, target, ratio_based, overdispersion, curve) if judged else (without_funnel(rows), None, None)
    )
    if judged and metric.is_outcome:
        rows = _completeness_gate(dataset, filters, as_of, rows, counts, per_episode)
    rows = rows.with_columns((pl.col("denominator") < LOW_NUMBERS).alias("low_numbers")).sort("group")
    extra = ["centre_name"] if "centre_name" in rows.columns else []
    benchmark = (int(national_num or 0), int(national_den or 0))
    return MetricTable(
        metric,
        by,
        adjust,
        as_of,
        filters,
        target,
        rows.select(*ROW_COLUMNS, "low_numbers", *extra),
        dispersion,
        limits,
        benchmark,
    )


def with_funnel(
    rows: pl.DataFrame, target: float | None, ratio_based: bool, overdispersion: bool, curve: bool = True
) -> tuple[pl.DataFrame, stats.Dispersion | None, pl.DataFrame | None]:
    """Funnel limits at each centre's size (patients, or expected events for a ratio) and its flag, with the
    dispersion when asked for and the limits as a curve. Rows need numerator, denominator, rate, expected, ratio."""
    if target is None:
        return without_funnel(rows), None, None
    size = (rows["expected"] if ratio_based else rows["denominator"].cast(pl.Float64)).fill_null(0)
    counted = rows["numerator"].is_not_null()  # a suppressed count (in a view for sharing) is left out
    dispersion = (
        stats.dispersion(
            rows["numerator"].filter(counted).to_numpy(), size.filter(counted).to_numpy(), target, ratio=ratio_based
        )
        if overdispersion
        else None
    )
    tau2 = dispersion.tau2 if dispersion else 0.0
    observed, sizes = rows["numerator"].cast(pl.Float64).fill_null(np.nan).to_numpy(), size.to_numpy()
    rows = rows.with_columns(
        *(pl.Series(name, values) for name, values in stats.funnel_limits(target, sizes, ratio_based, tau2).items()),
        pl.Series("p_value", stats.p_value(observed, sizes, target, ratio_based)).fill_nan(None),
        pl.Series("flag", stats.funnel_flags(observed, sizes, target, ratio_based, tau2).tolist(), pl.Utf8),
    )
    drawn = stats.limits_curve(target, size.filter(counted).to_numpy(), ratio_based, tau2) if curve else None
    return rows, dispersion, drawn


def without_funnel(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c) for c in ROW_COLUMNS if c.startswith("limit_")
    ).with_columns(pl.lit(None, dtype=pl.Float64).alias("p_value"), pl.lit(None, dtype=pl.Utf8).alias("flag"))


def _every_centre(dataset: Dataset, filters: Filters, rows: pl.DataFrame) -> pl.DataFrame:
    """Every centre in view is listed, also with no patients in the denominator (listed, not plotted)."""
    centres = dataset["centres"].select(pl.col("centre_code").alias("group"), "centre_name")
    if filters.centre:
        centres = centres.filter(pl.col("group").is_in(list(filters.centre)))
    return centres.join(rows, on="group", how="left").with_columns(
        pl.col("numerator", "denominator").fill_null(0), pl.col("expected").fill_null(0.0)
    )


def _completeness_gate(
    dataset: Dataset,
    filters: Filters,
    as_of: dt.date,
    rows: pl.DataFrame,
    counts: pl.DataFrame | None,
    per_episode: bool,
) -> pl.DataFrame:
    """A centre under the day-30 completeness threshold is shown but never flagged (docs/design.md, Statistics)."""

    def under_threshold(scope: Filters) -> pl.DataFrame:
        completeness = compute(
            dataset,
            "followup_d30_complete",
            by="centre",
            filters=scope,
            as_of=as_of,
            adjust="crude",
            counts=counts,
            funnel=False,  # only its rates are read
            per_episode=per_episode,
        )
        return completeness.rows.filter(pl.col("rate") < COMPLETENESS_THRESHOLD).select("group")

    if counts is None and not per_episode:
        # A centre's completeness does not depend on which other centres are in view: one answer per filter state
        # serves every outcome metric and centre of it, as the shared counts do.
        everywhere = filters.without("centre")
        kept = dataset.derived("under_threshold", lambda _: _Kept(COUNTS_KEPT))
        gated = kept.get((everywhere, as_of), lambda: under_threshold(everywhere))["group"]
    else:
        gated = under_threshold(filters)["group"]
    return rows.with_columns(
        pl.when(pl.col("group").is_in(gated.implode()))
        .then(pl.lit(INSUFFICIENT_FOLLOW_UP))
        .otherwise(pl.col("flag"))
        .alias("flag")
    )


def exact(table: MetricTable) -> MetricTable:
    """The figures as computed (the national role's view); the gate passes a suppressing view instead."""
    return table


Disclose = Callable[[MetricTable], MetricTable]  # a view of a metric table; metrics built on others pass it on


def quarterly(
    dataset: Dataset,
    metric_id: str,
    filters: Filters | None = None,
    as_of: dt.date | None = None,
    disclose: Disclose = exact,
) -> tuple[pl.DataFrame, list[dict]]:
    """The metric per quarter as an SPC p-chart, with its Making Data Count signals, from the counts the view
    discloses (a quarter whose count is withheld is left out, limits and centre line included)."""
    table = disclose(compute(dataset, metric_id, by="quarter", filters=filters, as_of=as_of, adjust="crude"))
    counts = table.rows.select(pl.col("group").alias("quarter"), "numerator", "denominator").drop_nulls()
    return stats.p_chart(counts)
