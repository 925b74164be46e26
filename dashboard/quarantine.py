"""Quarantine: rows held back by ingest with their reasons; written, released, retried, listed, shown and exported."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from dashboard import store
from dashboard.exports import csv_bytes
from dashboard.loaders import read_bookkeeping
from data_contracts import CONTRACTS, PRIMARY_KEYS
from data_contracts.submission import MISSING_PARENT, ROW, Parents, TableCheck, check_frame

_REASON = pl.List(pl.Struct({"column": pl.Utf8, "rule": pl.Utf8, "value": pl.Utf8}))


def hold(
    connection: sa.Connection, check: TableCheck, path: str, batch_id: str, now: dt.datetime, centres: pl.Series
) -> int:
    """Quarantine every row of a checked file that broke a rule, with its reasons and its centre (`centres`: one per
    row read, in the file's order); returns how many rows were held."""
    reasons = check.problems.group_by("row", maintain_order=True).agg(
        pl.struct("column", "rule", "value").alias("reasons"),
        pl.col("rule").str.starts_with(MISSING_PARENT).all().alias("missing_parent_only"),
    )
    key = PRIMARY_KEYS[check.table]
    # The file's values are kept apart from the bookkeeping (reasons, centre): joined into one frame, an unknown
    # extra column named "reasons" or "missing_parent_only" was stored in place of the reasons, or crashed the batch.
    held = check.text[ROW].is_in(reasons["row"].implode())
    by_row = {reason["row"]: reason for reason in reasons.iter_rows(named=True)}
    rows = []
    for values, centre in zip(check.text.filter(held).iter_rows(named=True), centres.filter(held), strict=True):
        reason = by_row[values.pop(ROW)]
        rows.append(
            {
                "batch_id": batch_id,
                "path": path,
                "table_name": check.table,
                "row_number": reason["row"],
                "record_key": values.get(key),
                "centre_code": centre,
                "original_values": values,
                "reasons": reason["reasons"],
                "missing_parent_only": reason["missing_parent_only"],
                "quarantined_at": now,
            }
        )
    if rows:
        connection.execute(sa.insert(store.quarantine), rows)
    return len(rows)


def _open(connection: sa.Connection, *where: sa.ColumnElement[bool]) -> Sequence[sa.Row]:
    q = store.quarantine
    return connection.execute(
        sa.select(q.c.id, q.c.table_name, q.c.record_key, q.c.original_values)
        .where(q.c.released_at.is_(None), *where)
        .order_by(q.c.id)
    ).all()


def release_resubmitted(connection: sa.Connection, check: TableCheck, now: dt.datetime) -> None:
    """A quarantined row whose key has now been accepted from a corrected file is no longer open."""
    q = store.quarantine
    open_rows = _open(connection, q.c.table_name == check.table)
    if not open_rows:
        return
    accepted = set(check.valid[PRIMARY_KEYS[check.table]].to_list())
    resolved = [row.id for row in open_rows if row.record_key in accepted]
    if resolved:
        connection.execute(sa.update(q).where(q.c.id.in_(resolved)).values(released_at=now, resolution="resubmitted"))


def retry_missing_parents(
    connection: sa.Connection, parents: Parents, batch_id: str, now: dt.datetime
) -> list[TableCheck]:
    """Rows of earlier batches waiting only for their parent are checked again; those whose parent arrived commit.
    One check per table that had rows waiting, parents first, its path `quarantine:<table>`."""
    q = store.quarantine
    waiting = _open(connection, q.c.missing_parent_only, q.c.batch_id != batch_id)
    checks = []
    for table in CONTRACTS:
        rows = [row for row in waiting if row.table_name == table]
        if not rows:
            continue
        ids = pl.Series("id", [row.id for row in rows])
        text = (
            pl.DataFrame([row.original_values for row in rows], infer_schema_length=None)
            .select(pl.all().cast(pl.Utf8))
            .with_row_index(ROW, offset=1)
            .with_columns(pl.col(ROW).cast(pl.Int64))
        )
        check = check_frame(table, text, Path(f"quarantine:{table}"), parents)
        store.upsert(connection, table, check.valid.drop(ROW))
        released = ids.gather(check.valid[ROW] - 1).to_list()
        if released:
            connection.execute(
                sa.update(q).where(q.c.id.in_(released)).values(released_at=now, resolution="parent arrived")
            )
        # A row whose parent arrived but which breaks another rule now waits for a correction, not a parent.
        for row, problems in check.problems.group_by("row", maintain_order=True):
            if not problems["rule"].str.starts_with(MISSING_PARENT).all():
                connection.execute(
                    sa.update(q)
                    .where(q.c.id == ids[row[0] - 1])
                    .values(reasons=problems.select("column", "rule", "value").to_dicts(), missing_parent_only=False)
                )
        checks.append(check)
    return checks


def reasons(quarantine: pl.DataFrame, open_only: bool = True) -> pl.DataFrame:
    """One row per reason a quarantined row was held back: who must fix what, in which file and row."""
    rows = quarantine.filter(pl.col("released_at").is_null()) if open_only else quarantine
    return (
        rows.with_columns(pl.col("reasons").str.json_decode(_REASON))
        .explode("reasons")
        .unnest("reasons")
        .select(
            pl.col("id").alias("quarantine_id"),
            "centre_code",
            pl.col("table_name").alias("table"),
            "path",
            "row_number",
            "record_key",
            "column",
            "rule",
            "value",
            "quarantined_at",
            "resolution",
        )
        .sort("quarantine_id")
    )


def held_reasons(engine: sa.Engine, include_released: bool = False, centre: tuple[str, ...] = ()) -> pl.DataFrame:
    """The reasons of the rows held in the store (open ones unless `include_released`), of these centres if named."""
    with engine.connect() as connection:
        rows = read_bookkeeping(connection, "quarantine")
    found = reasons(rows, open_only=not include_released)
    return found.filter(pl.col("centre_code").is_in(centre)) if centre else found


def held_row(engine: sa.Engine, quarantine_id: int) -> Mapping | None:
    """One quarantined row as stored: its values as sent and every reason (None when there is no such row)."""
    with engine.connect() as connection:
        query = sa.select(store.quarantine).where(store.quarantine.c.id == quarantine_id)
        return connection.execute(query).mappings().first()


def export(found: pl.DataFrame, out: Path) -> None:
    """Write held reasons to a CSV file safe to open in a spreadsheet, ready to send back to the centre."""
    out.write_bytes(csv_bytes(found))
