"""Widgets the pages share: the metric and adjustment pickers, gated tables with their downloads, notes and banners."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

from dashboard import charts, meaning, metrics, presenter, wording
from dashboard import gate as gate_module
from dashboard.filters import ADJUSTMENTS, Filters, default_start
from dashboard.loaders import Dataset
from dashboard.metrics import catalogue
from dashboard.ui import keys
from dashboard.ui.figures import download
from dashboard.ui.session import dataset
from dashboard.ui.signin import gate


def synthetic_banner(data: Dataset) -> None:
    if data.synthetic:
        st.warning(
            "Synthetic data: invented centres and patients, for demonstration only. "
            "No figure here describes a real hospital.",
            icon=":material/science:",
        )


def _from_url(key: str, options: list[str], default: str) -> None:
    """Bind a widget holding an id to ?key= by hand, so that it can show words: Streamlit 1.67 binds a widget's
    *formatted* option to the URL, which would put "ICANS, grade 3 or more" where links carry `icans_severe`. The
    URL's value wins (a link, or a signal just followed), then this session's, then the default; the widget's
    on_change writes the choice back (_to_url)."""
    asked = st.query_params.get(key)
    held = st.session_state.get(key)
    st.session_state[key] = asked if asked in options else held if held in options else default
    st.query_params[key] = st.session_state[key]


def _to_url(key: str) -> None:
    if st.session_state.get(key) is None:  # a segmented control clicked off: back to the default on the rerun
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = st.session_state[key]


def metric_picker(options: list[str], default: str, label: str = "Metric") -> str:
    """A metric by its title (?metric= holds its id); shows its definition beneath."""
    _from_url(keys.METRIC, options, default)
    titles = catalogue()
    chosen = st.selectbox(
        label, options, format_func=lambda m: titles[m].title, key=keys.METRIC, on_change=_to_url, args=(keys.METRIC,)
    )
    st.caption(f"**{titles[chosen].title}.** {titles[chosen].definition}")
    return chosen


ADJUSTMENT_WORDS = {"product_mix": "Product mix", "crude": "Crude"}


def adjustment_picker(metric_id: str) -> tuple[str, bool]:
    """Product-mix or crude (?adjust= holds the id), and overdispersion (default off, bound to the URL)."""
    default = catalogue()[metric_id].adjustment
    _from_url(keys.ADJUST, list(ADJUSTMENTS), default)
    adjust = st.segmented_control(
        "Adjustment",
        list(ADJUSTMENTS),
        format_func=ADJUSTMENT_WORDS.__getitem__,
        key=keys.ADJUST,
        on_change=_to_url,
        args=(keys.ADJUST,),
        help="Product mix: each centre's observed events against those expected from its patients' products at "
        "England's rate for each product (1 = as expected). Crude: the centre's rate against England's.",
    )
    overdispersion = st.toggle(
        "Overdispersion",
        key=keys.OVERDISPERSION,
        bind="query-params",
        help="Widen the limits for spread between centres beyond chance (DerSimonian-Laird, 10% winsorised)",
    )
    return adjust or default, overdispersion


ColumnSpec = str | ColumnConfig | None  # a column's label, its configuration, or None to hide it


# A table longer than this shows its first rows (at a million infusions the exception episodes alone would send
# 6 MB to every browser that opens the page); its CSV holds every row.
SHOWN_ROWS = 1_000


def table(
    frame: pl.DataFrame, key: str, file_name: str, caption: str | None = None, **column_config: ColumnSpec
) -> None:
    """The table behind a chart (already through the gate) in words, every column labelled, with a CSV download of
    what is shown: all of it, or, past SHOWN_ROWS, its first rows on the page and every row in the CSV."""
    if caption:
        st.caption(caption)
    chosen = gate()
    nice_ta = dataset()["nice_ta"]
    shown = wording.readable(frame.head(SHOWN_ROWS), nice_ta)
    if frame.height > SHOWN_ROWS:
        st.caption(f"The first {SHOWN_ROWS:,} of {frame.height:,} rows; the CSV holds them all.")
    labels: dict[str, ColumnSpec] = {c: wording.COLUMN_LABELS[c] for c in shown.columns if c in wording.COLUMN_LABELS}
    labels |= {c: percent(wording.COLUMN_LABELS[c]) for c in wording.PERCENT_COLUMNS if c in shown.columns}
    st.dataframe(
        chosen.as_text(wording.one_decimal(shown)).to_arrow(),  # as Arrow: Streamlit would go through pandas
        key=key,
        hide_index=True,
        column_config={**labels, **column_config} or None,
    )
    download(
        "Download CSV",
        lambda: chosen.csv(wording.readable(frame, nice_ta)),
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
        chosen.as_text(wording.one_decimal(shown)).to_arrow(),
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


def words(frame: pl.DataFrame) -> pl.DataFrame:
    """A frame for a chart or table in a reader's words (quarters, dates, reasons, age bands, TAs with titles)."""
    return wording.readable(frame, dataset()["nice_ta"])


def ta_colours() -> dict[str, str]:
    """One colour per NICE TA (by its label), the same on every chart: the TAs in number order along the palette."""
    labels = wording.ta_labels(dataset()["nice_ta"])
    return dict(zip((labels[c] for c in sorted(labels, key=lambda c: int(c[2:]))), charts.PALETTE, strict=False))


def period_note(data: Dataset, filters: Filters) -> None:
    """Under a page's title: the infusions its figures cover (every page states its period)."""
    dates = pl.col("infusion_date")
    first, last = data["infusions"].select(dates.min().alias("first"), dates.max().alias("last")).row(0)
    if first is None:
        st.caption("Period: no infusions in the store yet.")
        return
    start, end = filters.start or first, filters.end or data.extract_date or last
    extract = data.extract_date
    default = extract is not None and (filters.start, filters.end) == (default_start(extract), extract)
    how = "the three years to the extract date; " if default else ""
    st.caption(f"Period: infusions from {start} to {end} ({how}From and To in the sidebar change it).")


def how_to_read(chart: str) -> None:
    """A short explanation beside a chart, closed until asked for."""
    with st.expander("How to read this chart", icon=":material/help:"):
        st.markdown(meaning.HOW_TO_READ[chart])


def share(value: float | None) -> str:
    """A rate in words: withheld (small numbers) rather than a 0 that would mislead."""
    return "withheld (small numbers)" if value is None else f"{value:.1%}"


def percent(column: str) -> ColumnConfig:
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


def chart(
    figure: go.Figure,
    key: str,
    name: str,
    figures: pl.DataFrame | metrics.MetricTable | None = None,
    labels: dict[str, ColumnSpec] | None = None,
    **options: Any,
) -> Any:
    """Every chart through here, so each has an accessible name (WCAG 2.2 AA: what it shows, in the page's words,
    then its axes and series) and, unless the page shows its table elsewhere, the figures it plots in a table
    beneath (a text alternative a screen reader can walk, and the numbers behind the picture for everyone)."""
    drawn = st.plotly_chart(figure, key=key, alt=f"{name}. {charts.describe(figure)}", **options)
    if figures is not None:
        with st.expander("The figures in this chart"):
            if isinstance(figures, metrics.MetricTable):
                metric_table(figures, f"{key}_figures", f"{key}.csv")
            else:
                table(figures, f"{key}_figures", f"{key}.csv", None, **(labels or {}))
    return drawn


# Signals drawn as links (underlined, link blue, left-aligned so they wrap like text on a phone): they take you
# somewhere rather than change something here. (Streamlit draws its own "Skip to main content" link first in the
# tab order, to the main content: WCAG 2.4.1.)
_STYLE = """<style>
[class*="st-key-signal_"] button { justify-content: flex-start; }
[class*="st-key-signal_"] button p { color: #005EB8; text-decoration: underline; text-underline-offset: 3px;
  text-align: left; }
[class*="st-key-signal_"] button:hover p { color: #003087; text-decoration-thickness: 2px; }
</style>"""


def page_style() -> None:
    st.html(_STYLE)  # a <style> alone takes no space on the page
