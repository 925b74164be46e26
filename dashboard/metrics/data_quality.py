"""Data quality: follow-up completeness, currency of submissions, quarantined rows (docs/design.md, Metrics)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from dashboard.loaders import Dataset
from dashboard.metrics import rates


def followup_completeness(dataset: Dataset, as_of: dt.date | None = None) -> pl.DataFrame:
    """Per centre: followup_d30_complete and followup_d100_complete (due, received, rate, Wilson 95%)."""
    columns = {"numerator": "received", "denominator": "due", "rate": "rate", "ci_low": "ci_low", "ci_high": "ci_high"}
    tables = [
        rates.compute(dataset, f"followup_d{day}_complete", by="centre", as_of=as_of, adjust="crude").rows.select(
            pl.col("group").alias("centre_code"), *[pl.col(c).alias(f"d{day}_{n}") for c, n in columns.items()]
        )
        for day in (30, 100)
    ]
    names = dataset["centres"].select("centre_code", "centre_name")
    return (
        names.join(tables[0], on="centre_code")
        .join(tables[1], on="centre_code")
        .with_columns((pl.col("d30_rate") < rates.COMPLETENESS_THRESHOLD).fill_null(False).alias("below_threshold"))
        .sort("centre_code")
    )


def last_submission(batches: pl.DataFrame, today: dt.date) -> pl.DataFrame:
    """Per centre: when rows of it last arrived in an ingested file, and how many days ago."""
    arrivals = [
        (centre, ingested_at)
        for centres, ingested_at in batches.filter(~pl.col("refused")).select("centres", "ingested_at").iter_rows()
        if centres
        for centre in json.loads(centres)
    ]
    frame = pl.DataFrame(
        arrivals, schema={"centre_code": pl.Utf8, "ingested_at": pl.Datetime("us", "UTC")}, orient="row"
    )
    return (
        frame.group_by("centre_code")
        .agg(pl.col("ingested_at").max().alias("last_submission"))
        .with_columns(
            (pl.lit(today) - pl.col("last_submission").dt.date()).dt.total_days().alias("days_since_submission")
        )
    )


def data_quality_by_centre(dataset: Dataset, today: dt.date) -> pl.DataFrame:
    """Completeness, currency and quarantine per centre: the table of the data-quality page."""
    held = (
        dataset.quarantine.filter(pl.col("released_at").is_null())
        .group_by("centre_code")
        .agg(pl.len().alias("rows_quarantined"))
    )
    return (
        followup_completeness(dataset)
        .join(last_submission(dataset.batches, today), on="centre_code", how="left")
        .join(held, on="centre_code", how="left")
        .with_columns(pl.col("rows_quarantined").fill_null(0))
    )
