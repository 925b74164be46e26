"""Entry point of the dashboard: page set-up, the synthetic-data banner, the global filters and navigation."""

import streamlit as st

from dashboard import ui

st.set_page_config(page_title="CAR-T governance", page_icon=":material/monitoring:", layout="wide")
ui.follow_drill_down()

PAGES = [
    st.Page("pages/overview.py", title="Overview", url_path="overview", icon=":material/home:"),
    st.Page("pages/toxicity.py", title="Toxicity", url_path="toxicity", icon=":material/coronavirus:"),
    st.Page("pages/itu.py", title="ITU", url_path="itu", icon=":material/emergency:"),
    st.Page("pages/nice_ta.py", title="NICE TAs", url_path="nice-ta", icon=":material/gavel:"),
    st.Page("pages/exceptions.py", title="Carer and travel", url_path="exceptions", icon=":material/commute:"),
    st.Page("pages/products.py", title="Products", url_path="products", icon=":material/vaccines:"),
    st.Page("pages/centres.py", title="Centres", url_path="centres", icon=":material/local_hospital:"),
    st.Page("pages/data_quality.py", title="Data quality", url_path="data-quality", icon=":material/rule:"),
]


def home() -> None:
    """The bare address opens the overview at its own path, so every page has the URL of DESIGN.md section 7."""
    st.switch_page(PAGES[0])


# Navigation is drawn by ui.navigation_links: the root page only forwards and is not listed.
page = st.navigation([st.Page(home, title="Home", url_path="home", default=True), *PAGES], position="hidden")

data = ui.dataset()
ui.synthetic_banner(data)
ui.navigation_links(PAGES)
ui.sidebar_filters(data)
ui.share_link(page.url_path or "overview")
page.run()
