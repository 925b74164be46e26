"""The audit log: every view of patient-level rows and every export, written to the store (who, when, what)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import sqlalchemy as sa

from dashboard import store
from dashboard.access import Viewer
from dashboard.filters import Filters, View


def record(
    engine: sa.Engine,
    viewer: Viewer,
    action: str,
    page: str | None,
    filters: Filters | None,
    detail: str,
    view: View | None = None,
) -> None:
    """One entry; its filters are the link's parameters (the view's too, when the page shows one)."""
    with engine.begin() as connection:
        write(connection, viewer, action, page, filters, detail, view)


def write(
    connection: sa.Connection,
    viewer: Viewer,
    action: str,
    page: str | None,
    filters: Filters | None,
    detail: str,
    view: View | None = None,
) -> None:
    """One entry, in the caller's transaction: a change and its record commit together or not at all."""
    connection.execute(
        sa.insert(store.audit_log).values(
            at=dt.datetime.now(dt.UTC),
            who=viewer.identity,
            role=viewer.role,
            action=action,
            page=page,
            filters={**(filters or Filters()).as_query(), **(view or View()).as_query()},
            detail=detail,
        )
    )


def entries(engine: sa.Engine, limit: int = 5000) -> pl.DataFrame:
    """The latest entries, newest first."""
    log = store.audit_log
    with engine.connect() as connection:
        rows = connection.execute(sa.select(log).order_by(log.c.id.desc()).limit(limit)).mappings().all()
    schema = pl.Schema(
        {
            "id": pl.Int64(),
            "at": pl.Datetime("us", "UTC"),
            "who": pl.Utf8(),
            "role": pl.Utf8(),
            "action": pl.Utf8(),
            "page": pl.Utf8(),
            "filters": pl.Utf8(),
            "detail": pl.Utf8(),
        }
    )
    return pl.DataFrame(
        [{**row, "filters": str(row["filters"])} for row in rows], schema=schema, orient="row", strict=False
    )
