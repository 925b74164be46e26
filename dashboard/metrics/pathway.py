"""Summary metrics of the pathway: CART12 review times, CART14 cytopenia, exception and outside-TA reasons."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard import filters as filter_model
from dashboard.filters import Filters, age_band
from dashboard.loaders import Dataset
from dashboard.metrics.definitions import definition
from dashboard.metrics.episodes import TA_REASONS, found_at, in_view

REFERRAL_GROUPS = {
    "panel": "panel",
    "centre": "allocated_centre",
    "ta": "ta_code",
    "quarter": "quarter",
    "product": "product_code",
    "age": "age_band",
}


def referrals(dataset: Dataset, filters: Filters | None = None) -> pl.LazyFrame:
    """Referrals under the filters: dates on referral_date, centre on the allocated centre, product through the TA.

    Lazy, so that each summary reads only its own columns of the 1.4M referrals at 1M infusions, filtered first."""
    frame = (
        dataset["referrals"]
        .lazy()
        .with_columns(_infused(dataset))
        .join(dataset["nice_ta"].lazy().select("ta_code", "product_code"), on="ta_code", how="left")
        .with_columns(
            pl.col("referral_date").dt.truncate("1q").alias("quarter"),
            age_band(pl.col("age_at_referral")).alias("age_band"),
            (pl.col("review_date") - pl.col("referral_date")).dt.total_days().alias("review_days"),
        )
    )
    return filter_model.apply(
        frame, filters or Filters(), date_column="referral_date", centre_column="allocated_centre"
    )


def _infused(dataset: Dataset) -> pl.Series:
    """Whether an infusion counts against each referral, in the referrals' order: made once per dataset."""

    def make(data: Dataset) -> pl.Series:
        infused = data["infusions"]["referral_id"].drop_nulls().unique().sort()
        return found_at(infused, data["referrals"]["referral_id"]).is_not_null().alias("infused")

    return dataset.derived("infused_referrals", make)


def referral_to_review(dataset: Dataset, filters: Filters | None = None, by: str | None = "panel") -> pl.DataFrame:
    """CART12: days from referral to clinical review (mean, median, 90th centile) of reviewed referrals."""
    reviewed = referrals(dataset, filters).filter(pl.col("review_days").is_not_null())
    stats = [
        pl.len().alias("reviewed"),
        pl.col("review_days").mean().alias("mean_days"),
        pl.col("review_days").median().alias("median_days"),
        pl.col("review_days").quantile(0.9, interpolation="linear").alias("p90_days"),
    ]
    if by is None:
        return reviewed.select(pl.lit("England").alias("group"), *stats).collect()
    return reviewed.group_by(pl.col(REFERRAL_GROUPS[by]).alias("group")).agg(*stats).sort("group").collect()


def referral_pipeline(dataset: Dataset, filters: Filters | None = None, by: str = "panel") -> pl.DataFrame:
    """Referred, approved and infused per group (an infusion counts against its referral), with the shares approved
    of referred and infused of approved."""
    return (
        referrals(dataset, filters)
        .group_by(pl.col(REFERRAL_GROUPS[by]).alias("group"))
        .agg(
            pl.len().alias("referred"),
            (pl.col("decision") == "approved").sum().alias("approved"),
            pl.col("infused").sum(),
        )
        .with_columns(
            pl.when(pl.col("referred") > 0).then(pl.col("approved") / pl.col("referred")).alias("approved_share"),
            pl.when(pl.col("approved") > 0).then(pl.col("infused") / pl.col("approved")).alias("infused_share"),
        )
        .sort("group")
        .collect()
    )


def cytopenia_recovery(dataset: Dataset, filters: Filters | None = None, by: str | None = None) -> pl.DataFrame:
    """CART14: for episodes with cytopenia onset, grade at day 30 and 100, onset, resolution, unresolved at day 100."""
    episodes = in_view(dataset, filters).filter(pl.col("cytopenia_onset_day").is_not_null())
    d100 = pl.col("d100_complete")
    summary = [
        pl.len().alias("episodes_with_onset"),
        *[(pl.col("cytopenia_grade_d30") == g).sum().alias(f"d30_grade_{g}") for g in range(5)],
        *[(d100 & (pl.col("cytopenia_grade_d100") == g)).sum().alias(f"d100_grade_{g}") for g in range(5)],
        pl.col("cytopenia_onset_day").median().alias("median_onset_day"),
        (pl.col("cytopenia_resolved_day") - pl.col("cytopenia_onset_day")).median().alias("median_days_to_resolution"),
        d100.sum().alias("d100_known"),
        (d100 & pl.col("cytopenia_resolved_day").is_null()).sum().alias("unresolved_d100"),
    ]
    key = {"centre": "centre_code", "product": "product_code", "ta": "ta_code", "quarter": "quarter"}.get(by or "")
    table = (
        episodes.group_by(pl.col(key).alias("group")).agg(*summary).sort("group")
        if key
        else episodes.select(pl.lit("England").alias("group"), *summary)
    ).collect()
    return table.with_columns(
        pl.when(pl.col("d100_known") > 0)
        .then(pl.col("unresolved_d100") / pl.col("d100_known"))
        .alias("share_unresolved_d100")
    )


def exception_reasons(dataset: Dataset, kind: str, filters: Filters | None = None, by: str = "centre") -> pl.DataFrame:
    """Travel or carer exceptions counted by reason per group (the numerator of the metric, broken down)."""
    column = f"{kind}_exception_reason"
    exception, _ = definition(f"{kind}_exception", dataset.extract_date or dt.date.today())
    key = {"centre": "centre_code", "product": "product_code", "quarter": "quarter"}[by]
    return (
        in_view(dataset, filters)
        .filter(exception)
        .group_by(pl.col(key).alias("group"), pl.col(column).alias("reason"))
        .agg(pl.len().alias("exceptions"))
        .sort("group", "reason")
        .collect()
    )


def ta_outside(dataset: Dataset, filters: Filters | None = None) -> pl.DataFrame:
    """The infusions outside their TA, one row per reason, with the episode behind it."""
    return (
        in_view(dataset, filters)
        .filter("ta_outside")
        .unpivot(
            index=["episode_id", "centre_code", "product_code", "ta_code", "age_at_infusion", "infusion_date"],
            on=list(TA_REASONS),
            variable_name="reason_id",
        )
        .filter("value")
        .with_columns(pl.col("reason_id").replace_strict(TA_REASONS).alias("reason"))
        .drop("value")
        .sort("infusion_date", "episode_id")
        .collect()
    )


def ta_outside_by_reason(dataset: Dataset, filters: Filters | None = None) -> pl.DataFrame:
    """Outside-TA infusions counted per reason (an infusion with two reasons counts under each)."""
    rows = ta_outside(dataset, filters)
    counts = rows.group_by("reason_id", "reason").agg(pl.len().alias("infusions"))
    every = pl.DataFrame({"reason_id": list(TA_REASONS), "reason": list(TA_REASONS.values())})
    return every.join(counts, on=["reason_id", "reason"], how="left").with_columns(pl.col("infusions").fill_null(0))
