"""The overview's headline figures for a period, beside the previous period of the same length."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import polars as pl

from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics.catalogue import catalogue
from dashboard.metrics.episodes import in_view
from dashboard.metrics.rates import compute

HEADLINE_RATES = ("crs_severe", "icans_severe", "itu_admission", "followup_d30_complete")


def periods(filters: Filters, extract_date: dt.date) -> tuple[Filters, Filters]:
    """The filtered period (default: the three years to the extract date) and the one of equal length before it:
    whole calendar months when the period is (three years before 2023-10-01 is 2020-10-01), else days."""
    current = filters.dated(extract_date)
    start, end = current.start or extract_date, current.end or extract_date
    after = end + dt.timedelta(days=1)
    months = (after.year - start.year) * 12 + after.month - start.month
    if after.day == start.day <= 28 and months > 0:  # (every month has days 1-28)
        back = start.year * 12 + start.month - 1 - months
        previous_start = dt.date(back // 12, back % 12 + 1, start.day)
    else:
        previous_start = start - (after - start)
    return current, replace(filters, start=previous_start, end=start - dt.timedelta(days=1))


def headlines(dataset: Dataset, filters: Filters | None = None) -> pl.DataFrame:
    """Infusions, centres treating, and the headline rates with 95% intervals, now and in the previous period."""
    current, previous = periods(filters or Filters(), dataset.extract_date or dt.date.today())
    rows = []
    for label, period in (("current", current), ("previous", previous)):
        infusions, centres = (
            in_view(dataset, period).select(pl.len(), pl.col("centre_code").n_unique()).collect().row(0)
        )
        rows.append(
            {
                "period": label,
                "id": "infusions",
                "title": "Infusions",
                "value": float(infusions),
                "numerator": infusions,
                "denominator": None,
                "ci_low": None,
                "ci_high": None,
            }
        )
        rows.append(
            {
                "period": label,
                "id": "centres",
                "title": "Centres treating",
                "value": float(centres),
                "numerator": None,
                "denominator": None,
                "ci_low": None,
                "ci_high": None,
            }
        )
        for metric_id in HEADLINE_RATES:
            (row,) = compute(dataset, metric_id, filters=period, adjust="crude").rows.to_dicts()
            rows.append(
                {
                    "period": label,
                    "id": metric_id,
                    "title": catalogue()[metric_id].title,
                    "value": row["rate"],
                    "numerator": row["numerator"],
                    "denominator": row["denominator"],
                    "ci_low": row["ci_low"],
                    "ci_high": row["ci_high"],
                }
            )
    frame = pl.DataFrame(rows)
    now = frame.filter(pl.col("period") == "current").drop("period")
    before = frame.filter(pl.col("period") == "previous").select(
        "id",
        pl.col("value").alias("previous"),
        pl.col("numerator").alias("previous_numerator"),
        pl.col("denominator").alias("previous_denominator"),
    )
    return now.join(before, on="id", how="left", maintain_order="left").with_columns(
        (pl.col("value") - pl.col("previous")).alias("change"),
        pl.lit(current.start).alias("start"),
        pl.lit(current.end).alias("end"),
        pl.lit(previous.start).alias("previous_start"),
        pl.lit(previous.end).alias("previous_end"),
    )
