"""The store: SQLAlchemy tables for the six submission tables plus batches, quarantine, audit log, dataset metadata,
outlier cases and governance meetings.

SQLite (a file under var/) by default, PostgreSQL through CARTGOV_DATABASE_URL. The store is the write path and the
source of truth; pages read columnar snapshots of it (dashboard/loaders), never the tables row by row.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from pathlib import Path
from typing import NotRequired, TypedDict, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection

from data_contracts import CONTRACTS, PRIMARY_KEYS, polars_schema

DEFAULT_DATABASE_URL = "sqlite:///var/cartgov.db"
metadata = sa.MetaData()

_SQL_TYPES: dict[pl.DataType, type[sa.types.TypeEngine]] = {
    pl.Utf8(): sa.Text,
    pl.Int64(): sa.BigInteger,
    pl.Boolean(): sa.Boolean,
    pl.Date(): sa.Date,
}


def _data_table(name: str) -> sa.Table:
    """A submission table, column for column as its contract declares it."""
    columns = [
        sa.Column(column, _SQL_TYPES[dtype](), primary_key=(column == PRIMARY_KEYS[name]))
        for column, dtype in polars_schema(name).items()
    ]
    return sa.Table(name, metadata, *columns)


DATA_TABLES = {name: _data_table(name) for name in CONTRACTS}

ingest_batches = sa.Table(
    "ingest_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.Text, nullable=False, index=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text),
    sa.Column("sha256", sa.Text, index=True),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("quarantined", sa.Integer, nullable=False),
    sa.Column("refused", sa.Boolean, nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("extract_date", sa.Date),
    sa.Column("data_version", sa.Integer, nullable=False),
    sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("centres", sa.JSON),  # rows read per centre: when each centre last sent data
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.Text, nullable=False, index=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("record_key", sa.Text),
    sa.Column("centre_code", sa.Text),
    sa.Column("original_values", sa.JSON, nullable=False),  # every cell as the file had it, as text
    sa.Column("reasons", sa.JSON, nullable=False),  # [{"column", "rule", "value"}]
    sa.Column("missing_parent_only", sa.Boolean, nullable=False),  # retried by later ingests
    sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("released_at", sa.DateTime(timezone=True)),
    sa.Column("resolution", sa.Text),  # "parent arrived" or "resubmitted"
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("page", sa.Text),
    sa.Column("filters", sa.JSON),
    sa.Column("detail", sa.Text),
)

# Outlier cases (dashboard/cases): one per centre, metric and level, with every change in case_events.
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("centre_code", sa.Text, nullable=False),
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("level", sa.Text, nullable=False),  # alarm or alert
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("decision", sa.Text),  # once closed
    sa.Column("owner", sa.Text),
    sa.Column("opened_on", sa.Date, nullable=False),
    sa.Column("due_on", sa.Date),
    sa.Column("closed_on", sa.Date),
    sa.Column("evidence", sa.Text),  # the signal in words (without the centre), as when the case was (re)opened
    sa.Column("evidence_link", sa.Text),  # the view that showed it: page and query, centres by code
    sa.Column("evidence_version", sa.Integer),  # the data version it was read from
    sa.UniqueConstraint("centre_code", "metric", "level"),
)
case_events = sa.Table(
    "case_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # opened, reopened, moved, response, assigned, note
    sa.Column("status", sa.Text, nullable=False),  # the case's status after it
    sa.Column("text", sa.Text),
    sa.Column("resubmission", sa.Text),  # a centre's answer that corrected its data: the new submission's reference
)
# Governance meetings (dashboard/meetings): the agenda of a date, frozen when the minutes start, with each item's
# decision and actions.
meetings = sa.Table(
    "meetings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("held_on", sa.Date, nullable=False, unique=True),
    sa.Column("attendance", sa.Text),  # as typed
    sa.Column("recorded_by", sa.Text, nullable=False),
)
meeting_items = sa.Table(
    "meeting_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("meeting_id", sa.Integer, sa.ForeignKey("meetings.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # new_signal, due, cleared, decided
    sa.Column("case_id", sa.Integer),
    sa.Column("centre_code", sa.Text, nullable=False),
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # what it is, in words without the centre (labelled when shown)
    sa.Column("link", sa.Text),  # the item's view: page and query, centres by code
    sa.Column("decision", sa.Text),
    sa.Column("actions", sa.JSON),  # [{"action", "owner", "due"}]
)

# One row: what the store holds now. data_version is bumped by every ingest that records anything new.
dataset = sa.Table(
    "dataset",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("data_version", sa.Integer, nullable=False),
    sa.Column("extract_date", sa.Date),
    sa.Column("synthetic", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("CARTGOV_DATABASE_URL") or DEFAULT_DATABASE_URL


@cache
def engine_for(url: str) -> sa.Engine:
    """An engine with the schema created on first use (SQLite's folder too)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    _check_schema(engine)
    return engine


class OutdatedStore(Exception):
    """The store was created by an older version of this code; there are no migrations yet."""


def _check_schema(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [column.name for column in table.columns if column.name not in present]
        if missing:
            raise OutdatedStore(
                f"the store {engine.url.render_as_string(hide_password=True)} was made by an older version "
                f"(table {table.name} lacks {', '.join(missing)}); there is no migration yet: load the data "
                "into a new store"
            )


def _sqlite_pragmas(connection: DBAPIConnection, _record: object) -> None:
    cursor = connection.cursor()
    # WAL lets the app keep reading while an ingest writes; a busy writer waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_engine(url: str | None = None) -> sa.Engine:
    return engine_for(database_url(url))


class DatasetRow(TypedDict):
    """The one row of the dataset table: which data version the store holds, and of what."""

    id: NotRequired[int]  # absent from an empty store's defaults
    data_version: int
    extract_date: dt.date | None
    synthetic: bool
    updated_at: dt.datetime | None  # None only in an empty store's defaults


def read_dataset(connection: sa.Connection) -> DatasetRow:
    """The dataset row, or an empty store's defaults."""
    row = connection.execute(sa.select(dataset).where(dataset.c.id == 1)).mappings().first()
    if row is None:
        return {"data_version": 0, "extract_date": None, "synthetic": False, "updated_at": None}
    return cast(DatasetRow, dict(row))  # the columns of `dataset`, which the driver does not type


def data_version(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return read_dataset(connection)["data_version"]


def bump_version(connection: sa.Connection, extract_date: dt.date | None, synthetic: bool) -> int:
    """Record that the data changed; called inside the batch's transaction."""
    current = read_dataset(connection)
    version = current["data_version"] + 1
    values = {
        "data_version": version,
        "extract_date": max(filter(None, [current["extract_date"], extract_date]), default=None),
        # The store counts as the synthetic sample only while everything in it came from synthetic submissions.
        "synthetic": synthetic and (current["synthetic"] or current["data_version"] == 0),
        "updated_at": dt.datetime.now(dt.UTC),
    }
    if current["updated_at"] is None:
        connection.execute(sa.insert(dataset).values(id=1, **values))
    else:
        connection.execute(sa.update(dataset).where(dataset.c.id == 1).values(**values))
    return version


def upsert(connection: sa.Connection, table: str, frame: pl.DataFrame, chunk: int = 5000) -> None:
    """Insert rows, replacing any row with the same key (a corrected resubmission)."""
    if frame.height == 0:
        return
    target = DATA_TABLES[table]
    key = PRIMARY_KEYS[table]
    dialect = connection.dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(target)
    updates = {c.name: insert.excluded[c.name] for c in target.columns if c.name != key}
    statement = insert.on_conflict_do_update(index_elements=[key], set_=updates)
    columns = [c.name for c in target.columns]
    for start in range(0, frame.height, chunk):
        connection.execute(statement, frame.slice(start, chunk).select(columns).to_dicts())


def row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in DATA_TABLES.items()
        }
