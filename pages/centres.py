"""Centres: one centre (?centre=CODE) against England on every metric, its product and TA mix, completeness."""

import polars as pl
import streamlit as st

from dashboard import charts, metrics, pages, presenter, ui
from dashboard.access import OWN_CENTRE
from dashboard.ui import keys

data = ui.dataset()
filters = ui.current_filters()
policy = ui.policy()
st.title("Centres")
ui.period_note(data, filters)
labels = policy.labels
names = dict(data["centres"].select("centre_code", "centre_name").iter_rows())

if len(filters.centre) != 1:
    st.caption(
        "Pick one centre (this sets the Centre filter, so the link can be shared), or click a centre on any "
        "funnel plot."
    )
    columns = st.columns(6)
    ordered = sorted(labels.items(), key=lambda item: (item[1] != OWN_CENTRE, item[1]))
    for index, (code, label) in enumerate(ordered):
        columns[index % 6].button(
            label,
            key=f"open_{index}",
            on_click=ui.go_to,
            args=(pages.CENTRES.file,),
            kwargs={keys.CENTRE: [label]},
            width="stretch",
            help=names[code] if label in (code, OWN_CENTRE) else None,
        )
    st.stop()

centre = filters.centre[0]
label = labels[centre]
st.header(f"{names[centre]} ({centre})" if label in (centre, OWN_CENTRE) else label)
profile = ui.view(ui.disclosed(metrics.centre_against_england, centre, filters))
shown = presenter.profile_rows(profile)
flagged = profile.filter(pl.col("concern").is_not_null())
if flagged.height:
    st.warning(
        "Worse than expected: "
        + "; ".join(
            f"{r['title']} (beyond the {r['flag'].split('_')[1]}% limit)" for r in flagged.iter_rows(named=True)
        ),
        icon=":material/warning:",
    )
if profile.filter(pl.col("flag") == metrics.rates.INSUFFICIENT_FOLLOW_UP).height:
    st.info("Day-30 follow-up is under 90% at this centre: its outcomes are shown but not flagged.")

st.subheader("Every metric against England")
ui.chart(charts.centre_profile(profile), key="centre_profile", name="Every metric at this centre against England")
ui.table(
    shown,
    "centre_profile_table",
    f"{label.replace(' ', '_')}_profile.csv",
    title="Metric",
    numerator="Events",
    denominator="Patients",
    rate=ui.percent("Rate"),
    ci_low=ui.percent("95% CI low"),
    ci_high=ui.percent("95% CI high"),
    england_numerator="England events",
    england_denominator="England patients",
    england_rate=ui.percent("England"),
    ratio=st.column_config.NumberColumn("Observed / expected", format="%.2f"),
    p_value="Exact p (one-sided)",
    flag="Against England",
    low_numbers="Note",
)

left, right = st.columns(2)
with left:
    st.subheader("Product mix")
    mix = ui.view(ui.calc(metrics.infusions_by, filters, "quarter", "product_code"))
    if not ui.empty_notice(mix, "infusions"):
        ui.chart(
            charts.stacked_bars(ui.words(mix), "quarter", "infusions", "product_code", "Quarter", "Infusions"),
            key="centre_products",
            name="Infusions at this centre per quarter, by product",
            figures=ui.words(mix),
        )
with right:
    st.subheader("NICE TA mix")
    tas = ui.view(ui.calc(metrics.infusions_by, filters, "ta_code"))
    if not ui.empty_notice(tas, "infusions"):
        ui.table(tas, "centre_tas", f"{label.replace(' ', '_')}_tas.csv")

st.subheader("Early warning between meetings")
st.caption(
    "A risk-adjusted CUSUM patient by patient, each patient expected at England's rate for their product: it climbs "
    "with each event and falls back with each patient without one. Crossing its threshold is an early warning, "
    "and the chart starts again from 0. Beside it, events observed minus expected, added up."
)
watched = ui.metric_picker(list(metrics.EARLY_WARNING), "icans_severe", label="Early warning on")
chart = ui.patient_rows(ui.calc(metrics.early_warning_chart, watched, filters), "early warning chart")
if chart is not None and not chart.height:
    st.info(
        "The early warning is drawn patient by patient: it is shown for your own centre only."
        if policy.viewer.role == "centre" and label != OWN_CENTRE
        else "No patient with day-30 follow-up at this centre under these filters.",
        icon=":material/visibility_off:",
    )
elif chart is not None:
    level = ui.calc(metrics.early_warning_thresholds).filter(
        (pl.col("metric") == watched) & (pl.col("centre_code") == centre)
    )
    if level.height:
        st.caption(
            f"Threshold {level['threshold'][0]:.2f}: about one false warning in "
            f"{level['run_length'][0] / level['patients_a_year'][0]:.0f} years at this centre's volume "
            f"({level['patients_a_year'][0]:.0f} patients a year in the last three years, or a typical centre's if "
            "fewer), set to find the odds of the event doubled."
        )
    title = metrics.catalogue()[watched].title
    left, right = st.columns(2)
    with left:
        ui.chart(charts.cusum(chart, title), key="early_warning_cusum", name=f"Risk-adjusted CUSUM of {title}")
    with right:
        ui.chart(
            charts.vlad(chart, title),
            key="early_warning_vlad",
            name=f"{title}: events observed minus expected",
            figures=chart.select("infusion_date", "risk", "event", "cusum", "crossed", "vlad"),
        )
