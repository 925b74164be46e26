"""Validated Polars frames of the store, read through a columnar snapshot written once per data version.

Reading 1M rows through SQLAlchemy takes seconds; the same from Parquet takes milliseconds (DESIGN.md section 9).
So the store is read row by row once per data version, into Parquet files, and every load after that reads the
Parquet files and checks them against the contracts again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from dashboard import store
from data_contracts import CONTRACTS, polars_schema

COMPLETE = "_complete"


@dataclass(frozen=True)
class Dataset:
    """Everything the metrics need: the six validated tables and what the store says about them."""

    data_version: int
    extract_date: dt.date | None
    synthetic: bool
    frames: dict[str, pl.DataFrame]

    def __getitem__(self, table: str) -> pl.DataFrame:
        return self.frames[table]

    @property
    def is_empty(self) -> bool:
        return self.frames["infusions"].height == 0


def snapshot_root(engine: sa.Engine) -> Path:
    """One folder of snapshots per database, so SQLite and PostgreSQL stores never share one."""
    root = Path(os.environ.get("CARTGOV_SNAPSHOT_DIR", "var/snapshots"))
    url = engine.url.render_as_string(hide_password=True)
    return root / hashlib.sha256(url.encode()).hexdigest()[:16]


def read_table(connection: sa.Connection, table: str) -> pl.DataFrame:
    """One table of the store, typed as its contract declares (the row-wise read: snapshots only)."""
    schema = polars_schema(table)
    result = connection.execute(sa.select(store.DATA_TABLES[table]))
    frame = pl.DataFrame(result.fetchall(), schema=list(result.keys()), orient="row", infer_schema_length=None)
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())


def write_snapshot(engine: sa.Engine, version: int) -> Path:
    """Write the Parquet snapshot of one data version; a half-written snapshot is never used."""
    target = snapshot_root(engine) / f"v{version}"
    if (target / COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=target.parent))
    try:
        with engine.connect() as connection:
            for table in CONTRACTS:
                read_table(connection, table).write_parquet(staging / f"{table}.parquet", statistics=False)
        (staging / COMPLETE).touch()
        with contextlib.suppress(OSError):  # another process won the race; its snapshot is as good as ours
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(target.parent, keep_from=version - 1)
    return target


def _prune(root: Path, keep_from: int) -> None:
    """Drop snapshots older than the previous version (a reader may still be loading that one)."""
    for folder in root.glob("v*"):
        if folder.name[1:].isdigit() and int(folder.name[1:]) < keep_from:
            shutil.rmtree(folder, ignore_errors=True)


def load_dataset(engine: sa.Engine) -> Dataset:
    """The store's current data version as validated frames (written to a snapshot first if need be)."""
    with engine.connect() as connection:
        meta = store.read_dataset(connection)
    folder = write_snapshot(engine, meta["data_version"])
    frames = {}
    for table, contract in CONTRACTS.items():
        frame = pl.read_parquet(folder / f"{table}.parquet")
        frames[table] = contract.validate(frame, lazy=True)
    return Dataset(meta["data_version"], meta["extract_date"], bool(meta["synthetic"]), frames)
