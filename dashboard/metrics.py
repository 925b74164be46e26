"""Every number the panels see, as pure Polars functions of validated frames (no Streamlit)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from dashboard import stats
from dashboard.loaders import Dataset


def table_counts(dataset: Dataset) -> pl.DataFrame:
    """Rows held per table."""
    return pl.DataFrame(
        {"table": list(dataset.frames), "rows": [frame.height for frame in dataset.frames.values()]}
    )


def infusions_by_quarter(infusions: pl.DataFrame) -> pl.DataFrame:
    """Infusions per calendar quarter and product, every quarter present (zero when none)."""
    counted = (
        infusions.with_columns(pl.col("infusion_date").dt.truncate("1q").alias("quarter"))
        .group_by("quarter", "product_code")
        .agg(pl.len().alias("infusions"))
    )
    if counted.height == 0:
        return counted
    quarters = pl.date_range(counted["quarter"].min(), counted["quarter"].max(), "1q", eager=True).alias("quarter")
    grid = quarters.to_frame().join(counted.select("product_code").unique(), how="cross")
    return (
        grid.join(counted, on=["quarter", "product_code"], how="left")
        .with_columns(pl.col("infusions").fill_null(0))
        .sort("quarter", "product_code")
    )


# --- Data quality (DESIGN.md section 5: followup_d30_complete, followup_d100_complete) ---

COMPLETENESS_THRESHOLD = 0.90  # a centre under 90% day-30 follow-up is shown but never flagged on outcomes
_REASON = pl.List(pl.Struct({"column": pl.Utf8, "rule": pl.Utf8, "value": pl.Utf8}))


def followup_completeness(dataset: Dataset, as_of: dt.date | None = None) -> pl.DataFrame:
    """Per centre: day-30 and day-100 follow-up due (infusion at least 30 / 100 days before as_of) and received."""
    as_of = as_of or dataset.extract_date or dt.date.today()
    episodes = dataset["infusions"].select("episode_id", "centre_code", "infusion_date").join(
        dataset["followup"].select("episode_id", "d30_complete", "d100_complete"), on="episode_id", how="left"
    )
    counts = episodes.group_by("centre_code").agg(
        *_due_and_received(30, as_of), *_due_and_received(100, as_of)
    )
    frame = dataset["centres"].select("centre_code", "centre_name").join(counts, on="centre_code", how="left")
    frame = frame.with_columns(pl.col("^d(30|100)_(due|received)$").fill_null(0))
    for day in (30, 100):
        low, high = stats.wilson_interval(pl.col(f"d{day}_received"), pl.col(f"d{day}_due"))
        frame = frame.with_columns(
            pl.when(pl.col(f"d{day}_due") > 0).then(pl.col(f"d{day}_received") / pl.col(f"d{day}_due"))
            .alias(f"d{day}_rate"),
            low.alias(f"d{day}_ci_low"),
            high.alias(f"d{day}_ci_high"),
        )
    return frame.with_columns(
        (pl.col("d30_rate") < COMPLETENESS_THRESHOLD).fill_null(False).alias("below_threshold")
    ).sort("centre_code")


def _due_and_received(day: int, as_of: dt.date) -> list[pl.Expr]:
    due = pl.col("infusion_date") <= as_of - dt.timedelta(days=day)
    received = due & pl.col(f"d{day}_complete").fill_null(False)
    return [due.sum().alias(f"d{day}_due"), received.sum().alias(f"d{day}_received")]


def last_submission(batches: pl.DataFrame, today: dt.date) -> pl.DataFrame:
    """Per centre: when rows of it last arrived in an ingested file, and how many days ago."""
    arrivals = [
        (centre, ingested_at)
        for centres, ingested_at in batches.filter(~pl.col("refused")).select("centres", "ingested_at").iter_rows()
        if centres
        for centre in json.loads(centres)
    ]
    frame = pl.DataFrame(arrivals, schema={"centre_code": pl.Utf8, "ingested_at": pl.Datetime("us", "UTC")},
                         orient="row")
    return frame.group_by("centre_code").agg(pl.col("ingested_at").max().alias("last_submission")).with_columns(
        (pl.lit(today) - pl.col("last_submission").dt.date()).dt.total_days().alias("days_since_submission")
    )


def quarantine_reasons(quarantine: pl.DataFrame, open_only: bool = True) -> pl.DataFrame:
    """One row per reason a quarantined row was held back: who must fix what, in which file and row."""
    rows = quarantine.filter(pl.col("released_at").is_null()) if open_only else quarantine
    return (
        rows.with_columns(pl.col("reasons").str.json_decode(_REASON))
        .explode("reasons")
        .unnest("reasons")
        .select(
            pl.col("id").alias("quarantine_id"), "centre_code", pl.col("table_name").alias("table"), "path",
            "row_number", "record_key", "column", "rule", "value", "quarantined_at", "resolution",
        )
        .sort("quarantine_id")
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
