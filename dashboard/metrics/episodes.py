"""One row per infusion with everything the metrics need: follow-up, panel, age band, quarter, TA compliance."""

from __future__ import annotations

import polars as pl

from dashboard import filters as filter_model
from dashboard.filters import Filters, age_band
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
        tas, on="ta_code", how="left", maintain_order="left"
    )
    return checked.select(
        "episode_id",
        (pl.col("product_code") != pl.col("ta_product")).fill_null(False).alias("ta_product_mismatch"),
        (pl.col("age_at_infusion") < pl.col("min_age")).fill_null(False).alias("ta_age_below"),
        (pl.col("age_at_infusion") > pl.col("max_age")).fill_null(False).alias("ta_age_above"),
        (pl.col("recommendation") == "not_recommended").fill_null(False).alias("ta_not_recommended"),
        (pl.col("infusion_date") >= pl.col("superseded_on")).fill_null(False).alias("ta_superseded"),
    ).with_columns(pl.any_horizontal(*TA_REASONS).alias("ta_outside"))


def found_at(keys: pl.Series, wanted: pl.Series) -> pl.Series:
    """Where each wanted key sits in sorted unique `keys` (null where it is not there), by binary search: a hash
    join's tables would cost 100 MB at 1M rows, and snapshots are written sorted by key."""
    if keys.is_empty():
        return pl.repeat(None, len(wanted), dtype=pl.UInt32, eager=True)
    found = keys.search_sorted(wanted).clip(upper_bound=len(keys) - 1)
    return pl.select(pl.when(keys.gather(found) == wanted).then(found)).to_series()


def build(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The episode table: infusions with their follow-up (null where none has arrived), panel and TA findings."""
    infusions = frames["infusions"]

    def matched(key: str, table: pl.DataFrame) -> pl.DataFrame:
        """`table`'s rows in the order of the infusions (nulls where it has none); the infusions' own columns are then
        shared with the episode table, not copied."""
        if not table[key].is_sorted():
            table = table.sort(key)
        return table.drop(key).select(pl.all().gather(found_at(table[key], infusions[key])))

    return (
        infusions.hstack(matched("episode_id", frames["followup"]))
        .hstack(matched("referral_id", frames["referrals"].select("referral_id", "panel")))
        .hstack(ta_compliance(infusions, frames["nice_ta"]).drop("episode_id"))
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


def in_view(dataset: Dataset, filters: Filters | None = None) -> pl.LazyFrame:
    """The episodes within the filters, lazily: a summary then copies only the columns it reads of the rows in view,
    not all 46 (at 1M infusions, hundreds of MB for each filter state)."""
    return filter_model.apply(episode_table(dataset).lazy(), filters or Filters())
