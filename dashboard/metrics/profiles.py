"""Every metric at once for one product or one centre, beside the national figure: the drill-down pages' tables."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics.catalogue import proportions
from dashboard.metrics.rates import Disclose, compute, exact

# The toxicity metrics: those the catalogue adjusts for product mix by default (defined there, once).
TOXICITY = tuple(metric.id for metric in proportions().values() if metric.adjustment == "product_mix")


def by_product(
    dataset: Dataset, filters: Filters | None = None, metric_ids: tuple[str, ...] = TOXICITY
) -> pl.DataFrame:
    """Each metric by product (crude rates with Wilson intervals): the side-by-side product table, long form."""
    tables = []
    for metric_id in metric_ids:
        table = compute(dataset, metric_id, by="product", filters=filters, adjust="crude")
        tables.append(
            table.rows.select(
                pl.lit(metric_id).alias("metric"),
                pl.lit(table.metric.title).alias("title"),
                pl.col("group").alias("product_code"),
                "numerator",
                "denominator",
                "rate",
                "ci_low",
                "ci_high",
                "low_numbers",
            )
        )
    return pl.concat(tables)


def centre_against_england(
    dataset: Dataset, centre: str, filters: Filters | None = None, disclose: Disclose = exact
) -> pl.DataFrame:
    """One centre on every proportion metric: its rate and interval, the national rate, observed/expected, flag."""
    filters = filters or Filters()
    rows = []
    for metric in proportions().values():
        # Its own row is read, judged on the funnel; the curve is not drawn.
        own = disclose(
            compute(dataset, metric.id, by="centre", filters=replace(filters, centre=(centre,)), curve=False)
        )
        national = disclose(compute(dataset, metric.id, filters=filters.without("centre"), adjust="crude"))
        row = own.rows.row(0, named=True) if own.rows.height else {}
        england = national.rows.row(0, named=True) if national.rows.height else {}
        rows.append(
            {
                "metric": metric.id,
                "title": metric.title,
                "direction": metric.direction,
                "adjust": own.adjust,
                "numerator": row.get("numerator"),
                "denominator": row.get("denominator"),
                "rate": row.get("rate"),
                "ci_low": row.get("ci_low"),
                "ci_high": row.get("ci_high"),
                "england_numerator": england.get("numerator"),
                "england_denominator": england.get("denominator"),
                "england_rate": england.get("rate"),
                "ratio": row.get("ratio"),
                "p_value": row.get("p_value"),
                "flag": row.get("flag"),
                "concern": metric.concern(row.get("flag")),
                "low_numbers": row.get("low_numbers"),
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            "ratio": pl.Float64,
            "p_value": pl.Float64,
            "rate": pl.Float64,
            "england_rate": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "numerator": pl.Int64,
            "denominator": pl.Int64,
            "england_numerator": pl.Int64,
            "england_denominator": pl.Int64,
            "flag": pl.Utf8,
            "concern": pl.Utf8,
            "low_numbers": pl.Boolean,
        },
    )
