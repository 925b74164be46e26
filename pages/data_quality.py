"""Data quality: follow-up completeness per centre, currency of submissions, and the rows held in quarantine."""

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import charts, exports, metrics, ui, wording

data = ui.dataset()
st.title("Data quality")
extract = data.extract_date.isoformat() if data.extract_date else "unknown"
threshold = metrics.COMPLETENESS_THRESHOLD
st.caption(
    f"Extract date {extract} · data version {data.data_version} · day-30 follow-up is due 30 days after "
    f"infusion; centres under {threshold:.0%} are shown but not flagged on outcomes."
)

policy = ui.policy()
by_centre = ui.view(ui.calc(metrics.data_quality_by_centre, dt.date.today()), ("centre_code",))
reasons = metrics.quarantine_reasons(data.quarantine)
below = by_centre.filter("below_threshold")
left, middle, right = st.columns(3)
left.metric("Centres under the day-30 threshold", below.height)
held = ui.view(pl.DataFrame({"rows_quarantined": [reasons["quarantine_id"].n_unique()]}))["rows_quarantined"][0]
middle.metric("Rows held in quarantine", "*" if held is None else held)
right.metric("Files ingested or refused", data.batches.height)
if below.height:
    st.warning(
        "Day-30 follow-up under the threshold: "
        + ", ".join(
            (f"{r['centre_name']} ({r['centre_code']})" if r["centre_name"] else r["centre_code"])
            + f" {r['d30_rate']:.0%}"
            for r in below.iter_rows(named=True)
        )
    )

st.subheader("Follow-up completeness by centre")
ui.chart(
    charts.followup_completeness(by_centre, threshold),
    key="completeness_chart",
    name="Day-30 follow-up completeness by centre",
)

table = (
    by_centre.sort("below_threshold", "d30_rate", descending=[True, False], nulls_last=True)
    .select(
        "centre_code",
        "centre_name",
        "d30_rate",
        "d30_received",
        "d30_due",
        "days_since_submission",
        "rows_quarantined",
        "d100_rate",
        "d100_received",
        "d100_due",
        "below_threshold",
    )
    .with_columns(
        pl.when(pl.col("d30_due").is_null() | (pl.col("d30_due") < metrics.rates.LOW_NUMBERS))
        .then(pl.lit("fewer than 8 due at day 30"))
        .otherwise(pl.lit(""))
        .alias("note")
    )
)
st.dataframe(
    ui.gate()
    .as_text(wording.one_decimal(table))
    .to_pandas()
    .style.apply(lambda row: ["background-color: #FDECEA" if row["below_threshold"] else ""] * len(row), axis=1),
    key="completeness_table",
    hide_index=True,
    column_config={
        "centre_code": "Centre",
        "centre_name": "Name",
        "d30_due": "Day 30 due",
        "d30_received": "Day 30 received",
        "d30_rate": st.column_config.NumberColumn("Day 30 %", format="percent"),
        "d100_due": "Day 100 due",
        "d100_received": "Day 100 received",
        "d100_rate": st.column_config.NumberColumn("Day 100 %", format="percent"),
        "days_since_submission": "Days since last submission",
        "rows_quarantined": "Rows quarantined",
        "below_threshold": st.column_config.CheckboxColumn(f"Under {threshold:.0%}"),
        "note": "Note",
    },
)


def held_rows(quarantined: pl.DataFrame) -> None:
    """The quarantined rows this viewer may see, filterable and downloadable."""
    reasons = ui.patient_rows(quarantined, "quarantined rows")
    if reasons is None:
        return
    if reasons.height == 0:
        st.success("No rows are held in quarantine that you may see.")
        return
    pick_centre, pick_table, pick_rule = st.columns(3)
    centres = pick_centre.multiselect("Centre", sorted(reasons["centre_code"].drop_nulls().unique()), key="q_centre")
    tables = pick_table.multiselect("Table", sorted(reasons["table"].unique()), key="q_table")
    rules = pick_rule.multiselect("Rule", sorted(reasons["rule"].unique()), key="q_rule")
    shown = reasons.filter(
        (pl.col("centre_code").is_in(centres) if centres else pl.lit(True))
        & (pl.col("table").is_in(tables) if tables else pl.lit(True))
        & (pl.col("rule").is_in(rules) if rules else pl.lit(True))
    )
    st.dataframe(
        shown.drop("resolution").with_columns(pl.col("centre_code").fill_null("(unknown)")),
        key="quarantine_table",
        hide_index=True,
        column_config={
            "quarantine_id": "Id",
            "centre_code": "Centre",
            "table": "Table",
            "path": "File",
            "row_number": "Row",
            "record_key": "Key",
            "column": "Column",
            "rule": "Rule broken",
            "value": "Value sent",
            "quarantined_at": st.column_config.DatetimeColumn("Quarantined", format="YYYY-MM-DD HH:mm"),
        },
    )
    ui.download(
        "Download these rows (CSV)",
        lambda: exports.csv_bytes(shown),
        file_name="quarantine.csv",
        mime="text/csv",
        key="quarantine_download",
        what=f"{shown.height} quarantined rows",
        icon=":material/download:",
    )


st.subheader("Rows held in quarantine")
held_rows(reasons)

if policy.viewer.role == "national":
    st.subheader("Audit log")
    st.caption("Every view of patient-level rows and every export: who, when, role, page, filters, what.")
    ui.table(ui.audit_entries(), "audit_table", "audit_log.csv")
