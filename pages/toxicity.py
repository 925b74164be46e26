"""Toxicity: a funnel of centres on one metric (product-mix adjusted by default), its caterpillar, SPC and table."""

import polars as pl
import streamlit as st

from dashboard import charts, metrics, ui, wording
from dashboard.metrics.profiles import TOXICITY

data = ui.dataset()
filters = ui.current_filters()
st.title("Toxicity by centre")
ui.period_note(data, filters)
# The pickers side by side and the caption under the chart: the funnel starts above the fold at 1280x720.
left, right = st.columns([3, 2])
with left:
    metric_id = ui.metric_picker([m for m in TOXICITY if m != "itu_admission"], "icans_severe")
with right:
    adjust, overdispersion = ui.adjustment_picker(metric_id)
table = ui.metric(metric_id, by="centre", filters=filters, adjust=adjust, overdispersion=overdispersion)

target = (
    "observed / expected = 1"
    if table.adjust == "product_mix"
    else f"England {table.target:.1%}"
    if table.target is not None
    else "no national rate"
)
caption = f"Target: {target}. Limits: 95% and 99.8%"
if table.dispersion and table.dispersion.tau2 > 0:
    caption += (
        f", widened for spread between centres beyond chance (dispersion ratio {table.dispersion.phi:.2f}, "
        f"tau² {table.dispersion.tau2:.4f})"
    )
elif table.dispersion:
    caption += (
        f"; no spread between centres beyond chance (dispersion ratio {table.dispersion.phi:.2f}), so the "
        "limits are not widened"
    )
ui.chart(
    charts.funnel(table),
    key="funnel",
    name=f"Funnel plot of {table.metric.title} by centre",
    on_select=ui.drill_down_to_centre("funnel"),
    selection_mode="points",
)
st.caption(
    caption + ", drawn where the exact test changes its answer. Worse than expected in warm colours, better "
    "in cool ones; hollow points rest on fewer than 8 patients. Click a centre to open its page. Centres "
    "under 90% day-30 follow-up are pale grey and not flagged."
)
ui.how_to_read("funnel")
unplotted = table.rows.filter(pl.col("denominator") == 0)["group"].to_list()
if unplotted:
    st.caption("No patients in the denominator (listed, not plotted): " + ", ".join(unplotted))
withheld = table.rows.filter(pl.col("numerator").is_null() | pl.col("denominator").is_null())["group"].to_list()
if withheld:
    st.caption("Counts of 1-7 withheld (listed, not plotted): " + ", ".join(withheld))

left, right = st.columns(2)
with left:
    st.subheader("Centres ranked")
    ui.chart(
        charts.caterpillar(table), key="caterpillar", name=f"{table.metric.title} by centre, ranked, with intervals"
    )
    ui.how_to_read("caterpillar")
with right:
    st.subheader("England by quarter (SPC)")
    chart, signals = ui.disclosed(metrics.quarterly, metric_id, filters)
    if not ui.empty_notice(chart, "quarters with data"):
        ui.chart(
            charts.spc(chart, signals, table.metric.title),
            key="spc",
            name=f"Control chart of {table.metric.title} in England by quarter",
            figures=ui.words(chart),
        )
        ui.how_to_read("spc")
        for s in signals:
            st.markdown(
                f":orange[:material/warning:] **{s['rule'].replace('_', ' ')}** ({s['direction']}): "
                f"{s['description']}, {wording.quarter(s['from'])} to {wording.quarter(s['to'])}"
            )

st.subheader("The table behind the charts")
ui.metric_table(table, "funnel_table", f"{metric_id}_by_centre.csv")
