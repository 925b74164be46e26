"""Validated Polars frames of the store, read through a columnar snapshot written once per data version.

Reading 1M rows through SQLAlchemy takes seconds; the same from Parquet takes milliseconds.
So the store is read row by row once per data version, into Parquet files, and every load after that reads the
Parquet files and checks them against the contracts again (docs/design.md, Store and data versions).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

import polars as pl
import sqlalchemy as sa

from dashboard import store
from data_contracts import CONTRACTS, PRIMARY_KEYS, polars_schema, small_integers

COMPLETE = "_complete"
META = "dataset.json"  # the version, extract date and synthetic flag the snapshot holds
# Bump when the files of a snapshot change: older snapshots are then written anew (4: each table sorted by its key).
SNAPSHOT_FORMAT = 4

Derived = TypeVar("Derived")

# Submitted columns no page reads. Every load checks them against the contracts, then lets them go: at 1M infusions
# they are 150 MB the server would hold for nothing, and the patient's identifier and details are better not held.
# What is kept is held as small as the contracts allow (`held`).
UNREAD = {
    "referrals": ("patient_id",),
    "infusions": ("patient_id", "sex", "ethnic_group", "imd_quintile", "care_setting", "discharge_day"),
    "followup": ("crs_onset_day", "icans_onset_day", "tocilizumab_doses", "corticosteroids", "death_day"),
}


@dataclass(frozen=True)
class Dataset:
    """Everything the metrics need: the six validated tables and what the store says about them."""

    data_version: int
    extract_date: dt.date | None
    synthetic: bool
    frames: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame  # every quarantined row, open or released, with its reasons (JSON text)
    batches: pl.DataFrame  # every file ingested or refused

    # Tables built from this dataset by the layers above (the episode table), kept with it: one build per load.
    _derived: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getitem__(self, table: str) -> pl.DataFrame:
        return self.frames[table]

    @property
    def is_empty(self) -> bool:
        return self.frames["infusions"].height == 0

    def derived(self, name: str, build: Callable[[Dataset], Derived]) -> Derived:
        """`build(self)`, made on first use and kept with this dataset; loaders need not know what it is."""
        if name not in self._derived:
            self._derived[name] = build(self)
        # One name, one builder: what is kept under `name` is what `build` made.
        return cast(Derived, self._derived[name])


def snapshot_root(engine: sa.Engine) -> Path:
    """One folder of snapshots per database, so SQLite and PostgreSQL stores never share one."""
    root = Path(os.environ.get("CARTGOV_SNAPSHOT_DIR", "var/snapshots"))
    url = engine.url.render_as_string(hide_password=True)
    return root / hashlib.sha256(url.encode()).hexdigest()[:16]


def read_table(connection: sa.Connection, table: str) -> pl.DataFrame:
    """One table of the store, typed as its contract declares, sorted by its key (the row-wise read: snapshots only).

    Sorted here rather than by the database, whose collation may not order text as Polars does: the episode table
    finds each infusion's follow-up by binary search in these keys."""
    schema = polars_schema(table)
    result = connection.execute(sa.select(store.DATA_TABLES[table]))
    frame = pl.DataFrame(result.fetchall(), schema=list(result.keys()), orient="row", infer_schema_length=None)
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    return frame.select(pl.col(c).cast(t) for c, t in schema.items()).sort(PRIMARY_KEYS[table])


# The store's own bookkeeping, for the data-quality page: JSON columns are kept as JSON text.
BOOKKEEPING: dict[str, tuple[sa.Table, dict[str, pl.DataType | type[pl.DataType]]]] = {
    "quarantine": (
        store.quarantine,
        {
            "id": pl.Int64,
            "batch_id": pl.Utf8,
            "path": pl.Utf8,
            "table_name": pl.Utf8,
            "row_number": pl.Int64,
            "record_key": pl.Utf8,
            "centre_code": pl.Utf8,
            "original_values": pl.Utf8,
            "reasons": pl.Utf8,
            "missing_parent_only": pl.Boolean,
            "quarantined_at": pl.Datetime("us", "UTC"),
            "released_at": pl.Datetime("us", "UTC"),
            "resolution": pl.Utf8,
        },
    ),
    "ingest_batches": (
        store.ingest_batches,
        {
            "id": pl.Int64,
            "batch_id": pl.Utf8,
            "path": pl.Utf8,
            "table_name": pl.Utf8,
            "sha256": pl.Utf8,
            "rows_read": pl.Int64,
            "accepted": pl.Int64,
            "quarantined": pl.Int64,
            "refused": pl.Boolean,
            "message": pl.Utf8,
            "extract_date": pl.Date,
            "data_version": pl.Int64,
            "ingested_at": pl.Datetime("us", "UTC"),
            "centres": pl.Utf8,
        },
    ),
}


def read_bookkeeping(connection: sa.Connection, name: str) -> pl.DataFrame:
    table, schema = BOOKKEEPING[name]
    json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    rows = [
        {k: (json.dumps(v) if k in json_columns and v is not None else v) for k, v in row.items()}
        for row in connection.execute(sa.select(table).order_by(table.c.id)).mappings()
    ]
    if not rows:
        return pl.DataFrame(schema=schema)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.select(_utc(c, frame.schema[c]).cast(t) for c, t in schema.items())


def _utc(column: str, dtype: pl.DataType) -> pl.Expr:
    """SQLite hands back naive datetimes (written as UTC), PostgreSQL aware ones."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return pl.col(column).dt.replace_time_zone("UTC")
        return pl.col(column).dt.convert_time_zone("UTC")
    return pl.col(column)


class SnapshotError(Exception):
    """A snapshot could not be written (disk full, no permission): the newest complete one stays in use."""

    def __init__(self, version: int, root: Path, reason: str) -> None:
        super().__init__(f"the snapshot of data version {version} could not be written under {root}: {reason}")
        self.reason = reason  # what a page may show: no server paths


def _folder(root: Path, version: int) -> Path:
    return root / f"v{version}.{SNAPSHOT_FORMAT}"


def _version_of(folder: Path) -> int | None:
    """The data version a snapshot folder holds (None for anything else: a staging folder, a stray file)."""
    number = folder.name[1:].split(".")[0]
    return int(number) if folder.name.startswith("v") and number.isdigit() else None


def _consistent_read(connection: sa.Connection) -> None:
    """Read the data version and every table from one committed state, whatever an ingest commits meanwhile."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN")  # pysqlite starts no transaction for reads; WAL then fixes one state
    else:
        connection.execution_options(isolation_level="REPEATABLE READ")


def write_snapshot(engine: sa.Engine) -> Path:
    """Write the Parquet snapshot of the store's current data version; a half-written snapshot is never used."""
    root = snapshot_root(engine)
    with engine.connect() as connection:
        _consistent_read(connection)
        meta = store.read_dataset(connection)
        version = meta["data_version"]
        target = _folder(root, version)
        if (target / COMPLETE).exists():
            return target
        staging = None
        try:
            root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=root))
            for table in CONTRACTS:
                read_table(connection, table).write_parquet(staging / f"{table}.parquet", statistics=False)
            for name in BOOKKEEPING:
                read_bookkeeping(connection, name).write_parquet(staging / f"{name}.parquet")
            (staging / META).write_text(
                json.dumps(
                    {
                        "data_version": version,
                        "synthetic": bool(meta["synthetic"]),
                        "extract_date": meta["extract_date"] and meta["extract_date"].isoformat(),
                    }
                )
            )
            (staging / COMPLETE).touch()
            with contextlib.suppress(OSError):  # another process won the race; its snapshot is as good as ours
                staging.rename(target)
            if not (target / COMPLETE).exists():
                raise OSError(errno.EIO, f"{target} could not be put in place")
        except (OSError, pl.exceptions.PolarsError) as error:
            raise SnapshotError(version, root, _reason(error)) from error
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
    _prune(root, keep_from=version - 1)
    return target


def _reason(error: Exception) -> str:
    """What went wrong, fit for any reader: the system's words for an I/O error ("No space left on device"), never a
    message that might quote the data."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    number = re.search(r"\(os error (\d+)\)", str(error))  # Polars' writer reports the I/O error so
    return os.strerror(int(number.group(1))) if number else "the files could not be written"


def complete_snapshots(engine: sa.Engine) -> list[int]:
    """The data versions whose snapshot is complete on disk, oldest first."""
    root = snapshot_root(engine)
    return sorted(
        v
        for v in map(_version_of, root.glob(f"v*.{SNAPSHOT_FORMAT}"))
        if v is not None and (_folder(root, v) / COMPLETE).exists()
    )


def _prune(root: Path, keep_from: int) -> None:
    """Drop snapshots older than the previous version (a reader may still be loading that one)."""
    for folder in root.glob("v*"):
        version = _version_of(folder)
        if version is not None and (version < keep_from or folder != _folder(root, version)):
            shutil.rmtree(folder, ignore_errors=True)


def held(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """What a load keeps of a validated table: the columns some page reads, small whole numbers in 16 bits."""
    return frame.drop(UNREAD.get(table, ())).with_columns(
        pl.col(name).cast(pl.Int16) for name in small_integers(table) if name not in UNREAD.get(table, ())
    )


def load_dataset(engine: sa.Engine, version: int | None = None) -> Dataset:
    """A data version as validated frames: that version's snapshot if given and on disk, else the store's current
    version (written to a snapshot first if need be; raises SnapshotError when it cannot be)."""
    folder = None if version is None else _folder(snapshot_root(engine), version)
    if folder is None or not (folder / COMPLETE).exists():
        folder = write_snapshot(engine)
    meta = json.loads((folder / META).read_text())
    frames: dict[str, pl.DataFrame] = {}
    for table, contract in CONTRACTS.items():
        frames[table] = held(table, contract.validate(pl.read_parquet(folder / f"{table}.parquet"), lazy=True))
    bookkeeping = {name: pl.read_parquet(folder / f"{name}.parquet") for name in BOOKKEEPING}
    extract_date = meta["extract_date"] and dt.date.fromisoformat(meta["extract_date"])
    return Dataset(
        meta["data_version"],
        extract_date,
        meta["synthetic"],
        frames,
        bookkeeping["quarantine"],
        bookkeeping["ingest_batches"],
    )
