"""Shared Streamlit pieces: the cached dataset, the global filters bound to the URL, share links, tables, banners.

Pages stay thin: they pick a metric, call dashboard/metrics, and draw with dashboard/charts through these helpers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from urllib.parse import urlencode

import polars as pl
import sqlalchemy as sa
import streamlit as st

from dashboard import access, audit, metrics, presenter, sample, store
from dashboard import filters as filter_model
from dashboard import gate as gate_module
from dashboard import identity as identities
from dashboard.access import Policy, Viewer
from dashboard.filters import Choices, Filters
from dashboard.gate import Gate
from dashboard.loaders import Dataset, SnapshotError, complete_snapshots, load_dataset
from dashboard.metrics import catalogue

# How stale a page may be after an ingest: the store is asked at most this often, never on each rerun.
VERSION_CHECK_SECONDS = float(os.environ.get("CARTGOV_VERSION_CHECK_SECONDS", "30"))
GLOBAL_KEYS = ("start", "end", "centre", "product", "ta", "age")
# The page-level parameters each page has widgets for: a share link carries only these (and the global filters).
PAGE_STATE = {
    "toxicity": ("metric", "adjust", "overdispersion"),
    "itu": ("adjust", "overdispersion"),
    "products": ("metric",),
}
GOTO = "_goto_page"  # set by a drill-down callback, honoured by the entrypoint on the next run
log = logging.getLogger(__name__)


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _data_version(url: str) -> int:
    return store.data_version(store.engine_for(url))


@st.cache_resource(show_spinner="Loading the data…", max_entries=2)
def _dataset(url: str, version: int) -> Dataset:
    data = load_dataset(store.engine_for(url), version)
    data.episodes  # noqa: B018 - build the episode table once per data version, not on a page run
    return data


@st.cache_resource(show_spinner=False)
def _unprepared() -> dict[tuple[str, int], tuple[float, int, str]]:
    """Store versions whose snapshot could not be written: (when, the version shown instead, why)."""
    return {}


def _shown_version(url: str) -> tuple[int, str | None]:
    """The data version pages show: the store's, unless its snapshot cannot be written (a full disk), in which case
    the newest complete snapshot stays in use and the write is retried every VERSION_CHECK_SECONDS."""
    version = _data_version(url)
    failed = _unprepared().get((url, version))
    if failed:
        if time.monotonic() - failed[0] < VERSION_CHECK_SECONDS:
            return failed[1], failed[2]
        # One session retries; the others keep the older version meanwhile instead of queueing for the same write.
        _unprepared()[(url, version)] = (time.monotonic(), *failed[1:])
    try:
        _dataset(url, version)
    except SnapshotError as error:
        older = [v for v in complete_snapshots(store.engine_for(url)) if v < version]
        if not older:
            raise
        log.warning("%s; showing version %d meanwhile", error, older[-1])
        _unprepared()[(url, version)] = (time.monotonic(), older[-1], error.reason)
        return older[-1], error.reason
    _unprepared().pop((url, version), None)
    return version, None


SHOWN = "_shown_version"  # (data version, why not the newest) of this run, set by open_dataset


def open_dataset() -> Dataset:
    """Called by the entrypoint first on every run: the data version this run shows. Every page, metric and table of
    the run then uses that one version, even if a newer one arrives half-way (see dataset and calc)."""
    url = store.database_url()
    try:
        version, problem = _shown_version(url)
        data = _dataset(url, version)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        _data_version.clear()  # the next interaction asks the store again
        st.error(
            "The data store is unavailable. Nothing is shown rather than something stale or wrong; "
            "try again in a moment.",
            icon=":material/cloud_off:",
        )
        st.button("Try again", icon=":material/refresh:")  # a click reruns the page, which asks the store again
        st.stop()
    except SnapshotError as error:
        log.error("%s", error)
        st.error(
            f"The data cannot be prepared for display ({error.reason}); nothing is shown. Try again in a moment.",
            icon=":material/error:",
        )
        st.stop()
    st.session_state[SHOWN] = (version, problem)
    return data


def _run_version() -> int:
    """The data version of this run (see open_dataset)."""
    return st.session_state[SHOWN][0]


def dataset() -> Dataset:
    """The validated frames of this run's data version (loaded once per version per server)."""
    return _dataset(store.database_url(), _run_version())


def freshness_notice(data: Dataset) -> None:
    """A warning while newer data cannot be prepared for display (drawn once per run, by the entrypoint)."""
    problem = st.session_state[SHOWN][1]
    if problem:
        st.warning(
            f"Newer data has arrived but cannot be prepared for display ({problem}). These pages show data "
            f"version {data.data_version}, extracted {data.extract_date}, until it can.",
            icon=":material/history:",
        )


@st.cache_resource(max_entries=64, show_spinner="Looking for signals…")
def _signals(url: str, version: int, filters: Filters, suppress: bool) -> pl.DataFrame:
    disclose = gate_module.suppressed_metric if suppress else metrics.rates.exact
    return metrics.signals(_dataset(url, version), filters, disclose=disclose)


def signals(filters: Filters) -> list[dict]:
    """The signals for these filters (found once per data version, filter state and disclosure) as this viewer may
    see them, each with its words and its link (page, query)."""
    chosen = gate()
    records = chosen.signals(_signals(store.database_url(), _run_version(), filters, chosen.policy.suppress))
    query = chosen.query(filters)
    return [
        {**row, "text": presenter.signal_text(row), "link": presenter.signal_link(row, query)}
        for row in records.iter_rows(named=True)
    ]


# --- Who is looking: sign-in and the access policy ---


def deny(reason: str) -> None:
    """The access-denied page: no data, no centre names."""
    st.title("Access denied")
    st.error(reason, icon=":material/lock:")
    st.caption("Ask the dashboard's administrator to add your account to the access list.")
    st.stop()


def sign_in(data: Dataset) -> Viewer:
    """The viewer of this session, from the configured identity mode; stops with access denied otherwise."""
    conf = access.settings()
    mode = conf["mode"]
    if mode == "demo":
        if not sample.demo_allowed(data):  # exactly the bundled sample (by content), or a store that holds nothing
            deny(
                "Demo mode shows only the bundled synthetic sample, and this store holds other data. "
                "Set CARTGOV_AUTH_MODE to oidc or header."
            )
        st.sidebar.subheader("Demo sign-in")
        role = st.sidebar.selectbox(
            "Role", access.ROLES, key="demo_role", help="Demo mode only: pick the role to see the dashboard through."
        )
        centre = None
        if role == "centre":
            centre = st.sidebar.selectbox("Your centre", sorted(data["centres"]["centre_code"]), key="demo_centre")
        return Viewer(f"demo-{role}", role, centre)
    try:
        people = access.load_access_file(conf["access_file"])
    except access.AccessConfigError as error:
        deny(str(error))
    if mode == "header":
        identity, refused = identities.from_header(conf["header"], st.context.headers.get_all(conf["header"]))
    elif mode == "oidc":
        if not st.user.is_logged_in:
            st.title("CAR-T governance")
            st.button("Sign in", on_click=st.login, icon=":material/login:")
            st.stop()
        identity, refused = identities.from_claims(st.user.to_dict())
        st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")
    else:
        deny(f"CARTGOV_AUTH_MODE={mode!r} is not one of {', '.join(access.AUTH_MODES)}.")
    if refused:
        deny(refused)
    viewer = access.viewer_for(identity, people)
    if viewer is None:
        deny("Your account is not on this dashboard's access list." if identity else "You are not signed in.")
    return viewer


def gate() -> Gate:
    """The gate of this session (set by the entrypoint after sign-in): every figure a page shows passes it."""
    return st.session_state["_gate"]


def policy() -> Policy:
    """The access policy of this session."""
    return gate().policy


def set_policy(data: Dataset, viewer: Viewer) -> Policy:
    try:
        chosen = access.policy_for(viewer, list(data["centres"]["centre_code"]), sample.holds_only_the_sample(data))
    except access.AccessConfigError as error:
        deny(str(error))
    st.session_state["_gate"] = Gate(chosen)
    who = "Centre lead" if viewer.role == "centre" else viewer.role.capitalize()
    st.sidebar.caption(f"Signed in as **{viewer.identity}** · {who}")
    if chosen.suppress:
        st.sidebar.caption(
            "Small numbers: counts of 1-7 are hidden (*), others rounded to 5, and every rate, "
            "interval, limit and flag is computed from the rounded counts."
        )
    return chosen


@st.cache_resource(max_entries=512, show_spinner=False)
def _computed(url: str, version: int, name: str, args: tuple, options: tuple):
    return getattr(metrics, name)(_dataset(url, version), *args, **dict(options))


def calc(name: str, *args, **options):
    """dashboard.metrics.<name>(dataset, *args, **options), computed once per data version and arguments: a page
    rerun with the same filters reads it from memory. The figures are exact: pass them through the gate."""
    url = store.database_url()
    return _computed(url, _run_version(), name, args, tuple(sorted(options.items())))


@st.cache_resource(max_entries=256, show_spinner=False)
def _disclosed(url: str, version: int, name: str, args: tuple, suppress: bool):
    disclose = gate_module.suppressed_metric if suppress else metrics.rates.exact
    return getattr(metrics, name)(_dataset(url, version), *args, disclose=disclose)


def disclosed(name: str, *args):
    """Like calc, for metrics built on other metric tables (profiles, SPC): computed from what this viewer's view
    discloses (cached per disclosure, not per person)."""
    return _disclosed(store.database_url(), _run_version(), name, args, policy().suppress)


def metric(metric_id: str, by: str | None = None, filters: Filters | None = None, **options) -> metrics.MetricTable:
    """A metric table as this viewer may see it: through the gate."""
    return gate().metric(calc("compute", metric_id, by=by, filters=filters, **options))


def view(frame: pl.DataFrame, centre_columns: tuple[str, ...] = ()) -> pl.DataFrame:
    """Any aggregate table on its way to the page: through the gate (labels, and suppression for an observer)."""
    return gate().frame(frame, centre_columns)


def headlines(filters: Filters) -> pl.DataFrame:
    return gate().headlines(calc("headlines", filters))


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
            st.session_state.get("_page"),
            current_filters(),
            f"{what}: {rows.height} rows",
        )
    return rows


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _audit_entries(url: str) -> pl.DataFrame:
    return audit.entries(store.engine_for(url))


def audit_entries() -> pl.DataFrame:
    """The audit log for the national role (read at most every 30 seconds)."""
    return _audit_entries(store.database_url())


def download(label: str, make, file_name: str, mime: str, key: str, what: str, **options) -> None:
    """A download made at the click, for this signed-in session, and written to the audit log as it is made (who,
    role, page, filters, what). Nothing is built or stored before the click."""
    viewer, page, filters = policy().viewer, st.session_state.get("_page"), current_filters()
    url = store.database_url()

    def produce() -> bytes:
        content = make()
        audit.record(store.engine_for(url), viewer, "export", page, filters, f"{what} ({file_name})")
        return content

    st.download_button(label, produce, file_name=file_name, mime=mime, key=key, on_click="ignore", **options)


def pack_download(data: Dataset, filters: Filters) -> None:
    """The governance pack of this view (small numbers suppressed), built only when it is asked for."""
    from dashboard import report

    chosen = gate()
    download(
        "Download the governance pack (HTML)",
        lambda: report.build(data, filters, chosen).encode(),
        file_name=f"cart-governance-pack-{data.extract_date}.html",
        mime="text/html",
        key="pack_download",
        what="governance pack",
        icon=":material/summarize:",
        help=f"One offline HTML file for a meeting, marked {report.MARKING}; counts of 1-7 shown as *.",
    )


def synthetic_banner(data: Dataset) -> None:
    if data.synthetic:
        st.warning(
            "Synthetic data: invented centres and patients, for demonstration only. "
            "No figure here describes a real hospital.",
            icon=":material/science:",
        )


def choices(data: Dataset) -> Choices:
    """Valid filter values for this viewer: a centre lead names peers by pseudonym, never by code."""
    return Choices(
        frozenset(policy().labels.values()),
        frozenset(data["products"]["product_code"]),
        frozenset(data["nice_ta"]["ta_code"]),
        frozenset(catalogue()),
    )


def _raw_query() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def navigation_links(box, pages: list) -> None:
    """The page list (st.navigation's own is hidden so that the root can forward to /overview).

    Each link carries the global filters: bound widgets take their value from the URL of the page they open.
    """
    query = {k: v for k, v in url_filters().items() if k in GLOBAL_KEYS}
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
    left.date_input(
        "From", value=None, min_value=first, max_value=last, key="start", bind="query-params", format="YYYY-MM-DD"
    )
    right.date_input(
        "To", value=None, min_value=first, max_value=last, key="end", bind="query-params", format="YYYY-MM-DD"
    )
    labels = sorted(policy().labels.values(), key=lambda label: (label != access.OWN_CENTRE, label))
    sidebar.multiselect("Centre", labels, key="centre", bind="query-params", placeholder="All centres")
    sidebar.multiselect(
        "Product",
        sorted(data["products"]["product_code"]),
        key="product",
        bind="query-params",
        placeholder="All products",
    )
    sidebar.multiselect(
        "NICE TA",
        sorted(data["nice_ta"]["ta_code"], key=lambda c: int(c[2:])),
        key="ta",
        bind="query-params",
        placeholder="All TAs",
    )
    sidebar.multiselect(
        "Age at infusion",
        list(filter_model.AGE_BANDS),
        key="age",
        bind="query-params",
        placeholder="All ages",
        help="children 0-15, tya 16-24, adults 25 and over",
    )
    notes = st.session_state["_url_notes"]
    if notes:
        sidebar.info("Not used from the link: " + "; ".join(notes), icon=":material/link_off:")


def current_filters() -> Filters:
    """The filters as the widgets hold them now (the one Filters object every page passes to the metrics)."""
    state = st.session_state
    chosen = policy()
    centres = tuple(code for code in (chosen.code_for(label) for label in state.get("centre") or ()) if code)
    return Filters(
        start=state.get("start"),
        end=state.get("end"),
        centre=centres,
        product=tuple(state.get("product") or ()),
        ta=tuple(state.get("ta") or ()),
        age=tuple(state.get("age") or ()),
        metric=state.get("metric"),
        adjust=state.get("adjust"),
    )


def url_filters() -> dict[str, list[str]]:
    """The filters as they appear in this viewer's URL (centres by the labels the viewer uses)."""
    query = current_filters().as_query()
    if "centre" in query:
        query["centre"] = list(st.session_state.get("centre") or ())
    return query


def share_link(page_path: str) -> None:
    """The exact link to this page with these filters: a colleague who opens it sees the same view."""
    own = PAGE_STATE.get(page_path, ())
    query = {k: v for k, v in url_filters().items() if k in GLOBAL_KEYS or k in own}
    if "overdispersion" in own and st.session_state.get("overdispersion"):
        query["overdispersion"] = ["true"]
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
    st.caption(
        f"**{metric.title}.** {metric.definition} Numerator: {metric.numerator}; denominator: {metric.denominator}."
    )
    return chosen


def adjustment_picker(metric_id: str) -> tuple[str, bool]:
    """Product-mix or crude (bound to ?adjust=), and overdispersion (default off, bound too)."""
    default = catalogue()[metric_id].adjustment
    left, right = st.columns([2, 1])
    adjust = left.segmented_control(
        "Adjustment",
        ["product_mix", "crude"],
        default=default,
        key="adjust",
        bind="query-params",
        help="product_mix: observed / expected given each patient's product (national rates); crude: the rate itself",
    )
    overdispersion = right.toggle(
        "Overdispersion",
        key="overdispersion",
        bind="query-params",
        help="Widen the limits for spread between centres beyond chance (DerSimonian-Laird, 10% winsorised)",
    )
    return adjust or default, overdispersion


def table(frame: pl.DataFrame, key: str, file_name: str, caption: str | None = None, **column_config) -> None:
    """The table behind a chart (already through the gate), with a CSV download of exactly what is shown."""
    if caption:
        st.caption(caption)
    chosen = gate()
    st.dataframe(chosen.as_text(frame), key=key, hide_index=True, column_config=column_config or None)
    download(
        "Download CSV",
        lambda: chosen.csv(frame),
        file_name=file_name,
        mime="text/csv",
        key=f"{key}_download",
        what=f"{frame.height} rows",
        icon=":material/download:",
    )


def metric_table(table: metrics.MetricTable, key: str, file_name: str, caption: str | None = None) -> None:
    """A metric's rows (through the gate) as a panel reads them: flags in words, exact p, low numbers marked; the
    download keeps the numbers and the stable flag codes."""
    if caption:
        st.caption(caption)
    chosen = gate()
    shown = presenter.metric_rows(table)
    st.dataframe(
        chosen.as_text(shown),
        key=key,
        hide_index=True,
        column_config={
            "group": "Centre" if table.by == "centre" else table.by,
            "centre_name": "Name",
            "numerator": "Events",
            "denominator": "Patients",
            "rate": percent("Rate"),
            "ci_low": percent("95% CI low"),
            "ci_high": percent("95% CI high"),
            "expected": st.column_config.NumberColumn("Expected", format="%.1f"),
            "ratio": st.column_config.NumberColumn("Observed / expected", format="%.2f"),
            "p_value": st.column_config.TextColumn(
                "Exact p (one-sided)",
                help=(
                    "The chance of a count at least this far from the target on that side, if the centre were as "
                    "expected (binomial; Poisson for observed / expected)."
                ),
            ),
            "flag": "Against the target",
            "low_numbers": "Note",
            **{c: None for c in table.rows.columns if c.startswith("limit_")},
        },
    )
    download(
        "Download CSV",
        lambda: chosen.csv(table.rows),
        file_name=file_name,
        mime="text/csv",
        key=f"{key}_download",
        what=f"{table.rows.height} rows",
        icon=":material/download:",
    )


def share(value: float | None) -> str:
    """A rate in words: withheld (small numbers) rather than a 0 that would mislead."""
    return "withheld (small numbers)" if value is None else f"{value:.1%}"


def percent(column: str) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(column, format="percent")


def empty_notice(frame: pl.DataFrame, what: str) -> bool:
    """True (with a note) when the filters leave nothing to show, or nothing this viewer may be shown."""
    if frame.height == 0:
        st.info(f"No {what} under these filters.", icon=":material/filter_alt_off:")
        return True
    counts = [c for c in frame.columns if c in gate_module.COUNTS]
    if counts and frame.select(pl.col(counts).is_null().all()).row(0) == (True,) * len(counts):
        st.info(
            f"The {what} under these filters are too few to show: counts of 1-7 are withheld.",
            icon=":material/visibility_off:",
        )
        return True
    return False
