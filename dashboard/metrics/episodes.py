"""One row per infusion with everything the metrics need: follow-up, panel, age band, quarter, TA compliance."""

from __future__ import annotations

import polars as pl

from dashboard.filters import age_band
from dashboard.loaders import Dataset

TA_REASONS = {
    "ta_product_mismatch": "product differs from the TA's product",
    "ta_age_below": "age below the TA's minimum",
    "ta_age_above": "age above the TA's maximum",
    "ta_not_recommended": "TA not recommended",
    "ta_superseded": "TA superseded before the infusion",
}


def ta_compliance(infusions: pl.DataFrame, nice_ta: pl.DataFrame) -> pl.DataFrame:
    """Each infusion checked against its TA, each reason separately (docs/design.md, Domain facts)."""
    superseded_on = nice_ta.select(pl.col("ta_code").alias("superseded_by"), pl.col("published").alias("superseded_on"))
    tas = nice_ta.join(superseded_on, on="superseded_by", how="left").select(
        "ta_code", pl.col("product_code").alias("ta_product"), "min_age", "max_age", "recommendation", "superseded_on"
    )
    checked = infusions.select("episode_id", "product_code", "ta_code", "age_at_infusion", "infusion_date").join(
        tas, on="ta_code", how="left"
    )
    return checked.select(
        "episode_id",
        (pl.col("product_code") != pl.col("ta_product")).fill_null(False).alias("ta_product_mismatch"),
        (pl.col("age_at_infusion") < pl.col("min_age")).fill_null(False).alias("ta_age_below"),
        (pl.col("age_at_infusion") > pl.col("max_age")).fill_null(False).alias("ta_age_above"),
        (pl.col("recommendation") == "not_recommended").fill_null(False).alias("ta_not_recommended"),
        (pl.col("infusion_date") >= pl.col("superseded_on")).fill_null(False).alias("ta_superseded"),
    ).with_columns(pl.any_horizontal(*TA_REASONS).alias("ta_outside"))


def build(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The episode table: infusions with their follow-up (null where none has arrived), panel and TA findings."""
    infusions = frames["infusions"]
    panel = frames["referrals"].select("referral_id", "panel")
    return (
        infusions.join(frames["followup"], on="episode_id", how="left")
        .join(panel, on="referral_id", how="left")
        .join(ta_compliance(infusions, frames["nice_ta"]), on="episode_id", how="left")
        .with_columns(
            pl.col("d30_complete").fill_null(False),
            pl.col("d100_complete").fill_null(False),
            pl.col("infusion_date").dt.truncate("1q").alias("quarter"),
            age_band(pl.col("age_at_infusion")).alias("age_band"),
        )
    )


def episode_table(dataset: Dataset) -> pl.DataFrame:
    """The episode table of a loaded dataset, built once per dataset (seconds at 1M infusions) and then shared."""
    return dataset.derived("episodes", lambda data: build(data.frames))
