"""Every st.session_state key the UI uses, in one place: a bound widget's key is its URL parameter's name."""

from dashboard.filters import FILTER_NAMES, VIEW_NAMES

# The global filters' widgets (sidebar), bound to the URL.
GLOBAL_KEYS = START, END, CENTRE, PRODUCT, TA, AGE = FILTER_NAMES
# The view's widgets, on the pages that show one metric.
METRIC, ADJUST, OVERDISPERSION = VIEW_NAMES
DEMO_ROLE = "demo_role"
DEMO_CENTRE = "demo_centre"
SHOWN = "_shown_version"  # (data version, why not the newest) of this run, set by open_dataset
GATE = "_gate"  # this session's gate, set after sign-in
PAGE = "_page"  # the URL path of the page this run draws, for the audit log
GOTO = "_goto_page"  # set by a drill-down callback, honoured by the entrypoint on the next run
URL_NOTES = "_url_notes"  # values the opening URL had that were not used, noted once per session
CASE = "case"  # the case open on the cases page, bound to ?case= by hand (a link can open one)
MEETING_DATE = "meeting_date"  # the meeting on the meetings page, bound to ?date=
