"""The one filter model: the same names in URLs, on the command line and in export footers.

See docs/design.md, Filters and shareable URLs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

import polars as pl

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

# Age band at infusion: children 0-15, teenagers and young adults 16-24, adults 25 and over.
AGE_BANDS = {"children": (0, 15), "tya": (16, 24), "adults": (25, 200)}
ADJUSTMENTS = ("product_mix", "crude")  # in the order the page's picker offers them
MAX_VALUES = 50  # a URL may not ask for more values of one filter than this
MAX_LENGTH = 64  # nor for a value longer than this
# The default period: the three years to the extract date. At CAR-T volumes (a median centre treats about 25 patients
# a year) a 12-month funnel alarms on a doubled 10% toxicity rate one time in twenty; three years, about one in four,
# and alerts two times in three (README, "One period").
DEFAULT_YEARS = 3


@dataclass(frozen=True)
class Filters:
    """What a view is restricted to. Empty tuples and None mean no restriction."""

    start: dt.date | None = None
    end: dt.date | None = None
    centre: tuple[str, ...] = ()
    product: tuple[str, ...] = ()
    ta: tuple[str, ...] = ()
    age: tuple[str, ...] = ()

    def without(self, *names: str) -> Filters:
        """The same filters with some lifted (the national benchmark lifts `centre`)."""
        lifted: dict[str, Any] = {name: () if name in _MULTI else None for name in names}
        return replace(self, **lifted)

    def dated(self, extract_date: dt.date | None) -> Filters:
        """These filters over a stated period: a missing end is the extract date, a missing start the default period
        before the end; a period that ends before it starts is refused for the default one."""
        if extract_date is None:
            return self
        end = self.end or extract_date
        start = self.start or default_start(end)
        if start > end:
            start, end = default_start(extract_date), extract_date
        return replace(self, start=start, end=end)

    def as_query(self) -> dict[str, list[str]]:
        """The query parameters that reproduce these filters, in a stable order."""
        query: dict[str, list[str]] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, ()):
                continue
            query[f.name] = [
                v.isoformat() if isinstance(v, dt.date) else v
                for v in (value if isinstance(value, tuple) else (value,))
            ]
        return query

    def describe(self) -> str:
        """One line for an export footer or a page caption."""
        parts = [f"{name}={','.join(values)}" for name, values in self.as_query().items()]
        return "; ".join(parts) if parts else "no filters"


_MULTI = {"centre", "product", "ta", "age"}


def default_start(end: dt.date) -> dt.date:
    """The first day of the default period ending on `end` (2026-09-30 -> 2023-10-01)."""
    day = end + dt.timedelta(days=1)
    try:
        return day.replace(year=day.year - DEFAULT_YEARS)
    except ValueError:  # the period starts on 29 February: three years before, that year has none
        return dt.date(day.year - DEFAULT_YEARS, 3, 1)


@dataclass(frozen=True)
class View:
    """What a page that shows one metric shows of the filtered data: the metric, its adjustment, overdispersion."""

    metric: str | None = None
    adjust: str | None = None  # None: the metric's own adjustment
    overdispersion: bool = False

    def as_query(self) -> dict[str, list[str]]:
        """The query parameters that reproduce this view (after the filters' in a link); overdispersion as `true`."""
        chosen = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: ["true" if value is True else value] for name, value in chosen.items() if value}


# The URL's names for the global filters, and for the view of the pages that show one metric.
FILTER_NAMES = tuple(f.name for f in fields(Filters))
VIEW_NAMES = tuple(f.name for f in fields(View))


@dataclass(frozen=True)
class Link:
    """What a URL (or the command line) asks for: filters, a view, and the values that were not used, and why."""

    filters: Filters
    view: View
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choices:
    """The values a filter may take, from the data: anything else is ignored with a note."""

    centres: frozenset[str]
    products: frozenset[str]
    tas: frozenset[str]
    metrics: frozenset[str]
    extract_date: dt.date | None = None  # the default period ends here


def parse(query: Mapping[str, str | Iterable[str]], choices: Choices) -> Link:
    """Filters and view from URL query parameters or CLI options; invalid values are dropped with a note, never
    raised."""
    notes: list[str] = []

    def values(name: str) -> list[str]:
        raw = query.get(name)
        if raw is None:
            return []
        items = [raw] if isinstance(raw, str) else list(raw)
        items = [v for item in items for v in str(item).split(",") if v.strip()]
        if len(items) > MAX_VALUES:
            notes.append(f"{name}: only the first {MAX_VALUES} values are used")
            items = items[:MAX_VALUES]
        return [v.strip() for v in items]

    def pick(name: str, allowed: Iterable[str]) -> tuple[str, ...]:
        allowed = set(allowed)
        kept = []
        for value in values(name):
            if value not in allowed:
                notes.append(f"{name}: {_shown(value)} is not a known value")
            elif value not in kept:  # a repeated value is simply used once
                kept.append(value)
        return tuple(kept)

    def date(name: str) -> dt.date | None:
        given = values(name)
        if not given:
            return None
        try:
            return dt.date.fromisoformat(given[0])
        except ValueError:
            notes.append(f"{name}: {_shown(given[0])} is not a date (use YYYY-MM-DD)")
            return None

    def single(name: str, allowed: Iterable[str]) -> str | None:
        kept = pick(name, allowed)
        return kept[0] if kept else None

    start, end = date("start"), date("end")
    if start and end and start > end:
        notes.append(f"start {start} is after end {end}")
        start = end = None
    filters = Filters(
        start=start,
        end=end,
        centre=pick("centre", choices.centres),
        product=pick("product", choices.products),
        ta=pick("ta", choices.tas),
        age=pick("age", AGE_BANDS),
    ).dated(choices.extract_date)
    view = View(metric=single("metric", choices.metrics), adjust=single("adjust", ADJUSTMENTS))
    return Link(filters, view, tuple(notes))


def _shown(value: str) -> str:
    """A rejected value as it may be echoed back: short, printable."""
    clean = "".join(c if c.isprintable() else "?" for c in value)
    return repr(clean[:MAX_LENGTH] + ("…" if len(clean) > MAX_LENGTH else ""))


def age_band(age: pl.Expr) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.Utf8)
    for band, (low, high) in reversed(AGE_BANDS.items()):
        expr = pl.when(age.is_between(low, high)).then(pl.lit(band)).otherwise(expr)
    return expr


def apply(
    episodes: Frame, filters: Filters, date_column: str = "infusion_date", centre_column: str = "centre_code"
) -> Frame:
    """Rows of an episode-level frame, eager or lazy, within the filters (dates inclusive)."""
    conditions = []
    if filters.start:
        conditions.append(pl.col(date_column) >= filters.start)
    if filters.end:
        conditions.append(pl.col(date_column) <= filters.end)
    for name, column in (
        ("centre", centre_column),
        ("product", "product_code"),
        ("ta", "ta_code"),
        ("age", "age_band"),
    ):
        chosen = getattr(filters, name)
        if chosen and column in episodes.collect_schema():
            conditions.append(pl.col(column).is_in(list(chosen)))
    return episodes.filter(*conditions) if conditions else episodes
