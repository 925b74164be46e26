"""Early warning between meetings: each centre's risk-adjusted CUSUM and VLAD on every toxicity metric, patient by
patient in infusion order, against a threshold set for five years between false alarms at that centre's volume (or
at a typical centre's, if it treats fewer: a small centre's chart would otherwise cross on two or three events)."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import polars as pl

from dashboard import filters as filter_model
from dashboard import stats
from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics.definitions import definition
from dashboard.metrics.episodes import episode_table

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


def _order(dataset: Dataset) -> pl.Series:
    """Each episode's place in centre, infusion date and episode id order, found once per data version: a chart's
    patients are then put in order by one integer rather than three keys."""

    def ranked(data: Dataset) -> pl.Series:
        order = episode_table(data).select(pl.arg_sort_by("centre_code", "infusion_date", "episode_id"))
        return order.to_series().arg_sort().cast(pl.UInt32).alias("_order")

    return dataset.derived("cusum_order", ranked)


def series(
    dataset: Dataset, metric_id: str, filters: Filters | None = None, as_of: dt.date | None = None
) -> pl.DataFrame:
    """Every patient in the metric's denominator at each centre in view, in infusion order, with their expected risk
    (England's rate for their product under the same filters but centre: the product-mix model), the CUSUM, its
    crossings and the VLAD (SERIES_SCHEMA)."""
    return charts(dataset, (metric_id,), filters, as_of)[metric_id]


def charts(
    dataset: Dataset, metric_ids: tuple[str, ...], filters: Filters | None = None, as_of: dt.date | None = None
) -> dict[str, pl.DataFrame]:
    """`series` of several metrics, reading and ordering the episodes in view once for all of them."""
    filters = filters or Filters()
    as_of = as_of or dataset.extract_date or dt.date.today()
    defined = {m: definition(m, as_of) for m in metric_ids}
    national = (
        filter_model.apply(episode_table(dataset).lazy().with_columns(_order(dataset)), filters.without("centre"))
        .select(
            "centre_code",
            "product_code",
            "infusion_date",
            "_order",
            *(n.alias(f"{m}:event") for m, (n, _) in defined.items()),
            *(d.alias(f"{m}:counted") for m, (_, d) in defined.items()),
        )
        .filter(pl.any_horizontal(pl.col(f"{m}:counted") for m in metric_ids))
        .sort("_order")
        .collect()
    )
    scoped = national.filter(pl.col("centre_code").is_in(list(filters.centre))) if filters.centre else national
    levels = thresholds(dataset)
    return {m: _chart(national, scoped, m, levels) for m in metric_ids}


def _chart(national: pl.DataFrame, scoped: pl.DataFrame, metric_id: str, levels: pl.DataFrame) -> pl.DataFrame:
    """One metric's charts from the episodes in view (in order): England's product rates from all of them, each
    centre's CUSUM and VLAD on its own run of rows."""
    event, counted = pl.col(f"{metric_id}:event"), pl.col(f"{metric_id}:counted")
    risks = national.filter(counted).group_by("product_code").agg(event.mean().alias("risk"))
    level = levels.filter(pl.col("metric") == metric_id).select("centre_code", "threshold")
    patients = (
        scoped.filter(counted)
        .join(risks, on="product_code", how="left", maintain_order="left")
        .join(level, on="centre_code", how="left", maintain_order="left")
        .select("centre_code", "infusion_date", "risk", event.alias("event"), pl.col("threshold").fill_null(np.inf))
    )
    # Each centre's patients are one run of rows (sorted by centre first): its chart is computed on that slice.
    risk, happened, threshold = (patients[c].to_numpy() for c in ("risk", "event", "threshold"))
    values, crossed, vlad = np.empty(patients.height), np.zeros(patients.height, dtype=bool), np.empty(patients.height)
    starts = patients.select(pl.col("centre_code").ne(pl.col("centre_code").shift(1)).fill_null(True).arg_true())
    for first, end in itertools.pairwise([*starts.to_series().to_list(), patients.height]):
        part = slice(first, end)
        values[part], crossed[part] = stats.bernoulli_cusum(
            risk[part], happened[part], ODDS_RATIO, float(threshold[first])
        )
        vlad[part] = stats.vlad(risk[part], happened[part])
    charted = patients.with_columns(pl.Series("cusum", values), pl.Series("crossed", crossed), pl.Series("vlad", vlad))
    return charted.select(list(SERIES_SCHEMA))


def recent_crossings(dataset: Dataset, filters: Filters | None = None, as_of: dt.date | None = None) -> pl.DataFrame:
    """Each centre and watched metric whose chart reached its threshold within RECENT_DAYS of the extract date: the
    latest crossing's date, and the patients, events observed and events expected of the climb that reached it
    (from the last time the chart stood at 0)."""
    as_of = as_of or dataset.extract_date or dt.date.today()
    found = []
    for metric_id, chart in charts(dataset, WATCHED, filters, as_of).items():
        # A climb starts at a centre's first patient, where its chart left 0, or where it restarted after a
        # crossing; numbered through the whole frame (each centre's rows are together), so no window is needed.
        cusum, crossed = chart["cusum"].to_numpy(), chart["crossed"].to_numpy()
        centre = chart["centre_code"]
        opened = np.ones(chart.height, dtype=bool)
        opened[1:] = (cusum[:-1] <= 0) | crossed[:-1] | (centre[1:] != centre[:-1]).to_numpy()
        charted = chart.with_columns(pl.Series("climb", np.cumsum(opened)))
        latest = (
            charted.filter(pl.col("crossed"))
            .group_by("centre_code")
            .agg(pl.col("infusion_date").max().alias("crossed_on"), pl.col("climb").max())
            .filter(pl.col("crossed_on") > as_of - dt.timedelta(days=RECENT_DAYS))
        )
        found.append(
            charted.filter(pl.col("climb").is_in(latest["climb"].implode()))
            .join(latest.drop("centre_code"), on="climb")
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
