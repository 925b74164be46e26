"""NICE TAs: use by TA over time, centre by TA, infusions outside their TA and why, the referral pipeline, CART12."""

import polars as pl
import streamlit as st

from dashboard import charts, metrics, ui

data = ui.dataset()
filters = ui.current_filters()
st.title("NICE technology appraisals")
ui.period_note(data, filters)

st.subheader("Infusions by TA per quarter")
by_ta = ui.view(ui.calc(metrics.infusions_by, filters, "quarter", "ta_code"))
if not ui.empty_notice(by_ta, "infusions"):
    ui.chart(
        charts.stacked_bars(
            ui.words(by_ta), "quarter", "infusions", "ta_code", "Quarter", "Infusions", ui.ta_colours()
        ),
        key="ta_by_quarter",
        name="Infusions by NICE TA per quarter",
        figures=ui.words(by_ta),
    )

st.subheader("Centre by TA")
matrix = ui.words(ui.view(ui.calc(metrics.infusions_by, filters, "centre_code", "ta_code"), ("centre_code",)))
if not ui.empty_notice(matrix, "infusions"):
    ui.chart(
        charts.heatmap(matrix, "ta_code", "centre_code", "infusions", "NICE TA", "Centre"),
        key="centre_by_ta",
        name="Infusions by centre and NICE TA",
        figures=matrix,
    )

st.subheader("Infusions outside their TA")
outside = ui.metric("ta_outside", filters=filters).rows.row(0, named=True)
st.caption(
    f"{outside['numerator'] if outside['numerator'] is not None else '*'} of "
    f"{outside['denominator'] if outside['denominator'] is not None else '*'} infusions "
    f"({ui.share(outside['rate'])}) fall outside their TA: the product differs from the TA's, the age is "
    "outside its bounds, the TA was not recommended, or it was superseded before the infusion. Each reason "
    "is counted; an infusion with two reasons counts under each."
)
reasons = ui.view(ui.calc(metrics.ta_outside_by_reason, filters))
left, right = st.columns([1, 2])
with left:
    ui.table(reasons.select("reason", "infusions"), "ta_reasons", "outside_ta_by_reason.csv")
with right:
    episodes = ui.patient_rows(ui.calc(metrics.ta_outside, filters).drop("reason_id"), "outside-TA infusions")
    if episodes is not None:
        ui.table(episodes, "ta_outside_episodes", "outside_ta.csv", caption="The infusions behind them")

st.subheader("Referral pipeline by panel")
pipeline = ui.view(ui.calc(metrics.referral_pipeline, filters, by="panel"))
if not ui.empty_notice(pipeline, "referrals"):
    long = pipeline.unpivot(
        index="group", on=["referred", "approved", "infused"], variable_name="stage", value_name="referrals"
    )
    figure = charts.stacked_bars(
        long,
        "group",
        "referrals",
        "stage",
        "Panel",
        "Referrals",
        {"referred": "#AEB7BD", "approved": "#41B6E6", "infused": "#005EB8"},
        order=["referred", "approved", "infused"],
    )
    figure.update_layout(barmode="group")
    ui.chart(
        figure, key="pipeline", name="Referrals, approvals and infusions", figures=pipeline, labels={"group": "Panel"}
    )
    st.caption(
        "Conversion: "
        + "; ".join(
            f"{r['group']}: {ui.share(r['approved_share'])} of referrals approved, "
            f"{ui.share(r['infused_share'])} of those approved infused"
            for r in pipeline.iter_rows(named=True)
        )
        + "."
    )

st.subheader("CART12: time from referral to clinical review")
review = ui.view(ui.calc(metrics.referral_to_review, filters, by="panel"))
st.dataframe(
    review,
    hide_index=True,
    key="cart12_table",
    column_config={
        "group": "Panel",
        "reviewed": "Referrals reviewed",
        "mean_days": st.column_config.NumberColumn("Mean (days)", format="%.1f"),
        "median_days": "Median (days)",
        "p90_days": st.column_config.NumberColumn("90th centile (days)", format="%.1f"),
    },
)
trend = (
    ui.view(ui.calc(metrics.referral_to_review, filters, by="quarter"))
    .rename({"group": "quarter"})
    .drop_nulls("median_days")
)
if trend.height:
    long = trend.unpivot(
        index="quarter", on=["median_days", "p90_days"], variable_name="measure", value_name="days"
    ).with_columns(pl.col("measure").replace({"median_days": "median", "p90_days": "90th centile"}))
    figure = charts.lines(ui.words(long), "quarter", "days", "measure", "Quarter of referral", "Days to review")
    ui.chart(figure, key="cart12_trend", name="Days from referral to panel review by quarter")
