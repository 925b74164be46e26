"""Outlier cases (docs/design.md, From signal to decision): a signal made a case, taken through the HQIP outlier process
to a decision, with due dates, notes, frozen evidence and every change in the audit log.

No Streamlit. Who may do what is decided here, in `may`, for the app and the command line alike; what a viewer is
shown of the cases is decided by dashboard/gate.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl
import sqlalchemy as sa

from dashboard import audit, store
from dashboard.access import Viewer

# The HQIP process as statuses, in order; a closed case carries one of the decisions.
STATUSES = ("new", "data_check_requested", "centre_responded", "under_panel_review", "closed")
DECISIONS = ("no_concern", "data_error_corrected", "action_plan_agreed", "escalated")
STATUS_WORDS = {
    "new": "New",
    "data_check_requested": "Data check requested",
    "centre_responded": "Centre responded",
    "under_panel_review": "Under panel review",
    "closed": "Closed",
}
DECISION_WORDS = {
    "no_concern": "no concern",
    "data_error_corrected": "data error corrected",
    "action_plan_agreed": "action plan agreed",
    "escalated": "escalated",
}
LEVELS = ("alarm", "alert")  # beyond 99.8% and beyond 95% (an early warning is an alert)
# Working days allowed at each open status before the next step is due, after HQIP's staged outlier process
# (README, "Outlier cases"): the panel checks the data and analysis, the centre answers a data check, the panel
# reviews the answer and decides. A deployment sets its own in the file CARTGOV_CASE_TIMELINES names.
DEFAULT_TIMELINES = {"new": 10, "data_check_requested": 25, "centre_responded": 20, "under_panel_review": 10}
CASE_COLUMNS = pl.Schema(
    {
        "case_id": pl.Int64,
        "centre_code": pl.Utf8,
        "metric": pl.Utf8,
        "level": pl.Utf8,
        "status": pl.Utf8,
        "decision": pl.Utf8,
        "owner": pl.Utf8,
        "opened_on": pl.Date,
        "due_on": pl.Date,
        "closed_on": pl.Date,
        "evidence": pl.Utf8,
        "evidence_link": pl.Utf8,
        "evidence_version": pl.Int64,
    }
)
EVENT_COLUMNS = pl.Schema(
    {
        "case_id": pl.Int64(),
        "at": pl.Datetime("us", "UTC"),
        "who": pl.Utf8(),
        "role": pl.Utf8(),
        "kind": pl.Utf8(),
        "status": pl.Utf8(),
        "text": pl.Utf8(),
        "resubmission": pl.Utf8(),
    }
)


class NotAllowed(Exception):
    """A viewer asked to do what their role may not do, or something that is not there."""


def timelines() -> dict[str, int]:
    """Working days at each open status: the defaults, with any set in the file CARTGOV_CASE_TIMELINES names."""
    path = os.environ.get("CARTGOV_CASE_TIMELINES")
    if not path:
        return dict(DEFAULT_TIMELINES)
    try:
        chosen = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"case timelines {path}: unreadable ({error.__class__.__name__})") from None
    unknown = set(chosen) - set(DEFAULT_TIMELINES)
    if unknown or not all(isinstance(v, int) and v > 0 for v in chosen.values()):
        raise ValueError(
            f"case timelines {path}: give whole working days above 0 for {', '.join(DEFAULT_TIMELINES)} only"
        )
    return {**DEFAULT_TIMELINES, **chosen}


def due(status: str, since: dt.date) -> dt.date | None:
    """When the step after `status` is due: its working days after `since` (weekends skipped); None once closed."""
    days = timelines().get(status)
    return None if days is None else np.busday_offset(since, days, roll="forward").astype(dt.date)


def may(viewer: Viewer, action: str, centre: str | None = None) -> bool:
    """The one rule: national members open, assign, move, note and close any case; a centre lead sees and answers
    only their own centre's; an observer does none of it (counts by status only, from the gate)."""
    if viewer.role == "national":
        return action in ("view", "open", "assign", "move", "note")
    if viewer.role == "centre":
        return action in ("view", "respond", "note") and centre is not None and centre == viewer.centre
    return False


def _refuse(viewer: Viewer, action: str, case_id: int | None = None) -> NotAllowed:
    what = f"case {case_id}" if case_id is not None else "cases"
    return NotAllowed(f"{viewer.identity} ({viewer.role}) may not {action} {what}")


def _event(
    connection: sa.Connection,
    case_id: int,
    viewer: Viewer,
    kind: str,
    status: str,
    now: dt.datetime,
    text: str | None = None,
    resubmission: str | None = None,
) -> None:
    connection.execute(
        sa.insert(store.case_events).values(
            case_id=case_id,
            at=now,
            who=viewer.identity,
            role=viewer.role,
            kind=kind,
            status=status,
            text=text or None,
            resubmission=resubmission or None,
        )
    )
    detail = f"case {case_id}: {kind}" + (f" -> {status}" if kind in ("moved", "opened", "reopened") else "")
    audit.write(connection, viewer, "case", "cases", None, detail)


def _case(connection: sa.Connection, case_id: int) -> Mapping:
    row = connection.execute(sa.select(store.cases).where(store.cases.c.id == case_id)).mappings().first()
    if row is None:
        raise NotAllowed(f"there is no case {case_id}")
    return row


def open_case(
    engine: sa.Engine,
    viewer: Viewer,
    centre: str,
    metric: str,
    level: str,
    evidence: str,
    evidence_link: str,
    evidence_version: int,
    today: dt.date | None = None,
) -> int:
    """The case of a centre, metric and level: opened, or kept while it is open (a persisting signal keeps its
    case), or reopened with its history (a signal that returns after a decision). Its evidence is the signal as it
    was read and the link of the view that showed it, with the data version it was read from."""
    if not may(viewer, "open", centre):
        raise _refuse(viewer, "open")
    if level not in LEVELS:
        raise NotAllowed(f"a case's level is one of {', '.join(LEVELS)}, not {level!r}")
    today = today or dt.date.today()
    now = dt.datetime.now(dt.UTC)
    cases = store.cases
    frozen = {"evidence": evidence, "evidence_link": evidence_link, "evidence_version": evidence_version}
    with engine.begin() as connection:
        found = (
            connection.execute(
                sa.select(cases).where(cases.c.centre_code == centre, cases.c.metric == metric, cases.c.level == level)
            )
            .mappings()
            .first()
        )
        if found is not None and found["status"] != "closed":
            return found["id"]
        if found is not None:
            connection.execute(
                sa.update(cases)
                .where(cases.c.id == found["id"])
                .values(status="new", decision=None, closed_on=None, due_on=due("new", today), **frozen)
            )
            _event(connection, found["id"], viewer, "reopened", "new", now, evidence)
            return found["id"]
        case_id = connection.execute(
            sa.insert(cases)
            .returning(cases.c.id)
            .values(
                centre_code=centre,
                metric=metric,
                level=level,
                status="new",
                owner=viewer.identity,
                opened_on=today,
                due_on=due("new", today),
                **frozen,
            )
        ).scalar_one()
        _event(connection, case_id, viewer, "opened", "new", now, evidence)
        return case_id


def move(
    engine: sa.Engine,
    viewer: Viewer,
    case_id: int,
    status: str,
    text: str | None = None,
    decision: str | None = None,
    resubmission: str | None = None,
    today: dt.date | None = None,
) -> None:
    """A case to its next status, with a note. A lead's only move is their answer (centre_responded: text, and the
    resubmission's reference when the answer is a corrected submission); closing needs a decision."""
    if status not in STATUSES:
        raise NotAllowed(f"a case's status is one of {', '.join(STATUSES)}, not {status!r}")
    if (status == "closed") != (decision is not None):
        raise NotAllowed("a case is closed with a decision, and only closing takes one")
    if decision is not None and decision not in DECISIONS:
        raise NotAllowed(f"a decision is one of {', '.join(DECISIONS)}, not {decision!r}")
    today = today or dt.date.today()
    with engine.begin() as connection:
        case = _case(connection, case_id)
        answer = status == "centre_responded"
        allowed = may(viewer, "respond" if answer and viewer.role == "centre" else "move", case["centre_code"])
        if not allowed:
            raise _refuse(viewer, "move", case_id)
        if answer and not (text or "").strip():
            raise NotAllowed("a centre's answer needs its text")
        if case["status"] == "closed":
            raise NotAllowed(f"case {case_id} is closed: open it again from its signal")
        connection.execute(
            sa.update(store.cases)
            .where(store.cases.c.id == case_id)
            .values(
                status=status,
                decision=decision,
                due_on=due(status, today),
                closed_on=today if status == "closed" else None,
            )
        )
        kind = "response" if answer else "moved"
        _event(connection, case_id, viewer, kind, status, dt.datetime.now(dt.UTC), text, resubmission)


def assign(engine: sa.Engine, viewer: Viewer, case_id: int, owner: str) -> None:
    """A national member takes a case on, or hands it to another."""
    with engine.begin() as connection:
        case = _case(connection, case_id)
        if not may(viewer, "assign", case["centre_code"]):
            raise _refuse(viewer, "assign", case_id)
        connection.execute(sa.update(store.cases).where(store.cases.c.id == case_id).values(owner=owner.strip()))
        _event(connection, case_id, viewer, "assigned", case["status"], dt.datetime.now(dt.UTC), owner.strip())


def note(engine: sa.Engine, viewer: Viewer, case_id: int, text: str) -> None:
    """A note on a case's history, by a national member or the centre's own lead."""
    if not text.strip():
        raise NotAllowed("a note needs its text")
    with engine.begin() as connection:
        case = _case(connection, case_id)
        if not may(viewer, "note", case["centre_code"]):
            raise _refuse(viewer, "note on", case_id)
        _event(connection, case_id, viewer, "note", case["status"], dt.datetime.now(dt.UTC), text)


def cases(engine: sa.Engine) -> pl.DataFrame:
    """Every case (CASE_COLUMNS), exact and unlabelled: show them through the gate."""
    c = store.cases
    with engine.connect() as connection:
        rows = connection.execute(sa.select(c.c.id.label("case_id"), *(c.c[n] for n in list(CASE_COLUMNS)[1:])))
        found = [dict(r) for r in rows.mappings()]
    return pl.DataFrame(found, schema=CASE_COLUMNS, orient="row").sort("case_id")


def history(engine: sa.Engine) -> pl.DataFrame:
    """Every event of every case, oldest first (EVENT_COLUMNS)."""
    e = store.case_events
    with engine.connect() as connection:
        rows = connection.execute(sa.select(*(e.c[n] for n in EVENT_COLUMNS)).order_by(e.c.id))
        found = [dict(r) for r in rows.mappings()]
    return pl.DataFrame(found, schema=EVENT_COLUMNS, orient="row")


def status_column() -> pl.Expr:
    """The status and decision columns as one column of words."""
    return (
        pl.struct("status", "decision")
        .map_elements(lambda r: status_words(r["status"], r["decision"]), return_dtype=pl.Utf8)
        .alias("status")
    )


def status_words(status: str, decision: str | None) -> str:
    """ "Closed: action plan agreed", "Data check requested"."""
    return STATUS_WORDS[status] + (f": {DECISION_WORDS[decision]}" if decision else "")
