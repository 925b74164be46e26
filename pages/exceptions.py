"""Carer and travel exceptions: rates per centre, reasons, travel time and nearby stay against the rules, trend."""

import polars as pl
import streamlit as st

from dashboard import charts, metrics, ui, wording

data = ui.dataset()
filters = ui.current_filters()
st.title("Carer and travel exceptions")
ui.period_note(data, filters)
st.caption(
    "The service specification asks that patients stay within about 2 hours of the centre for at least "
    "14 days after discharge, and have a 24-hour carer for the 4 weeks after infusion."
)

REASON_COLOURS = dict(zip(wording.REASONS.values(), charts.PALETTE, strict=False))  # one colour per reason
for metric_id, kind in (("travel_exception", "travel"), ("carer_exception", "carer")):
    table = ui.metric(metric_id, by="centre", filters=filters)
    st.subheader(table.metric.title)
    st.caption(f"{table.metric.definition} England: {ui.share(table.target)}.")
    left, right = st.columns(2)
    with left:
        ui.chart(
            charts.interval_dots(table.rows, "group", table.metric.title, table.target, table.metric),
            key=f"{kind}_rates",
            name=f"{table.metric.title} by centre, with 95% intervals",
            figures=table,
        )
    with right:
        reasons = ui.view(ui.calc(metrics.exception_reasons, kind, filters), ("group",))
        if not ui.empty_notice(reasons, f"{kind} exceptions"):
            ui.chart(
                charts.stacked_bars(
                    ui.words(reasons),
                    "group",
                    "exceptions",
                    "reason",
                    "Centre",
                    "Exceptions",
                    REASON_COLOURS,
                    horizontal=True,
                ),
                key=f"{kind}_reasons",
                name=f"Reasons for {kind} exceptions by centre",
                figures=ui.words(reasons),
            )

left, right = st.columns(2)
with left:
    st.subheader("Home travel time")
    travel = ui.view(ui.calc(metrics.value_counts, "home_travel_minutes", filters, bin_width=10))
    if not ui.empty_notice(travel, "travel times"):
        ui.chart(
            charts.bars_with_line(travel, "value", "infusions", 120, "2 hours", "Minutes from home", "Infusions"),
            key="travel_minutes",
            name="Home travel time in minutes",
            figures=travel,
            labels={"value": "Minutes from home (10-minute bands)"},
        )
with right:
    st.subheader("Days within 2 hours after discharge")
    stay = ui.view(ui.calc(metrics.value_counts, "nearby_stay_days", filters))
    if not ui.empty_notice(stay, "nearby stays"):
        ui.chart(
            charts.bars_with_line(stay, "value", "infusions", 13.5, "14 days", "Days", "Infusions"),
            key="nearby_days",
            name="Days within 2 hours after discharge",
            figures=stay,
            labels={"value": "Days within 2 hours"},
        )

st.subheader("Trend")
trend = pl.concat(
    [
        ui.metric(metric_id, by="quarter", filters=filters).rows.select(
            pl.col("group").alias("quarter"), pl.lit(title).alias("exception"), "rate"
        )
        for metric_id, title in (("travel_exception", "travel"), ("carer_exception", "carer"))
    ]
)
if not ui.empty_notice(trend, "quarters"):
    figure = charts.lines(ui.words(trend), "quarter", "rate", "exception", "Quarter of infusion", "Exception rate")
    figure.update_layout(yaxis_tickformat=".0%")
    ui.chart(figure, key="exception_trend", name="Travel and carer exception rates by quarter", figures=ui.words(trend))

st.subheader("The exception episodes")
episodes = ui.patient_rows(ui.calc(metrics.exception_episodes, filters), "exception episodes")
if episodes is not None:
    ui.table(episodes, "exception_episodes", "exception_episodes.csv")
