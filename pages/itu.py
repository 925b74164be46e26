"""ITU: admission funnel, reasons per centre, timing and length of stay, ITU use after ICANS grade 2 or more."""

import streamlit as st

from dashboard import charts, metrics, ui

data = ui.dataset()
filters = ui.current_filters()
st.title("Critical care (ITU) escalation")
ui.period_note(data, filters)
adjust, overdispersion = ui.adjustment_picker("itu_admission")
table = ui.metric("itu_admission", by="centre", filters=filters, adjust=adjust, overdispersion=overdispersion)
st.caption(f"{table.metric.definition} Click a centre to open its page.")
ui.chart(
    charts.funnel(table),
    key="itu_funnel",
    name="Funnel plot of ITU admission by centre",
    on_select=ui.drill_down_to_centre("itu_funnel"),
    selection_mode="points",
)
ui.how_to_read("funnel")

left, right = st.columns(2)
with left:
    st.subheader("Reasons for admission")
    reasons = ui.view(ui.calc(metrics.itu_reasons, filters), ("group",))
    if not ui.empty_notice(reasons, "ITU admissions"):
        colours = {"CRS": "#005EB8", "ICANS": "#7C2855", "infection": "#ED8B00", "other": "#768692"}
        ui.chart(
            charts.stacked_bars(
                reasons, "group", "admissions", "reason", "Centre", "Admissions", colours, horizontal=True
            ),
            key="itu_reasons",
            name="Reasons for ITU admission by centre",
            figures=reasons,
        )
with right:
    st.subheader("ITU after ICANS grade 2 or more")
    st.caption(
        "The specification asks that patients with ICANS grade 2 or more are discussed with critical care "
        "and have immediate access to it."
    )
    after = ui.view(ui.calc(metrics.itu_after_icans2, filters), ("group",))
    england = ui.view(ui.calc(metrics.itu_after_icans2, filters.without("centre"), by=None))
    if not ui.empty_notice(after, "patients with ICANS grade 2 or more"):
        ui.chart(
            charts.interval_dots(after, "group", "Admitted to ITU", england["rate"][0]),
            key="itu_after_icans",
            name="ITU admission after ICANS grade 2 or more, by centre",
            figures=after,
        )

timing = ui.view(ui.calc(metrics.itu_timing, filters))
left, right = st.columns(2)
for column, measure, title in (
    (left, "day of admission", "Day of admission after infusion"),
    (right, "length of stay", "Length of stay (days)"),
):
    part = timing.filter(timing["measure"] == measure)
    with column:
        st.subheader(title)
        if not ui.empty_notice(part, "admissions"):
            ui.chart(
                charts.bars_with_line(part, "days", "admissions", None, "", "Days", "Admissions"),
                key=f"itu_{measure.replace(' ', '_')}",
                name=title,
                figures=part.select("days", "admissions"),
            )

st.subheader("The table behind the funnel")
ui.metric_table(table, "itu_table", "itu_admission_by_centre.csv")
