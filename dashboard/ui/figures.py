"""Every figure a page shows: computed once per data version from dashboard/metrics, then passed through the gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import polars as pl
import streamlit as st

from dashboard import audit, metrics, presenter, store
from dashboard import gate as gate_module
from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.meetings import Minutes
from dashboard.ui import keys
from dashboard.ui.session import VERSION_CHECK_SECONDS, WARM, dataset_of, run_version
from dashboard.ui.signin import gate, policy
from dashboard.ui.url_state import current_filters, current_view

P = ParamSpec("P")
R = TypeVar("R")


def _name(function: Callable) -> str:
    """A metric function's place in the code: the cache key that stands for the function itself."""
    return f"{function.__module__}.{function.__qualname__}"


def _disclose(suppress: bool) -> metrics.rates.Disclose:
    return gate_module.suppressed_metric if suppress else metrics.rates.exact


# The function is keyed by its name (the leading underscore keeps Streamlit from hashing the object itself).
@st.cache_resource(max_entries=512, show_spinner=False)
def _computed(url: str, version: int, name: str, _function: Callable, args: tuple, options: tuple) -> Any:  # noqa: ARG001 (name: the cache key)
    return _function(dataset_of(url, version), *args, **dict(options))


def calc(function: Callable[Concatenate[Dataset, P], R], *args: P.args, **options: P.kwargs) -> R:
    """function(this run's dataset, *args, **options) for a function of dashboard.metrics, computed once per data
    version and arguments: a page rerun with the same filters reads it from memory. The figures are exact: pass them
    through the gate."""
    options_key = tuple(sorted(options.items()))
    return _computed(store.database_url(), run_version(), _name(function), function, args, options_key)


@st.cache_resource(max_entries=256, show_spinner=False)
def _disclosed(url: str, version: int, name: str, _function: Callable, args: tuple, suppress: bool) -> Any:  # noqa: ARG001
    return _function(dataset_of(url, version), *args, disclose=_disclose(suppress))


def disclosed(function: Callable[..., R], *args: Any) -> R:
    """Like calc, for metrics built on other metric tables (profiles, SPC), which take a `disclose` view: computed
    from what this viewer's view discloses (cached per disclosure, not per person)."""
    return _disclosed(store.database_url(), run_version(), _name(function), function, args, policy().suppress)


def metric(
    metric_id: str,
    by: str | None = None,
    filters: Filters | None = None,
    adjust: str | None = None,
    overdispersion: bool = False,
) -> metrics.MetricTable:
    """A metric table as this viewer may see it: through the gate."""
    table = calc(metrics.compute, metric_id, by=by, filters=filters, adjust=adjust, overdispersion=overdispersion)
    return gate().metric(table)


def view(frame: pl.DataFrame, centre_columns: tuple[str, ...] = ()) -> pl.DataFrame:
    """Any aggregate table on its way to the page: through the gate (labels, and suppression for an observer)."""
    return gate().frame(frame, centre_columns)


def headlines(filters: Filters) -> pl.DataFrame:
    return gate().headlines(calc(metrics.headlines, filters))


@st.cache_resource(max_entries=64, show_spinner="Looking for signals…")
def _signals(url: str, version: int, filters: Filters, suppress: bool) -> pl.DataFrame:
    return metrics.signals(dataset_of(url, version), filters, disclose=_disclose(suppress))


def _default_signals(url: str, version: int, data: Dataset) -> None:
    """A new data version's signals for the default period, national and suppressed: the overview's first view."""
    for suppress in (False, True):
        _signals(url, version, Filters().dated(data.extract_date), suppress)


WARM.append(_default_signals)


def signal_records(filters: Filters) -> pl.DataFrame:
    """The signals for these filters (found once per data version, filter state and disclosure) as this viewer may
    see them: records, without words (what a case is opened from)."""
    chosen = gate()
    return chosen.signals(_signals(store.database_url(), run_version(), filters, chosen.policy.suppress))


def signals(filters: Filters) -> list[dict]:
    """The signals for these filters as this viewer may see them, each with its words and its link (page, query)."""
    chosen = gate()
    records = signal_records(filters)
    query = chosen.query(filters)
    return [
        {**row, "text": presenter.signal_text(row), "link": presenter.signal_link(row, query)}
        for row in records.iter_rows(named=True)
    ]


def patient_rows(frame: pl.DataFrame, what: str, centre_column: str = "centre_code") -> pl.DataFrame | None:
    """Patient-level rows this viewer may see (recorded in the audit log); None with a note when none."""
    chosen = policy()
    if not chosen.sees_patient_rows:
        st.info("Patient-level rows are not shown to your role.", icon=":material/visibility_off:")
        return None
    rows = gate().patient_rows(frame, centre_column)
    if rows.height:
        audit.record(
            store.engine_for(store.database_url()),
            chosen.viewer,
            "view patient rows",
            st.session_state.get(keys.PAGE),
            current_filters(),
            f"{what}: {rows.height} rows",
            current_view(),
        )
    return rows


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _audit_entries(url: str) -> pl.DataFrame:
    return audit.entries(store.engine_for(url))


def audit_entries() -> pl.DataFrame:
    """The audit log for the national role (read at most every 30 seconds)."""
    return _audit_entries(store.database_url())


def download(
    label: str, make: Callable[[], bytes], file_name: str, mime: str, key: str, what: str, **options: Any
) -> None:
    """A download made at the click, for this signed-in session, and written to the audit log as it is made (who,
    role, page, filters, what). Nothing is built or stored before the click."""
    viewer, page, filters, shown = policy().viewer, st.session_state.get(keys.PAGE), current_filters(), current_view()
    url = store.database_url()

    def produce() -> bytes:
        content = make()
        audit.record(store.engine_for(url), viewer, "export", page, filters, f"{what} ({file_name})", shown)
        return content

    st.download_button(label, produce, file_name=file_name, mime=mime, key=key, on_click="ignore", **options)


def pack_download(data: Dataset, filters: Filters, minutes: Minutes | None = None) -> None:
    """The governance pack of this view (small numbers suppressed), built only when it is asked for; a meeting's
    minutes first when given, each item linked to its view on this app."""
    from dashboard import report

    chosen = gate()
    name = f"cart-governance-pack-{filters.start}-to-{filters.end}"
    if minutes is not None:
        name = f"cart-governance-pack-meeting-{minutes.held_on}"
    page = st.session_state.get(keys.PAGE) or ""
    base = (st.context.url or "").rstrip("/").removesuffix(f"/{page}")  # the app's address, for the items' links

    def build() -> str:
        return report.build(data, filters, chosen, minutes=minutes, base_url=base)

    with st.container(horizontal=True):
        download(
            "Download the governance pack (HTML)",
            lambda: build().encode(),
            file_name=f"{name}.html",
            mime="text/html",
            key="pack_download",
            what="governance pack",
            icon=":material/summarize:",
            help=f"One offline HTML file for a meeting, marked {report.MARKING}; counts of 1-7 shown as *.",
        )
        download(
            "Download the governance pack (PDF)",
            lambda: report.pdf(build()),
            file_name=f"{name}.pdf",
            mime="application/pdf",
            key="pack_pdf_download",
            what="governance pack",
            icon=":material/picture_as_pdf:",
            help=f"The same pack printed to PDF (takes a few seconds), marked {report.MARKING}.",
        )
