"""Early warning between meetings: each centre's risk-adjusted CUSUM and VLAD on every toxicity metric, patient by
patient in infusion order, against a threshold set for five years between false alarms at that centre's volume (or
at a typical centre's, if it treats fewer: a small centre's chart would otherwise cross on two or three events)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from dashboard import stats
from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics.definitions import definition
from dashboard.metrics.episodes import episode_table, in_view

# The acute toxicities, known by day 30, that a centre's practice can change within weeks: the charts between
# meetings. (Every chart is a chance of a false alarm: with 23 centres, three metrics at five years each make about
# 14 a year, each answered by a data check; any-grade CRS and ICANS, cytopenia and day-100 outcomes stay with the
# funnels.)
WATCHED = ("crs_severe", "icans_severe", "itu_admission")
ODDS_RATIO = 2.0  # the change the chart is built to find: a centre's odds of the event doubled
YEARS_BETWEEN_FALSE_ALARMS = 5  # in-control average run length, in years of the centre's own patients
VOLUME_YEARS = 3  # a centre's volume: its patients a year over the last three years of the store
RECENT_DAYS = 182  # a crossing within six months of the extract date is a signal; an older one was seen at a meeting
SERIES_SCHEMA = {
    "centre_code": pl.Utf8,
    "infusion_date": pl.Date,
    "risk": pl.Float64,  # the patient's expected risk: England's rate for their product
    "event": pl.Boolean,
    "cusum": pl.Float64,
    "crossed": pl.Boolean,  # the chart reached its threshold at this patient (and starts again from 0)
    "vlad": pl.Float64,  # events observed minus expected, cumulated
    "threshold": pl.Float64,
}


def thresholds(dataset: Dataset) -> pl.DataFrame:
    """Per toxicity metric and centre: patients a year, the in-control average run length that makes five years
    (patients), and the threshold that gives it for England's product mix (computed once per data version)."""
    return dataset.derived("cusum_thresholds", _thresholds)


def _thresholds(dataset: Dataset) -> pl.DataFrame:
    as_of = dataset.extract_date or dt.date.today()
    since = as_of - dt.timedelta(days=round(365.25 * VOLUME_YEARS))
    episodes = episode_table(dataset).lazy()
    centres = dataset["centres"].select("centre_code")
    tables = []
    for metric_id in WATCHED:
        numerator, denominator = definition(metric_id, as_of)
        scoped = episodes.filter(denominator).select(
            "centre_code", "product_code", "infusion_date", numerator.alias("event")
        )
        mix = (
            scoped.group_by("product_code")
            .agg(pl.len().alias("patients"), pl.col("event").mean().alias("risk"))
            .collect()
        )
        volume = centres.join(
            scoped.filter(pl.col("infusion_date") > since).group_by("centre_code").len().collect(),
            on="centre_code",
            how="left",
        ).select("centre_code", (pl.col("len").fill_null(0) / VOLUME_YEARS).alias("patients_a_year"))
        treating = volume.filter(pl.col("patients_a_year") > 0)["patients_a_year"].to_numpy()
        typical = float(np.median(treating)) if treating.size else 1.0
        volume = volume.with_columns(pl.col("patients_a_year").clip(lower_bound=typical))
        run_length = volume["patients_a_year"].to_numpy() * YEARS_BETWEEN_FALSE_ALARMS
        risks = mix["risk"].to_numpy().astype(np.float64)
        movable = ((risks > 0) & (risks < 1)).any()  # otherwise no patient's score can climb: nothing to watch
        levels = stats.cusum_thresholds(risks, mix["patients"].to_numpy(), ODDS_RATIO, run_length) if movable else None
        tables.append(
            volume.with_columns(
                pl.lit(metric_id).alias("metric"),
                pl.Series("run_length", run_length),
                pl.Series("threshold", levels if levels is not None else np.full(len(run_length), np.inf)),
            )
        )
    return pl.concat(tables).select("metric", "centre_code", "patients_a_year", "run_length", "threshold")


def series(
    dataset: Dataset, metric_id: str, filters: Filters | None = None, as_of: dt.date | None = None
) -> pl.DataFrame:
    """Every patient in the metric's denominator at each centre in view, in infusion order, with their expected risk
    (England's rate for their product under the same filters but centre: the product-mix model), the CUSUM, its
    crossings and the VLAD (SERIES_SCHEMA)."""
    filters = filters or Filters()
    as_of = as_of or dataset.extract_date or dt.date.today()
    numerator, denominator = definition(metric_id, as_of)
    national = (
        in_view(dataset, filters.without("centre"))
        .filter(denominator)
        .select("centre_code", "product_code", "infusion_date", "episode_id", numerator.alias("event"))
    )
    risks = national.group_by("product_code").agg(pl.col("event").mean().alias("risk"))
    scoped = national.filter(pl.col("centre_code").is_in(list(filters.centre))) if filters.centre else national
    levels = thresholds(dataset).filter(pl.col("metric") == metric_id).select("centre_code", "threshold").lazy()
    patients = (
        scoped.join(risks, on="product_code")
        .join(levels, on="centre_code", how="left")
        .sort("centre_code", "infusion_date", "episode_id")
        .select("centre_code", "infusion_date", "risk", "event", pl.col("threshold").fill_null(np.inf))
        .collect()
    )
    charts = []
    for centre in patients.partition_by("centre_code", maintain_order=True):
        risk, event = centre["risk"].to_numpy(), centre["event"].to_numpy()
        values, crossed = stats.bernoulli_cusum(risk, event, ODDS_RATIO, float(centre["threshold"][0]))
        charts.append(
            centre.with_columns(
                pl.Series("cusum", values), pl.Series("crossed", crossed), pl.Series("vlad", stats.vlad(risk, event))
            )
        )
    return pl.concat(charts).select(list(SERIES_SCHEMA)) if charts else pl.DataFrame(schema=SERIES_SCHEMA)


def recent_crossings(dataset: Dataset, filters: Filters | None = None, as_of: dt.date | None = None) -> pl.DataFrame:
    """Each centre and watched metric whose chart reached its threshold within RECENT_DAYS of the extract date: the
    latest crossing's date, and the patients, events observed and events expected of the climb that reached it
    (from the last time the chart stood at 0)."""
    as_of = as_of or dataset.extract_date or dt.date.today()
    found = []
    for metric_id in WATCHED:
        charted = series(dataset, metric_id, filters, as_of).with_columns(
            # A climb starts where the chart left 0, or restarted after a crossing.
            (
                (pl.col("cusum").shift(1).over("centre_code").fill_null(0) <= 0)
                | pl.col("crossed").shift(1).over("centre_code").fill_null(False)
            )
            .cum_sum()
            .over("centre_code")
            .alias("climb")
        )
        latest = (
            charted.filter(pl.col("crossed"))
            .group_by("centre_code")
            .agg(pl.col("infusion_date").max().alias("crossed_on"), pl.col("climb").max())
            .filter(pl.col("crossed_on") > as_of - dt.timedelta(days=RECENT_DAYS))
        )
        found.append(
            charted.join(latest, on=["centre_code", "climb"])
            .group_by("centre_code")
            .agg(
                pl.col("infusion_date").min().alias("climb_from"),
                pl.col("crossed_on").first(),
                pl.len().alias("patients"),
                pl.col("event").sum().cast(pl.Int64).alias("observed"),
                pl.col("risk").sum().alias("expected"),
                pl.col("threshold").first(),
            )
            .with_columns(pl.lit(metric_id).alias("metric"))
        )
    columns = ["metric", "centre_code", "climb_from", "crossed_on", "patients", "observed", "expected", "threshold"]
    return pl.concat([f.select(columns) for f in found]).sort("metric", "centre_code")
