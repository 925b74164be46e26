"""Shared Streamlit pieces: the cached dataset, the global filters bound to the URL, share links, tables, banners.

Pages stay thin: they pick a metric, call dashboard/metrics, and draw with dashboard/charts through these helpers.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import polars as pl
import sqlalchemy as sa
import streamlit as st

from dashboard import exports, metrics, store
from dashboard import filters as filter_model
from dashboard.filters import Choices, Filters
from dashboard.loaders import Dataset, load_dataset
from dashboard.metrics import catalogue

VERSION_CHECK_SECONDS = 30  # how stale a page may be after an ingest; no database read on each rerun
GLOBAL_KEYS = ("start", "end", "centre", "product", "ta", "age")
# The page-level parameters each page has widgets for: a share link carries only these (and the global filters).
PAGE_STATE = {"toxicity": ("metric", "adjust", "overdispersion"), "itu": ("adjust", "overdispersion"),
              "products": ("metric",)}
GOTO = "_goto_page"  # set by a drill-down callback, honoured by the entrypoint on the next run


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _data_version(url: str) -> int:
    return store.data_version(store.engine_for(url))


@st.cache_resource(show_spinner="Loading the data…", max_entries=2)
def _dataset(url: str, version: int) -> Dataset:
    data = load_dataset(store.engine_for(url))
    data.episodes  # noqa: B018 - build the episode table once per data version, not on a page run
    return data


def dataset() -> Dataset:
    """The validated frames of the store's current data version, loaded once per version per server."""
    url = store.database_url()
    try:
        return _dataset(url, _data_version(url))
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        _data_version.clear()  # the next interaction asks the store again
        st.error("The data store is unavailable. Nothing is shown rather than something stale or wrong; "
                 "try again in a moment.", icon=":material/cloud_off:")
        st.stop()


@st.cache_resource(max_entries=64, show_spinner="Looking for signals…")
def _signals(url: str, version: int, filters: Filters) -> pl.DataFrame:
    return metrics.signals(_dataset(url, version), filters)


def signals(data: Dataset, filters: Filters) -> pl.DataFrame:
    """The signals list for these filters, computed once per data version and filter state (every metric at once)."""
    return _signals(store.database_url(), data.data_version, filters)


def synthetic_banner(data: Dataset) -> None:
    if data.synthetic:
        st.warning("Synthetic data: invented centres and patients, for demonstration only. "
                   "No figure here describes a real hospital.", icon=":material/science:")


def choices(data: Dataset) -> Choices:
    return Choices(frozenset(data["centres"]["centre_code"]), frozenset(data["products"]["product_code"]),
                   frozenset(data["nice_ta"]["ta_code"]), frozenset(catalogue()))


def _raw_query() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def navigation_links(box, pages: list) -> None:
    """The page list (st.navigation's own is hidden so that the root can forward to /overview).

    Each link carries the global filters: bound widgets take their value from the URL of the page they open.
    """
    query = {k: v for k, v in current_filters().as_query().items() if k in GLOBAL_KEYS}
    for page in pages:
        box.page_link(page, query_params=query)
    box.divider()


def sidebar_filters(data: Dataset) -> None:
    """The global filters, keyed and bound to the URL; values a URL had that are not valid are noted once."""
    if "_url_notes" not in st.session_state:
        st.session_state["_url_notes"] = filter_model.parse(_raw_query(), choices(data)).notes
    sidebar = st.sidebar
    sidebar.header("Filters")
    first = dt.date(2018, 1, 1)
    last = data.extract_date or dt.date.today()
    left, right = sidebar.columns(2)
    left.date_input("From", value=None, min_value=first, max_value=last, key="start", bind="query-params",
                    format="YYYY-MM-DD")
    right.date_input("To", value=None, min_value=first, max_value=last, key="end", bind="query-params",
                     format="YYYY-MM-DD")
    sidebar.multiselect("Centre", sorted(data["centres"]["centre_code"]), key="centre", bind="query-params",
                        placeholder="All centres")
    sidebar.multiselect("Product", sorted(data["products"]["product_code"]), key="product", bind="query-params",
                        placeholder="All products")
    sidebar.multiselect("NICE TA", sorted(data["nice_ta"]["ta_code"], key=lambda c: int(c[2:])), key="ta",
                        bind="query-params", placeholder="All TAs")
    sidebar.multiselect("Age at infusion", list(filter_model.AGE_BANDS), key="age", bind="query-params",
                        placeholder="All ages", help="children 0-15, tya 16-24, adults 25 and over")
    notes = st.session_state["_url_notes"]
    if notes:
        sidebar.info("Not used from the link: " + "; ".join(notes), icon=":material/link_off:")


def current_filters() -> Filters:
    """The filters as the widgets hold them now (the one Filters object every page passes to the metrics)."""
    state = st.session_state
    return Filters(
        start=state.get("start"), end=state.get("end"),
        centre=tuple(state.get("centre") or ()), product=tuple(state.get("product") or ()),
        ta=tuple(state.get("ta") or ()), age=tuple(state.get("age") or ()),
        metric=state.get("metric"), adjust=state.get("adjust"),
    )


def share_link(page_path: str) -> None:
    """The exact link to this page with these filters: a colleague who opens it sees the same view."""
    own = PAGE_STATE.get(page_path, ())
    query = {k: v for k, v in current_filters().as_query().items() if k in GLOBAL_KEYS or k in own}
    if "overdispersion" in own and st.session_state.get("overdispersion"):
        query["overdispersion"] = ["true"]
    base = (st.context.url or "").rstrip("/")
    if not base.endswith(page_path):
        base = f"{base}/{page_path}" if base else f"/{page_path}"
    link = base + ("?" + urlencode(query, doseq=True) if query else "")
    with st.sidebar.popover("Share this view", icon=":material/share:", width="stretch"):
        st.caption("This link opens this page with these filters. It carries no identity: whoever opens it sees "
                   "it through their own access.")
        st.code(link, language=None, wrap_lines=True)


def go_to(page: str, **state) -> None:
    """From a callback: set widget state (e.g. centre) and open another page on the next run."""
    for key, value in state.items():
        st.session_state[key] = value
    st.session_state[GOTO] = page


def drill_down_to_centre(chart_key: str):
    """A callback for a chart whose points carry the centre code first in their customdata."""

    def open_centre() -> None:
        points = st.session_state[chart_key].selection.points
        if points and points[0].get("customdata"):
            go_to("pages/centres.py", centre=[points[0]["customdata"][0]])

    return open_centre


def follow_drill_down() -> None:
    """Called first by the entrypoint: a drill-down asked for in a callback happens here."""
    page = st.session_state.pop(GOTO, None)
    if page:
        switch_page(page)


def switch_page(page) -> None:
    """st.switch_page that keeps the filters: the bound widgets put their own parameters back in the URL.

    (Streamlit 1.67 refuses to clear bound query parameters, which a plain st.switch_page tries to do.)
    """
    st.switch_page(page, query_params={})


def page_file(url_path: str) -> str:
    """The page script behind a URL path (nice-ta -> pages/nice_ta.py)."""
    return f"pages/{url_path.replace('-', '_')}.py"


def metric_picker(options: list[str], default: str, label: str = "Metric") -> str:
    """A metric, bound to ?metric=; shows its title and definition beneath."""
    if st.session_state.get("metric") not in options:
        st.session_state.pop("metric", None)
    chosen = st.selectbox(label, options, index=options.index(default), key="metric", bind="query-params")
    metric = catalogue()[chosen]
    st.caption(f"**{metric.title}.** {metric.definition} Numerator: {metric.numerator}; denominator: "
               f"{metric.denominator}.")
    return chosen


def adjustment_picker(metric_id: str) -> tuple[str, bool]:
    """Product-mix or crude (bound to ?adjust=), and overdispersion (default off, bound too)."""
    default = catalogue()[metric_id].adjustment
    left, right = st.columns([2, 1])
    adjust = left.segmented_control("Adjustment", ["product_mix", "crude"], default=default, key="adjust",
                                    bind="query-params", help="product_mix: observed / expected given each "
                                    "patient's product (national rates); crude: the rate itself")
    overdispersion = right.toggle("Overdispersion", key="overdispersion", bind="query-params",
                                  help="Widen the limits for spread between centres beyond chance (DerSimonian-"
                                       "Laird, 10% winsorised)")
    return adjust or default, overdispersion


def table(frame: pl.DataFrame, key: str, file_name: str, caption: str | None = None, **column_config) -> None:
    """The table behind a chart, with a CSV download of exactly what is shown."""
    if caption:
        st.caption(caption)
    st.dataframe(frame, key=key, hide_index=True, column_config=column_config or None)
    st.download_button("Download CSV", exports.csv_bytes(frame), file_name=file_name, mime="text/csv",
                       key=f"{key}_download", icon=":material/download:")


def quarter(day: dt.date) -> str:
    return f"{day.year} Q{(day.month - 1) // 3 + 1}"


def percent(column: str) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(column, format="percent")


def empty_notice(frame: pl.DataFrame, what: str) -> bool:
    """True (with a note) when the filters leave nothing to show."""
    if frame.height == 0:
        st.info(f"No {what} under these filters.", icon=":material/filter_alt_off:")
        return True
    return False
