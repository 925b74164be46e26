"""Entry point of the dashboard: page set-up, the synthetic-data banner and navigation."""

import streamlit as st

from dashboard import ui

st.set_page_config(page_title="CAR-T governance", page_icon=":material/monitoring:", layout="wide")

data = ui.dataset()
ui.synthetic_banner(data)

page = st.navigation([
    st.Page("pages/overview.py", title="Overview", url_path="overview", icon=":material/home:", default=True),
    st.Page("pages/data_quality.py", title="Data quality", url_path="data-quality", icon=":material/rule:"),
])
page.run()
