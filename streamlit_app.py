"""Entry point of the dashboard: page set-up, the synthetic-data banner, the global filters and navigation."""

import streamlit as st

from dashboard import pages, ui
from dashboard.ui import keys

st.set_page_config(page_title="CAR-T governance", page_icon=":material/monitoring:", layout="wide")
ui.follow_drill_down()

PAGES = [st.Page(p.file, title=p.title, url_path=p.path, icon=p.icon) for p in pages.PAGES]


# The bare address forwards to /overview with its query, before any widget binds a parameter, so that every page
# has its URL (docs/design.md, Filters and shareable URLs). Navigation is drawn by ui.navigation_links; the root
# page is not listed.
HOME = st.Page(lambda: None, title="Home", url_path="home", default=True)
page = st.navigation([HOME, *PAGES], position="hidden")
if page is HOME:
    st.switch_page(PAGES[0], query_params={key: st.query_params.get_all(key) for key in st.query_params})

data = ui.open_dataset()
viewer = ui.sign_in(data)  # stops here with "access denied" for anyone not on the access list
ui.set_policy(data, viewer)
st.session_state[keys.PAGE] = page.url_path
ui.page_style()
ui.synthetic_banner(data)
ui.freshness_notice(data)
navigation = st.sidebar.container()
ui.sidebar_filters(data)
ui.navigation_links(navigation, PAGES)
ui.share_link(page.url_path or pages.OVERVIEW.path)
page.run()
