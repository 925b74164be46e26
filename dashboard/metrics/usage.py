"""How NICE TAs and products are used: infusions per quarter by TA, centre by TA, distributions of travel and stay."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics.definitions import definition
from dashboard.metrics.episodes import in_view


def infusions_by(dataset: Dataset, filters: Filters | None = None, *columns: str) -> pl.DataFrame:
    """Infusions counted by any episode columns (e.g. quarter and ta_code, or centre_code and ta_code)."""
    return in_view(dataset, filters).group_by(*columns).agg(pl.len().alias("infusions")).sort(*columns).collect()


def value_counts(dataset: Dataset, column: str, filters: Filters | None = None, bin_width: int = 1) -> pl.DataFrame:
    """How many infusions have each value of a numeric column (binned), nulls left out."""
    episodes = in_view(dataset, filters).filter(pl.col(column).is_not_null())
    binned = (pl.col(column) // bin_width * bin_width).alias("value")
    return episodes.group_by(binned).agg(pl.len().alias("infusions")).sort("value").collect()


def exception_episodes(dataset: Dataset, filters: Filters | None = None) -> pl.DataFrame:
    """The infusions with a travel or carer exception, with their reasons (patient-level rows)."""
    episodes = in_view(dataset, filters)
    as_of = dataset.extract_date or dt.date.today()
    travel, _ = definition("travel_exception", as_of)
    carer, _ = definition("carer_exception", as_of)
    return (
        episodes.filter(travel | carer)
        .select(
            "episode_id",
            "centre_code",
            "product_code",
            "infusion_date",
            "home_travel_minutes",
            "nearby_stay_days",
            "travel_exception_reason",
            "carer_24h_available",
            "carer_exception_reason",
        )
        .sort("infusion_date")
        .collect()
    )
