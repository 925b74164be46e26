"""The store on a real SQLite file and a real PostgreSQL server: round trip, idempotence, corrections, snapshots."""

from __future__ import annotations

import datetime as dt
import errno
from pathlib import Path

import pandera.errors
import polars as pl
import pytest
import sqlalchemy as sa

from dashboard import store
from dashboard.ingest import ingest
from dashboard.loaders import (
    SNAPSHOT_FORMAT,
    UNREAD,
    SnapshotError,
    _consistent_read,
    complete_snapshots,
    load_dataset,
    snapshot_root,
)
from data_contracts import CONTRACTS
from data_contracts.submission import cast_to_contract, read_text
from tests.conftest import SAMPLE


def _sample_typed(table: str) -> pl.DataFrame:
    path = SAMPLE / f"{table}.csv"
    return cast_to_contract(table, read_text(path))[0].drop("_row")


def test_the_sample_round_trips_through_the_store_unchanged(store_url):
    """The snapshot holds every submitted column; a load keeps the columns some page reads."""
    engine = store.engine_for(store_url)
    report = ingest(engine, [SAMPLE])
    assert report.exit_code == 0
    data = load_dataset(engine)
    assert (data.data_version, data.extract_date, data.synthetic) == (1, dt.date(2026, 9, 30), True)
    snapshot = snapshot_root(engine) / f"v1.{SNAPSHOT_FORMAT}"
    for table in CONTRACTS:
        key = list(CONTRACTS[table].to_schema().columns)[0]
        expected = _sample_typed(table).sort(key)
        assert pl.read_parquet(snapshot / f"{table}.parquet").sort(key).equals(expected), table
        kept = expected.drop(UNREAD.get(table, ()))
        assert data[table].columns == kept.columns, table
        assert data[table].sort(key).cast(kept.schema).equals(kept), table  # every value, whatever type holds it
    assert "patient_id" not in data["infusions"].columns
    # A grade, a day, an age is held in 16 bits once its contract has bounded it; a distance with no upper bound is not.
    assert (data["followup"]["crs_max_grade"].dtype, data["infusions"]["age_at_infusion"].dtype) == (pl.Int16, pl.Int16)
    assert data["infusions"]["home_travel_minutes"].dtype == pl.Int64


def test_a_column_no_page_reads_is_still_checked_on_every_load(sqlite_url):
    """Dropped after the contracts, not before: a snapshot altered on disk fails on a column nobody reads."""
    engine = store.engine_for(sqlite_url)
    ingest(engine, [SAMPLE])
    load_dataset(engine)
    path = snapshot_root(engine) / f"v1.{SNAPSHOT_FORMAT}" / "infusions.parquet"
    infusions = pl.read_parquet(path)
    infusions.with_columns(pl.lit(9, dtype=pl.Int64).alias("imd_quintile")).write_parquet(path)
    with pytest.raises(pandera.errors.SchemaErrors, match="imd_quintile"):
        load_dataset(engine, version=1)


def test_the_schema_is_created_on_first_use(store_url):
    engine = store.engine_for(store_url)
    tables = set(sa.inspect(engine).get_table_names())
    assert {
        "centres",
        "products",
        "nice_ta",
        "referrals",
        "infusions",
        "followup",
        "ingest_batches",
        "quarantine",
        "audit_log",
        "dataset",
    } <= tables
    assert load_dataset(engine).is_empty


def test_the_same_files_twice_change_nothing(store_url):
    engine = store.engine_for(store_url)
    first = ingest(engine, [SAMPLE])
    counts = store.row_counts(engine)
    second = ingest(engine, [SAMPLE])
    assert second.data_version == first.data_version == 1
    assert second.batch_id is None
    assert all("already ingested" in f.message for f in second.files)
    assert store.row_counts(engine) == counts


def test_a_corrected_row_replaces_the_old_one_and_bumps_the_version(store_url, tmp_path):
    engine = store.engine_for(store_url)
    ingest(engine, [SAMPLE])
    infusions = pl.read_csv(SAMPLE / "infusions.csv", infer_schema=False)
    corrected = infusions.head(1).with_columns(pl.lit("77").alias("age_at_infusion"))
    corrected.write_csv(tmp_path / "infusions.csv")
    report = ingest(engine, [tmp_path / "infusions.csv"], extract_date=dt.date(2026, 9, 30))
    assert (report.exit_code, report.data_version) == (0, 2)
    data = load_dataset(engine)
    assert data["infusions"].height == 3000
    episode = corrected["episode_id"][0]
    assert data["infusions"].filter(pl.col("episode_id") == episode)["age_at_infusion"].to_list() == [77]
    with engine.connect() as connection:
        batches = connection.execute(sa.select(store.ingest_batches.c.data_version)).scalars().all()
    assert sorted(set(batches)) == [1, 2]


def test_a_snapshot_is_written_once_per_data_version(sqlite_url):
    engine = store.engine_for(sqlite_url)
    ingest(engine, [SAMPLE])
    load_dataset(engine)
    folders = sorted(p.name for p in snapshot_root(engine).iterdir())
    assert folders == [f"v1.{SNAPSHOT_FORMAT}"]
    # The snapshot, not the store, is what a second load reads: emptying the table does not show until a new version.
    with engine.begin() as connection:
        connection.execute(sa.delete(store.DATA_TABLES["followup"]))
    assert load_dataset(engine)["followup"].height == 2891


def test_old_snapshots_are_pruned_keeping_the_previous_version(sqlite_url, tmp_path):
    engine = store.engine_for(sqlite_url)
    ingest(engine, [SAMPLE])
    infusions = pl.read_csv(SAMPLE / "infusions.csv", infer_schema=False)
    for version, age in ((2, "70"), (3, "71")):
        load_dataset(engine)
        infusions.head(1).with_columns(pl.lit(age).alias("age_at_infusion")).write_csv(tmp_path / "infusions.csv")
        assert ingest(engine, [tmp_path / "infusions.csv"], extract_date=dt.date(2026, 9, 30)).data_version == version
    load_dataset(engine)
    assert sorted(p.name for p in snapshot_root(engine).iterdir()) == [f"v2.{SNAPSHOT_FORMAT}", f"v3.{SNAPSHOT_FORMAT}"]


def test_a_store_made_by_an_older_version_is_refused_with_a_clear_message(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as connection:
        connection.execute(sa.text("CREATE TABLE quarantine (id INTEGER PRIMARY KEY, batch_id TEXT)"))
    with pytest.raises(store.OutdatedStore, match=r"table quarantine lacks path, table_name"):
        store.engine_for(url)


def test_a_snapshot_that_cannot_be_written_leaves_the_previous_one_in_use(sqlite_url, tmp_path, monkeypatch):
    engine = store.engine_for(sqlite_url)
    ingest(engine, [SAMPLE])
    load_dataset(engine)
    infusions = pl.read_csv(SAMPLE / "infusions.csv", infer_schema=False)
    infusions.head(1).with_columns(pl.lit("70").alias("age_at_infusion")).write_csv(tmp_path / "infusions.csv")
    assert ingest(engine, [tmp_path / "infusions.csv"], extract_date=dt.date(2026, 9, 30)).data_version == 2
    written = []

    def disk_full(frame, path, **options):
        if written:  # the first file fits, the second does not
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        Path(path).write_bytes(b"PAR1")

    with monkeypatch.context() as patched, pytest.raises(SnapshotError, match="version 2 could not") as raised:
        patched.setattr(pl.DataFrame, "write_parquet", disk_full)
        load_dataset(engine)
    assert raised.value.reason == "No space left on device"
    # Nothing half-written is left, and version 1's snapshot is whole and still loads.
    assert sorted(p.name for p in snapshot_root(engine).iterdir()) == [f"v1.{SNAPSHOT_FORMAT}"]
    assert complete_snapshots(engine) == [1]
    previous = load_dataset(engine, version=1)
    assert (previous.data_version, previous.synthetic, previous.extract_date) == (1, True, dt.date(2026, 9, 30))
    episode = infusions["episode_id"][0]
    assert previous["infusions"].filter(pl.col("episode_id") == episode)["age_at_infusion"].to_list() != [70]
    # Once there is room again, the new version is written and read.
    assert load_dataset(engine)["infusions"].filter(pl.col("episode_id") == episode)["age_at_infusion"].to_list() == [
        70
    ]
    assert complete_snapshots(engine) == [1, 2]


def test_a_snapshot_reads_one_committed_state_of_the_store(store_url):
    """Its version and its rows come from one transaction: an ingest committing meanwhile is not half in it."""
    engine = store.engine_for(store_url)
    ingest(engine, [SAMPLE])
    with engine.connect() as reader:
        _consistent_read(reader)
        assert store.read_dataset(reader)["data_version"] == 1
        with engine.begin() as writer:  # commits while the snapshot is being read
            writer.execute(sa.delete(store.DATA_TABLES["followup"]))
            store.bump_version(writer, None, True)
        assert store.read_dataset(reader)["data_version"] == 1
        assert reader.execute(sa.select(sa.func.count()).select_from(store.DATA_TABLES["followup"])).scalar() == 2891
    assert store.data_version(engine) == 2
