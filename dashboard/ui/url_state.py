"""The global filters bound to the URL: the sidebar's widgets, the Filters they hold, and the link to share a view."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import streamlit as st

from dashboard import access
from dashboard import filters as filter_model
from dashboard.filters import Choices, Filters, View
from dashboard.loaders import Dataset
from dashboard.metrics import catalogue
from dashboard.pages import PAGE_STATE
from dashboard.ui import keys
from dashboard.ui.session import dataset
from dashboard.ui.signin import policy


def choices(data: Dataset) -> Choices:
    """Valid filter values for this viewer: a centre lead names peers by pseudonym, never by code."""
    return Choices(
        frozenset(policy().labels.values()),
        frozenset(data["products"]["product_code"]),
        frozenset(data["nice_ta"]["ta_code"]),
        frozenset(catalogue()),
        data.extract_date,
    )


def _raw_query() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def sidebar_filters(data: Dataset) -> None:
    """The global filters, keyed and bound to the URL; values a URL had that are not valid are noted once."""
    if keys.URL_NOTES not in st.session_state:
        st.session_state[keys.URL_NOTES] = filter_model.parse(_raw_query(), choices(data)).notes
    sidebar = st.sidebar
    sidebar.header("Filters")
    first = dt.date(2018, 1, 1)
    last = data.extract_date or dt.date.today()
    # The boxes show the period the pages cover: a link's dates, else the default (filters.DEFAULT_YEARS to the
    # extract date; a link with only an end gets the default length before it). Put in the session before the
    # widgets are drawn, once: a widget's `value` must not change between runs (Streamlit would make it a new
    # widget and drop what it held on the next page change).
    if keys.START not in st.session_state and keys.END not in st.session_state:
        period = filter_model.parse(_raw_query(), choices(data)).filters
        st.session_state[keys.START], st.session_state[keys.END] = period.start, period.end
    for label, key in (("From", keys.START), ("To", keys.END)):
        sidebar.date_input(
            label,
            value=None,
            min_value=first,
            max_value=last,
            key=key,
            bind="query-params",
            format="YYYY-MM-DD",
            help="Infusion dates, inclusive. Default: the three years to the extract date.",
        )
    labels = sorted(policy().labels.values(), key=lambda label: (label != access.OWN_CENTRE, label))
    sidebar.multiselect("Centre", labels, key=keys.CENTRE, bind="query-params", placeholder="All centres")
    sidebar.multiselect(
        "Product",
        sorted(data["products"]["product_code"]),
        key=keys.PRODUCT,
        bind="query-params",
        placeholder="All products",
    )
    sidebar.multiselect(
        "NICE TA",
        sorted(data["nice_ta"]["ta_code"], key=lambda c: int(c[2:])),
        key=keys.TA,
        bind="query-params",
        placeholder="All TAs",
    )
    sidebar.multiselect(
        "Age at infusion",
        list(filter_model.AGE_BANDS),
        key=keys.AGE,
        bind="query-params",
        placeholder="All ages",
        help="children: 0-15 years; tya: teenagers and young adults, 16-24; adults: 25 and over",
    )
    if _inverted():
        shown = current_filters()
        sidebar.warning(
            f"From is after To ({st.session_state[keys.START]} to {st.session_state[keys.END]}): not applied. "
            f"The pages show the default period, {shown.start} to {shown.end}. Change either date to set another.",
            icon=":material/event_busy:",
        )
    notes = st.session_state[keys.URL_NOTES]
    if notes:
        sidebar.info("Not used from the link: " + "; ".join(notes), icon=":material/link_off:")


def _inverted() -> bool:
    """A period that ends before it starts (typed in, or from a link): refused rather than applied as empty."""
    start, end = st.session_state.get(keys.START), st.session_state.get(keys.END)
    return bool(start and end and start > end)


def current_filters() -> Filters:
    """The global filters as the widgets hold them now (the one Filters object every page passes to the metrics),
    always over a stated period: an inverted one is refused for the default."""
    state = st.session_state
    chosen = policy()
    centres = tuple(code for code in (chosen.code_for(label) for label in state.get(keys.CENTRE) or ()) if code)
    refused = _inverted()
    return Filters(
        start=None if refused else state.get(keys.START),
        end=None if refused else state.get(keys.END),
        centre=centres,
        product=tuple(state.get(keys.PRODUCT) or ()),
        ta=tuple(state.get(keys.TA) or ()),
        age=tuple(state.get(keys.AGE) or ()),
    ).dated(dataset().extract_date)


def current_view() -> View:
    """The view as the page's widgets hold it now (on the pages that show one metric; empty elsewhere)."""
    state = st.session_state
    return View(
        metric=state.get(keys.METRIC),
        adjust=state.get(keys.ADJUST),
        overdispersion=bool(state.get(keys.OVERDISPERSION)),
    )


def url_query() -> dict[str, list[str]]:
    """The filters and the view as they appear in this viewer's URL (centres by the labels the viewer uses)."""
    query = current_filters().as_query()
    if keys.CENTRE in query:
        query[keys.CENTRE] = list(st.session_state.get(keys.CENTRE) or ())
    return {**query, **current_view().as_query()}


def share_link(page_path: str) -> None:
    """The exact link to this page with these filters: a colleague who opens it sees the same view."""
    own = PAGE_STATE.get(page_path, ())
    query = {k: v for k, v in url_query().items() if k in keys.GLOBAL_KEYS or k in own}
    base = (st.context.url or "").rstrip("/")
    if not base.endswith(page_path):
        base = f"{base}/{page_path}" if base else f"/{page_path}"
    link = base + ("?" + urlencode(query, doseq=True) if query else "")
    with st.sidebar.popover("Share this view", icon=":material/share:", width="stretch"):
        st.caption(
            "This link opens this page with these filters. It carries no identity: whoever opens it sees "
            "it through their own access."
        )
        st.code(link, language=None, wrap_lines=True)
