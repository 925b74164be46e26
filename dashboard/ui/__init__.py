"""Shared Streamlit pieces, one module per concern; pages call them as ui.<name> (pages stay thin)."""

from dashboard.pages import PAGE_STATE
from dashboard.ui.figures import (
    audit_entries,
    calc,
    disclosed,
    download,
    headlines,
    metric,
    pack_download,
    patient_rows,
    signals,
    view,
)
from dashboard.ui.keys import GLOBAL_KEYS
from dashboard.ui.navigation import (
    drill_down_to_centre,
    follow_drill_down,
    follow_link,
    go_to,
    navigation_links,
    page_file,
    switch_page,
)
from dashboard.ui.session import VERSION_CHECK_SECONDS, dataset, freshness_notice, open_dataset
from dashboard.ui.signin import deny, gate, policy, set_policy, sign_in
from dashboard.ui.url_state import choices, current_filters, current_view, share_link, sidebar_filters, url_query
from dashboard.ui.widgets import (
    adjustment_picker,
    empty_notice,
    metric_picker,
    metric_table,
    percent,
    share,
    synthetic_banner,
    table,
)

__all__ = [
    "GLOBAL_KEYS",
    "PAGE_STATE",
    "VERSION_CHECK_SECONDS",
    "adjustment_picker",
    "audit_entries",
    "calc",
    "choices",
    "current_filters",
    "current_view",
    "dataset",
    "deny",
    "disclosed",
    "download",
    "drill_down_to_centre",
    "empty_notice",
    "follow_drill_down",
    "freshness_notice",
    "gate",
    "go_to",
    "headlines",
    "metric",
    "metric_picker",
    "metric_table",
    "follow_link",
    "navigation_links",
    "open_dataset",
    "pack_download",
    "page_file",
    "patient_rows",
    "percent",
    "policy",
    "set_policy",
    "share",
    "share_link",
    "sidebar_filters",
    "sign_in",
    "signals",
    "switch_page",
    "synthetic_banner",
    "table",
    "url_query",
    "view",
]
