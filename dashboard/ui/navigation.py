"""Moving between pages: the page links, drill-down from a chart, and page switches that keep the filters."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.navigation.page import StreamlitPage

from dashboard import pages as registry
from dashboard.ui import keys


def navigation_links(box: DeltaGenerator, pages: list[StreamlitPage]) -> None:
    """The page list (st.navigation's own is hidden so that the root can forward to /overview).

    The links carry no query: the sidebar's bound widgets keep their state across pages and write their own
    parameters into the new page's address (a query on the link as well wrote each of them twice, more at each click).
    """
    for page in pages:
        box.page_link(page)
    box.divider()


def go_to(page: str, **state: object) -> None:
    """From a callback: set widget state (e.g. centre) and open another page (its script) on the next run."""
    for key, value in state.items():
        st.session_state[key] = value
    st.session_state[keys.GOTO] = page


def drill_down_to_centre(chart_key: str) -> Callable[[], None]:
    """A callback for a chart whose points carry the centre code first in their customdata."""

    def open_centre() -> None:
        points = st.session_state[chart_key].selection.points
        if points and points[0].get("customdata"):
            go_to(registry.CENTRES.file, **{keys.CENTRE: [points[0]["customdata"][0]]})

    return open_centre


def follow_link(page_path: str, query: dict[str, list[str]]) -> None:
    """A callback that opens a page with a link's centre and metric set in the widgets they bind to. (A page_link's
    query cannot do it: the sidebar's bound widgets keep the state they had and overwrite the link's values.)"""
    state: dict[str, object] = {}
    if keys.CENTRE in query:
        state[keys.CENTRE] = list(query[keys.CENTRE])
    if keys.METRIC in query:
        state[keys.METRIC] = query[keys.METRIC][0]
    go_to(page_file(page_path), **state)


def follow_drill_down() -> None:
    """Called first by the entrypoint: a drill-down asked for in a callback happens here."""
    page = st.session_state.pop(keys.GOTO, None)
    if page:
        switch_page(page)


def switch_page(page: str | StreamlitPage) -> None:
    """st.switch_page that keeps the filters: the bound widgets put their own parameters back in the URL.

    (Streamlit 1.67 refuses to clear bound query parameters, which a plain st.switch_page tries to do.)
    """
    st.switch_page(page, query_params={})


def page_file(url_path: str) -> str:
    """The page script behind a URL path (nice-ta -> pages/nice_ta.py)."""
    return registry.BY_PATH[url_path].file
