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


# The bare address forwards to /overview with its query, before any widget binds a parameter, so that every page
# has the URL of DESIGN.md section 7. Navigation is drawn by ui.navigation_links; the root page is not listed.
HOME = st.Page(lambda: None, title="Home", url_path="home", default=True)
page = st.navigation([HOME, *PAGES], position="hidden")
if page is HOME:
    st.switch_page(PAGES[0], query_params={key: st.query_params.get_all(key) for key in st.query_params})

data = ui.open_dataset()
viewer = ui.sign_in(data)  # stops here with "access denied" for anyone not on the access list
ui.set_policy(data, viewer)
st.session_state["_page"] = page.url_path
ui.synthetic_banner(data)
ui.freshness_notice(data)
navigation = st.sidebar.container()
ui.sidebar_filters(data)
ui.navigation_links(navigation, PAGES)
ui.share_link(page.url_path or "overview")
page.run()
