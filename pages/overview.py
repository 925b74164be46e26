"""Overview: what the store holds, and infusions per quarter by product."""

import streamlit as st

from dashboard import charts, metrics, ui
from data_contracts.tables import TABLE_TITLES

data = ui.dataset()
st.title("CAR-T therapy in England")
if data.is_empty:
    st.info("The store is empty. Load a submission with `cartgov ingest PATH` or the sample with `cartgov seed`.")
    st.stop()

extract = data.extract_date.isoformat() if data.extract_date else "unknown"
st.caption(f"Extract date {extract} · data version {data.data_version}")

counts = metrics.table_counts(data)
columns = st.columns(len(counts))
for column, (table, rows) in zip(columns, counts.iter_rows(), strict=True):
    column.metric(TABLE_TITLES[table], f"{rows:,}")

st.subheader("Infusions per quarter, by product")
st.plotly_chart(charts.infusions_by_quarter(metrics.infusions_by_quarter(data["infusions"])), key="volume_chart")
