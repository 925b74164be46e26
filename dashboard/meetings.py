"""Governance meetings (docs/design.md, From signal to decision): the agenda for a date, the decisions and actions
recorded against each item, and the minutes that open the governance pack.

No Streamlit. The agenda is built from the signals and the cases; a meeting's record freezes it when the minutes
start, so that later signals never rewrite what a meeting saw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

import polars as pl
import sqlalchemy as sa

from dashboard import audit, cases, presenter, store
from dashboard.access import Viewer
from dashboard.metrics.catalogue import catalogue

CASE_KINDS = ("funnel", "cusum")  # the signals a case is opened for: an outcome worse than expected at a centre
ITEM_KINDS = ("new_signal", "due", "cleared", "decided")
ITEM_WORDS = {
    "new_signal": "New signal",
    "due": "Case due or overdue",
    "cleared": "Case whose signal has cleared",
    "decided": "Decided since the last meeting",
}
ACTION = ("action", "owner", "due")  # an action's fields, as recorded against an item
ITEM_COLUMNS = pl.Schema(
    {
        "position": pl.Int64,
        "kind": pl.Utf8,
        "case_id": pl.Int64,
        "centre_code": pl.Utf8,
        "metric": pl.Utf8,
        "level": pl.Utf8,
        "detail": pl.Utf8,  # in words, without the centre: the gate labels the centre for each reader
        "link": pl.Utf8,  # the item's view, page and query (centres by code)
    }
)


@dataclass(frozen=True)
class Minutes:
    """A meeting as recorded: its date, attendance as typed, and its agenda items with each decision and action."""

    meeting_id: int
    held_on: dt.date
    attendance: str
    items: pl.DataFrame  # ITEM_COLUMNS, then decision and actions (a list of {action, owner, due})


def signal_keys(signals: pl.DataFrame) -> pl.DataFrame:
    """The signals a case can be opened for, one row each, keyed by centre, metric and level."""
    return signals.filter(pl.col("kind").is_in(CASE_KINDS)).with_columns(pl.col("severity").alias("level"))


def link(page_and_query: tuple[str, dict[str, list[str]]]) -> str:
    page, query = page_and_query
    return page + ("?" + urlencode(query, doseq=True) if query else "")


def agenda(
    on: dt.date,
    signals: pl.DataFrame,
    known: pl.DataFrame,
    last: Minutes | None,
    period: dict[str, list[str]],
) -> pl.DataFrame:
    """The agenda for a meeting on `on` (ITEM_COLUMNS): new signals since the last meeting (raised now, with no open
    case, and not already on the last meeting's agenda), open cases due by the date, open cases whose signal has
    cleared, and cases decided since the last meeting. `signals` are England's, exact; `known` every case;
    `period` the query of the view the signals were read in (each new signal's link)."""
    raised = signal_keys(signals)
    key = ("centre_code", "metric", "level")
    now = {(r["centre"], r["metric"], r["level"]): r for r in raised.iter_rows(named=True)}
    open_cases = known.filter(pl.col("status") != "closed")
    open_keys = {tuple(r) for r in open_cases.select(key).iter_rows()}
    seen = set()
    if last is not None:
        seen = {tuple(r) for r in last.items.filter(pl.col("kind") == "new_signal").select(key).iter_rows()}
    items = []
    for signal_key, signal in now.items():
        if signal_key not in open_keys and signal_key not in seen:
            items.append(
                {
                    "kind": "new_signal",
                    "case_id": None,
                    **dict(zip(key, signal_key, strict=True)),
                    "detail": presenter.signal_detail(signal),
                    "link": link(presenter.signal_link(signal, period)),
                }
            )
    for case in open_cases.sort("due_on", "case_id", nulls_last=True).iter_rows(named=True):
        state = cases.status_words(case["status"], case["decision"])
        if case["due_on"] is not None and case["due_on"] <= on:
            late = " (overdue)" if case["due_on"] < on else ""
            items.append(_case_item("due", case, f"{state}, next step due {case['due_on']}{late}"))
        elif (case["centre_code"], case["metric"], case["level"]) not in now:
            items.append(_case_item("cleared", case, f"{state}; the signal is no longer raised"))
    since = last.held_on if last is not None else dt.date.min
    decided = known.filter((pl.col("status") == "closed") & (pl.col("closed_on") > since) & (pl.col("closed_on") <= on))
    for case in decided.sort("closed_on", "case_id").iter_rows(named=True):
        state = cases.status_words(case["status"], case["decision"])
        items.append(_case_item("decided", case, f"{state} on {case['closed_on']}"))
    frame = pl.DataFrame(items, schema={k: v for k, v in ITEM_COLUMNS.items() if k != "position"}, orient="row")
    order = pl.col("kind").replace_strict({k: i for i, k in enumerate(ITEM_KINDS)}, return_dtype=pl.Int8)
    worst = pl.col("level").replace_strict({k: i for i, k in enumerate(cases.LEVELS)}, return_dtype=pl.Int8)
    frame = frame.sort(order, worst, "centre_code", "metric", maintain_order=True)  # alarms first in each part
    return frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("position")).select(
        list(ITEM_COLUMNS)
    )


def _case_item(kind: str, case: dict, state: str) -> dict:
    title = catalogue()[case["metric"]].title
    return {
        "kind": kind,
        "case_id": case["case_id"],
        "centre_code": case["centre_code"],
        "metric": case["metric"],
        "level": case["level"],
        "detail": f"Case {case['case_id']}, {title} ({case['level']}): {state}",
        "link": case["evidence_link"],
    }


def _may_run(viewer: Viewer) -> None:
    if viewer.role != "national":
        raise cases.NotAllowed(f"{viewer.identity} ({viewer.role}) may not record a meeting: national members do")


def start(engine: sa.Engine, viewer: Viewer, on: dt.date, items: pl.DataFrame) -> int:
    """The record of the meeting on `on`, its agenda frozen as it stands (the same record if it was started)."""
    _may_run(viewer)
    with engine.begin() as connection:
        found = connection.execute(sa.select(store.meetings.c.id).where(store.meetings.c.held_on == on)).first()
        if found is not None:
            return found[0]
        meeting_id = connection.execute(
            sa.insert(store.meetings)
            .returning(store.meetings.c.id)
            .values(held_on=on, attendance="", recorded_by=viewer.identity)
        ).scalar_one()
        if items.height:
            connection.execute(
                sa.insert(store.meeting_items),
                [{**row, "meeting_id": meeting_id, "actions": []} for row in items.iter_rows(named=True)],
            )
        audit.write(connection, viewer, "meeting", "meetings", None, f"minutes of {on} started: {items.height} items")
    return meeting_id


def record(
    engine: sa.Engine, viewer: Viewer, meeting_id: int, position: int, decision: str, actions: list[dict]
) -> None:
    """An item's decision and actions (each {action, owner, due}), as the meeting agreed them."""
    _may_run(viewer)
    for action in actions:
        if not (action.get("action") or "").strip() or not (action.get("owner") or "").strip():
            raise cases.NotAllowed("an action needs what is to be done and who does it")
    items = store.meeting_items
    with engine.begin() as connection:
        done = connection.execute(
            sa.update(items)
            .where(items.c.meeting_id == meeting_id, items.c.position == position)
            .values(decision=decision.strip() or None, actions=actions)
        )
        if done.rowcount != 1:
            raise cases.NotAllowed(f"meeting {meeting_id} has no item {position}")
        audit.write(connection, viewer, "meeting", "meetings", None, f"meeting {meeting_id}, item {position} recorded")


def attend(engine: sa.Engine, viewer: Viewer, meeting_id: int, attendance: str) -> None:
    """Who attended, as typed."""
    _may_run(viewer)
    with engine.begin() as connection:
        connection.execute(
            sa.update(store.meetings).where(store.meetings.c.id == meeting_id).values(attendance=attendance.strip())
        )
        audit.write(connection, viewer, "meeting", "meetings", None, f"meeting {meeting_id}: attendance recorded")


def minutes(engine: sa.Engine, meeting_id: int) -> Minutes:
    m, i = store.meetings, store.meeting_items
    with engine.connect() as connection:
        meeting = connection.execute(sa.select(m).where(m.c.id == meeting_id)).mappings().first()
        if meeting is None:
            raise cases.NotAllowed(f"there is no meeting {meeting_id}")
        rows = connection.execute(sa.select(i).where(i.c.meeting_id == meeting_id).order_by(i.c.position))
        found = [dict(r) for r in rows.mappings()]
    schema = pl.Schema(
        {**ITEM_COLUMNS, "decision": pl.Utf8(), "actions": pl.List(pl.Struct({k: pl.Utf8 for k in ACTION}))}
    )
    items = pl.DataFrame(
        [{k: r[k] for k in schema} | {"actions": r["actions"] or []} for r in found], schema=schema, orient="row"
    )
    return Minutes(meeting["id"], meeting["held_on"], meeting["attendance"] or "", items)


def held(engine: sa.Engine) -> pl.DataFrame:
    """Every meeting recorded: id and date, latest first."""
    m = store.meetings
    with engine.connect() as connection:
        rows = connection.execute(sa.select(m.c.id, m.c.held_on).order_by(m.c.held_on.desc())).all()
    return pl.DataFrame(rows, schema={"meeting_id": pl.Int64, "held_on": pl.Date}, orient="row")


def last_before(engine: sa.Engine, on: dt.date) -> Minutes | None:
    """The latest meeting held before `on`, or None."""
    earlier = held(engine).filter(pl.col("held_on") < on)
    return minutes(engine, earlier["meeting_id"][0]) if earlier.height else None


def actions_text(actions: list[dict] | None) -> str:
    """ "Check the ICANS grading (Dr A, by 2026-11-30); ..." for a table or the pack."""
    return "; ".join(f"{a['action']} ({a['owner']}, by {a['due'] or 'no date'})" for a in actions or [])
