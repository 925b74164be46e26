"""Outlier cases and meetings in the app: read from the store (kept for a few seconds, dropped by every change),
changed through dashboard/cases and dashboard/meetings as the signed-in viewer, shown through the gate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from dashboard import cases, meetings, presenter, store
from dashboard.filters import Filters
from dashboard.metrics.catalogue import catalogue
from dashboard.ui import keys
from dashboard.ui.figures import signal_records
from dashboard.ui.session import VERSION_CHECK_SECONDS, dataset, run_version
from dashboard.ui.signin import gate, policy

CASE_KEY = ("centre_code", "metric", "level")  # one case per centre, metric and level
MESSAGE = "_casework_message"  # what the last change did (or why it was refused), shown once on the next run


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _cases(url: str) -> pl.DataFrame:
    return cases.cases(store.engine_for(url))


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _history(url: str) -> pl.DataFrame:
    return cases.history(store.engine_for(url))


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _held(url: str) -> pl.DataFrame:
    return meetings.held(store.engine_for(url))


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _minutes(url: str, meeting_id: int) -> meetings.Minutes:
    return meetings.minutes(store.engine_for(url), meeting_id)


def _changed() -> None:
    """After a change on this server, every session reads it at once (another replica within the check interval)."""
    for cached in (_cases, _history, _held, _minutes):
        cached.clear()


def change(done: str, write: Callable[..., Any], *args: Any, **options: Any) -> None:
    """A callback: one write as the signed-in viewer (the store's engine first), its outcome kept for the next run."""
    try:
        write(store.engine_for(store.database_url()), policy().viewer, *args, **options)
    except (cases.NotAllowed, ValueError) as error:
        st.session_state[MESSAGE] = ("error", str(error))
    else:
        st.session_state[MESSAGE] = ("success", done)
    _changed()


def show_message() -> None:
    kind, text = st.session_state.pop(MESSAGE, (None, None))
    if kind == "error":
        st.error(text, icon=":material/block:")
    elif kind == "success":
        st.success(text, icon=":material/check_circle:")


def shown_cases() -> pl.DataFrame:
    """The cases this viewer may see (all, their own centre's, or none), through the gate."""
    return gate().cases(_cases(store.database_url()))


def case_counts() -> pl.DataFrame:
    return gate().case_counts(_cases(store.database_url()))


def case_history(case_id: int) -> pl.DataFrame:
    """A case's events, oldest first, if this viewer may see the case (else none)."""
    if case_id not in shown_cases()["case_id"].to_list():
        return pl.DataFrame(schema=cases.EVENT_COLUMNS)
    return _history(store.database_url()).filter(pl.col("case_id") == case_id).drop("case_id")


def raised(filters: Filters) -> pl.DataFrame:
    """The signals a case can be opened for under these filters, as this viewer may see them."""
    return meetings.signal_keys(signal_records(filters))


def open_from_signal(signal: dict, filters: Filters) -> None:
    """A callback: the case of a signal, its evidence the signal as read now and the link of the view it is in."""
    query = gate().query(filters)
    change(
        f"Case opened for {signal['centre']}: {catalogue()[signal['metric']].title} ({signal['level']}).",
        cases.open_case,
        signal["centre"],
        signal["metric"],
        signal["level"],
        presenter.signal_detail(signal),
        meetings.link(presenter.signal_link(signal, query)),
        run_version(),
    )


def agenda(on: dt.date, filters: Filters) -> pl.DataFrame:
    """The agenda for a date: England's signals under the filters' period (the sidebar's; by default the three years
    to the extract date), the cases, and the last meeting."""
    view = filters.dated(dataset().extract_date)
    url = store.database_url()
    earlier = _held(url).filter(pl.col("held_on") < on)
    last = _minutes(url, earlier["meeting_id"][0]) if earlier.height else None
    return meetings.agenda(on, raised(view), _cases(url), last, view.as_query())


def meeting_on(on: dt.date) -> meetings.Minutes | None:
    """The record of the meeting on a date, if its minutes were started."""
    url = store.database_url()
    found = _held(url).filter(pl.col("held_on") == on)
    return _minutes(url, found["meeting_id"][0]) if found.height else None


def chosen_case(shown: pl.DataFrame) -> int | None:
    """The case open on the page, bound to ?case=ID by hand (a link opens it): one this viewer may see, or none,
    with a note when the link asked for another."""
    ids = shown["case_id"].to_list()
    asked = st.query_params.get(keys.CASE)
    wanted = int(asked) if asked is not None and asked.isdigit() else None
    if asked is not None and wanted not in ids:
        st.warning(f"There is no case {asked} that you may see.", icon=":material/block:")
        st.query_params.pop(keys.CASE, None)
    titles = catalogue()
    labels = {
        r["case_id"]: f"Case {r['case_id']}: {r['centre_code']}, {titles[r['metric']].title} ({r['level']})"
        for r in shown.iter_rows(named=True)
    }
    return st.selectbox(
        "Case",
        ids,
        index=ids.index(wanted) if wanted in ids else None,  # the link's case when the page opens
        format_func=labels.__getitem__,
        placeholder="Choose a case",
        key=keys.CASE,
        on_change=_case_to_url,
    )


def _case_to_url() -> None:
    chosen = st.session_state.get(keys.CASE)
    if chosen is None:
        st.query_params.pop(keys.CASE, None)
    else:
        st.query_params[keys.CASE] = str(chosen)
