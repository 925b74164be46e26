"""Overview: headline figures against the previous period, the signals a panel should look at, volumes."""

import streamlit as st

from dashboard import charts, metrics, ui

data = ui.dataset()
filters = ui.current_filters()
st.title("CAR-T therapy in England")
if data.is_empty:
    st.info("The store is empty. Load a submission with `cartgov ingest PATH` or the sample with `cartgov seed`.")
    st.stop()

heads = ui.headlines(filters)
period = heads.row(0, named=True)
ui.period_note(data, filters)
st.caption(
    f"Headline figures against the period of the same length before ({period['previous_start']} to "
    f"{period['previous_end']}) · extract date {data.extract_date} · data version {data.data_version}"
)
# Rows of three: six in a row cut the labels short ("ICANS, grade 3 or ...") at 1280-1440 px.
columns = [column for _ in range(0, len(heads), 3) for column in st.columns(3)]
for column, row in zip(columns, heads.iter_rows(named=True), strict=False):
    if row["id"] in ("infusions", "centres"):
        delta = None if row["previous"] is None or row["change"] is None else f"{row['change']:+,.0f}"
        value = "*" if row["value"] is None else f"{row['value']:,.0f}"
        column.metric(row["title"], value, delta, delta_color="off")
        continue
    if row["value"] is None:
        column.metric(row["title"], "no data" if row["denominator"] == 0 else "withheld (small numbers)")
        continue
    worse_if_up = metrics.catalogue()[row["id"]].higher_is_worse
    delta = None if row["previous"] is None or row["change"] is None else f"{row['change'] * 100:+.1f} points"
    column.metric(
        row["title"],
        f"{row['value']:.1%}",
        delta,
        delta_color="inverse" if worse_if_up else "normal",
        help=f"{row['numerator']} of {row['denominator']}; 95% CI {row['ci_low']:.1%} to {row['ci_high']:.1%}",
    )
    few = row["denominator"] < metrics.rates.LOW_NUMBERS
    column.caption(f"95% CI {row['ci_low']:.1%}–{row['ci_high']:.1%}" + (" · fewer than 8 patients" if few else ""))

ui.pack_download(data, filters)

st.subheader("Signals")
st.caption(
    "Centres beyond the 99.8% (alarm) or 95% (alert) funnel limit on the worse side, early warnings (a centre's "
    "CUSUM crossing its threshold in the last six months), quarterly SPC signals, follow-up completeness under 90%, "
    "and infusions outside their NICE TA, in the same period and filters."
)
found = ui.signals(filters)
if not found:
    st.success("Nothing to look at under these filters.")
icons = {"alarm": ":material/error:", "alert": ":material/warning:", "info": ":material/info:"}
for index, row in enumerate(found):
    page, query = row["link"]
    st.button(
        f"{row['severity'].upper()}: {row['text']}",
        key=f"signal_{index}",
        icon=icons[row["severity"]],
        type="tertiary",
        on_click=ui.follow_link,
        args=(page, query),
    )

st.subheader("Infusions per quarter, by product")
volume = ui.view(ui.calc(metrics.infusions_by, filters, "quarter", "product_code"))
if not ui.empty_notice(volume, "infusions"):
    ui.chart(
        charts.stacked_bars(
            ui.words(volume), "quarter", "infusions", "product_code", "Quarter of infusion", "Infusions"
        ),
        key="volume_chart",
        name="Infusions per quarter, by product",
    )
    ui.table(volume, "volume_table", "infusions_by_quarter.csv")
