"""Volumes: how many rows, infusions per quarter by product."""

from __future__ import annotations

import polars as pl

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
