"""Governance meetings: the agenda for a date, decisions and actions against each item, and the minutes in the pack."""

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import meetings, ui
from dashboard.ui import keys

data = ui.dataset()
viewer = ui.policy().viewer
st.title("Governance meetings")
if viewer.role != "national":
    st.info(
        "Meetings are recorded by national members. Their minutes reach you in the governance pack, with "
        + ("your own centre's items." if viewer.role == "centre" else "the number of items of each kind."),
        icon=":material/groups:",
    )
    st.stop()
st.caption(
    "Pick the meeting's date: the agenda lists the signals raised since the last meeting that have no open case, "
    "cases due or overdue by that date, open cases whose signal has cleared, and cases decided since the last "
    "meeting. Starting the minutes freezes the agenda; decisions and actions are then recorded against each item, "
    "and the minutes open the governance pack."
)
filters = ui.current_filters()
ui.period_note(data, filters)
ui.show_message()
on = st.date_input("Meeting date", key=keys.MEETING_DATE, bind="query-params", format="YYYY-MM-DD")
if not isinstance(on, dt.date):
    st.stop()
record = ui.meeting_on(on)
items = record.items if record is not None else ui.agenda(on, filters)

if record is None:
    st.subheader(f"Agenda for {on}")
    if not items.height:
        st.success("Nothing on the agenda for this date.", icon=":material/task_alt:")
    for kind in meetings.ITEM_KINDS:
        part = items.filter(pl.col("kind") == kind)
        if part.height:
            st.markdown(f"**{meetings.ITEM_WORDS[kind]}**")
            for item in part.iter_rows(named=True):
                st.markdown(f"{item['position']}. {item['centre_code']}: {item['detail']} ([view](/{item['link']}))")
    st.button(
        "Start the minutes of this meeting",
        on_click=ui.change,
        args=(f"Minutes of {on} started.", meetings.start, on, items),
        icon=":material/edit_note:",
        type="primary",
    )
    st.stop()

st.subheader(f"Minutes of {on}")
with st.form("attendance"):
    attendance = st.text_area("Attendance", value=record.attendance, placeholder="Names and roles, as typed")
    if st.form_submit_button("Save the attendance", icon=":material/save:"):
        ui.change("Attendance saved.", meetings.attend, record.meeting_id, attendance)
        st.rerun()
for item in items.iter_rows(named=True):
    decided = " · recorded" if item["decision"] else ""
    title = f"{item['position']}. {meetings.ITEM_WORDS[item['kind']]}: {item['centre_code']}{decided}"
    with st.expander(title, expanded=not item["decision"]):
        st.markdown(f"{item['detail']} ([view](/{item['link']}))")
        with st.form(f"item_{item['position']}"):
            decision = st.text_area("Decision", value=item["decision"] or "", key=f"decision_{item['position']}")
            actions = st.data_editor(
                pl.DataFrame(item["actions"] or [], schema={k: pl.Utf8 for k in meetings.ACTION}).to_pandas(),
                num_rows="dynamic",
                key=f"actions_{item['position']}",
                column_config={
                    "action": "Action",
                    "owner": "Owner",
                    "due": st.column_config.TextColumn("Due (YYYY-MM-DD)"),
                },
                width="stretch",
            )
            if st.form_submit_button("Record the decision and actions", icon=":material/save:"):
                listed = [
                    {k: (str(v).strip() if v is not None and str(v) != "nan" else "") for k, v in row.items()}
                    for row in actions.to_dict("records")
                ]
                ui.change(
                    f"Item {item['position']} recorded.",
                    meetings.record,
                    record.meeting_id,
                    item["position"],
                    decision,
                    [a for a in listed if any(a.values())],
                )
                st.rerun()

st.subheader("The pack with these minutes")
ui.pack_download(data, filters, minutes=record)
