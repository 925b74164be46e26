"""Outlier cases: signals made cases and taken through the HQIP outlier process to a decision, with their history."""

import polars as pl
import streamlit as st

from dashboard import cases, metrics, presenter, ui

data = ui.dataset()
filters = ui.current_filters()
viewer = ui.policy().viewer
days = cases.timelines()
st.title("Outlier cases")
st.caption(
    "Each signal a panel takes up becomes a case: one per centre, metric and level. The national panel checks the "
    f"data and the analysis (within {days['new']} working days), asks the centre to check its data (the centre "
    f"answers within {days['data_check_requested']}), reviews the answer (within {days['centre_responded']}) and "
    f"decides (within {days['under_panel_review']}): no concern, data error corrected, action plan agreed, or "
    "escalated. A signal that returns after a decision reopens its case, history and all."
)
ui.show_message()

if viewer.role == "observer":
    st.info(
        "Cases are shown to national members and to each centre's own lead; your role is told how many there are.",
        icon=":material/visibility_off:",
    )
    counts = ui.case_counts()
    st.dataframe(
        counts.select(
            cases.status_column(),
            "cases",
        ).to_arrow(),
        hide_index=True,
        column_config={"status": "Status", "cases": "Cases"},
    )
    st.stop()

shown = ui.shown_cases()
titles = metrics.catalogue()
ui.period_note(data, filters)
if viewer.role == "national":
    open_keys = {tuple(k) for k in shown.filter(pl.col("status") != "closed").select(ui.CASE_KEY).iter_rows()}
    waiting = [
        s for s in ui.raised(filters).iter_rows(named=True) if (s["centre"], s["metric"], s["level"]) not in open_keys
    ]
    # Open while there are no cases yet; then folded, so that the cases come first on a phone.
    inbox = st.expander(
        f"Signals without an open case ({len(waiting)})", expanded=not shown.height, icon=":material/inbox:"
    )
    if not waiting:
        inbox.success("Every signal under these filters has an open case.", icon=":material/task_alt:")
    for index, signal in enumerate(waiting):
        words, button = inbox.columns([5, 1], vertical_alignment="center")
        words.markdown(f"**{signal['level'].upper()}** {presenter.signal_text(signal)}")
        button.button(
            "Open a case",
            key=f"open_case_{index}",
            on_click=ui.open_from_signal,
            args=(signal, filters),
            icon=":material/add_task:",
        )

st.subheader("Cases" if viewer.role == "national" else "Your centre's cases")
which = st.segmented_control("Show", ["Open", "Closed", "All"], default="Open", key="case_status_shown")
listed = shown.filter(
    pl.col("status") != "closed" if which == "Open" else pl.col("status") == "closed" if which == "Closed" else True
)
if not listed.height:
    st.info(f"No {'' if which == 'All' else (which or 'open').lower() + ' '}cases.", icon=":material/inbox:")
else:
    st.dataframe(
        listed.select(
            "case_id",
            "centre_code",
            pl.col("metric").replace_strict({k: m.title for k, m in titles.items()}, default=pl.col("metric")),
            "level",
            cases.status_column(),
            "owner",
            "opened_on",
            "due_on",
        ).to_arrow(),
        key="cases_table",
        hide_index=True,
        column_config={
            "case_id": "Case",
            "centre_code": "Centre",
            "metric": "Metric",
            "level": "Level",
            "status": "Status",
            "owner": "Owner",
            "opened_on": "Opened",
            "due_on": "Next step due",
        },
    )

case_id = ui.chosen_case(shown)
if case_id is None:
    st.stop()
case = shown.filter(pl.col("case_id") == case_id).row(0, named=True)
st.subheader(f"Case {case_id}: {case['centre_code']}, {titles[case['metric']].title} ({case['level']})")
due = f"; next step due {case['due_on']}" if case["due_on"] else ""
st.markdown(
    f"**{cases.status_words(case['status'], case['decision'])}**{due}. Owner: {case['owner']}. "
    f"Opened {case['opened_on']}."
)
st.markdown(
    f"Evidence (data version {case['evidence_version']}): {case['evidence']}. "
    f"[Open the view that raised it](/{case['evidence_link']})"
)
history = ui.case_history(case_id).select(
    pl.col("at").dt.strftime("%Y-%m-%d %H:%M"),
    "who",
    "kind",
    pl.col("status").replace_strict(cases.STATUS_WORDS),
    # The resubmission beside the answer it belongs to (a column of its own is off the edge on a laptop).
    pl.when(pl.col("resubmission").is_not_null())
    .then(pl.format("{} (resubmission {})", pl.col("text").fill_null(""), pl.col("resubmission")))
    .otherwise(pl.col("text"))
    .alias("text"),
)
st.dataframe(
    history.to_arrow(),
    key="case_history",
    hide_index=True,
    column_config={
        "at": st.column_config.TextColumn("When", width="medium"),
        "who": "Who",
        "kind": st.column_config.TextColumn("What", width="small"),
        "status": "Status after",
        "text": st.column_config.TextColumn("Note", width="large"),
    },
)

if case["status"] != "closed" and viewer.role == "national":
    move, close = st.columns(2)
    with move, st.form(f"move_{case_id}", clear_on_submit=True):
        onward = [s for s in cases.STATUSES[:-1] if s != case["status"]]
        status = st.selectbox("Move to", onward, format_func=cases.STATUS_WORDS.__getitem__)
        note = st.text_area("Note for the history", placeholder="What was asked or found")
        if st.form_submit_button("Move the case", icon=":material/arrow_forward:"):
            ui.change(f"Case {case_id}: {cases.STATUS_WORDS[status]}.", cases.move, case_id, status, note)
            st.rerun()
    with close, st.form(f"close_{case_id}", clear_on_submit=True):
        decision = st.selectbox("Decision", cases.DECISIONS, format_func=lambda d: cases.DECISION_WORDS[d].capitalize())
        reasons = st.text_area("The panel's reasons", placeholder="What the panel decided and why")
        if st.form_submit_button("Close with this decision", icon=":material/gavel:"):
            ui.change(
                f"Case {case_id} closed: {cases.DECISION_WORDS[decision]}.",
                cases.move,
                case_id,
                "closed",
                reasons,
                decision,
            )
            st.rerun()
    with st.form(f"assign_{case_id}", clear_on_submit=True):
        owner = st.text_input("Hand the case to", placeholder="a national member's e-mail address")
        if st.form_submit_button("Assign", icon=":material/person:") and owner.strip():
            ui.change(f"Case {case_id} assigned to {owner.strip()}.", cases.assign, case_id, owner)
            st.rerun()
elif case["status"] != "closed" and viewer.role == "centre":
    with st.form(f"answer_{case_id}", clear_on_submit=True):
        st.markdown("**Answer the panel**")
        answer = st.text_area("Your answer", placeholder="What your data check found")
        resubmission = st.text_input(
            "Resubmission reference", help="When the answer is a corrected submission: its batch or file reference."
        )
        if st.form_submit_button("Send the answer", icon=":material/send:"):
            ui.change(
                f"Case {case_id}: your answer is recorded.",
                cases.move,
                case_id,
                "centre_responded",
                answer,
                resubmission=resubmission,
            )
            st.rerun()
with st.form(f"note_{case_id}", clear_on_submit=True):
    remark = st.text_input("Add a note", placeholder="Anything the history should hold")
    if st.form_submit_button("Add the note", icon=":material/note_add:"):
        ui.change(f"Case {case_id}: note added.", cases.note, case_id, remark)
        st.rerun()
