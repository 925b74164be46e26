"""Ingest: every bad input gets its exact outcome, nothing is lost, orphans wait, a crash leaves no trace."""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dashboard import store, synthetic
from dashboard.ingest import UsageError, ingest, validate
from data_contracts import PRIMARY_KEYS, polars_schema
from data_contracts.submission import ROW
from tests.conftest import BAD_SUBMISSION, PROJECT_ROOT, SAMPLE, run_cli

EXTRACT = dt.date(2026, 9, 30)
INFUSIONS = pl.read_csv(SAMPLE / "infusions.csv", infer_schema=False)
FOLLOWUP = pl.read_csv(SAMPLE / "followup.csv", infer_schema=False)
REFERRALS = pl.read_csv(SAMPLE / "referrals.csv", infer_schema=False)


@pytest.fixture
def seeded(seeded_sqlite) -> sa.Engine:
    return store.engine_for(seeded_sqlite)


def new_episodes(n: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Infusions (and their follow-up) not yet in the store: sample rows under new episode ids."""
    rows = INFUSIONS.join(FOLLOWUP.select("episode_id"), on="episode_id").head(n)
    renamed = {old: old.replace("EP", "EPN") for old in rows["episode_id"]}
    infusions = rows.with_columns(pl.col("episode_id").replace(renamed))
    followup = FOLLOWUP.filter(pl.col("episode_id").is_in(list(renamed))).with_columns(
        pl.col("episode_id").replace(renamed)
    )
    return infusions, followup


def ingest_one(engine: sa.Engine, path: Path):
    report = ingest(engine, [path], extract_date=EXTRACT)
    (file,) = report.files
    assert file.accepted + file.quarantined == file.rows_read
    return report, file


def write(tmp_path: Path, frame: pl.DataFrame, name: str = "infusions.csv") -> Path:
    path = tmp_path / name
    frame.write_csv(path)
    return path


def counts(engine: sa.Engine) -> dict:
    with engine.connect() as connection:
        tables = {**store.DATA_TABLES, "quarantine": store.quarantine, "ingest_batches": store.ingest_batches}
        result = {
            name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in tables.items()
        }
        result["data_version"] = store.read_dataset(connection)["data_version"]
    return result


# --- Refused files: the message says what to fix; nothing from the file is written ---

REFUSED = [
    ("empty file", b"", "the file is empty"),
    ("a BOM only", b"\xef\xbb\xbf", "the file is empty"),  # once an IndexError that crashed the batch
    ("header only", ",".join(INFUSIONS.columns).encode() + b"\n", "the file has a header but no data rows"),
    ("semicolon-delimited", INFUSIONS.head(3).write_csv(separator=";").encode(), "separated by ';'"),
    (
        "Latin-1 bytes",
        INFUSIONS.head(3).with_columns(pl.lit("Caf\u00e9").alias("sex")).write_csv().encode("latin-1"),
        "not UTF-8 (byte 0xe9 on line 2)",
    ),
    (
        "a required column missing",
        INFUSIONS.head(3).drop("centre_code").write_csv().encode(),
        "required column(s) missing: centre_code",
    ),
    (
        "dates as 14/03/2025",
        INFUSIONS.head(3)
        .with_columns(pl.col("infusion_date").str.strptime(pl.Date).dt.strftime("%d/%m/%Y"))
        .write_csv()
        .encode(),
        "dates must be ISO 8601, e.g. 2025-03-14; column infusion_date, row 1 has ",
    ),
    ("UTF-16", INFUSIONS.head(3).write_csv().encode("utf-16"), "not UTF-8 (byte 0xff on line 1)"),
    ("a NUL byte", INFUSIONS.head(3).write_csv().replace("EP", "EP\x00", 1).encode(), "a NUL byte (0x00) on line 2"),
]


@pytest.mark.parametrize(("case", "content", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_refused_file_writes_nothing_and_says_what_to_fix(seeded, tmp_path, case, content, message):
    before = counts(seeded)
    (tmp_path / "infusions.csv").write_bytes(content)
    report, file = ingest_one(seeded, tmp_path / "infusions.csv")
    assert (file.refused, file.accepted, report.exit_code) == (True, 0, 2)
    assert message in file.message and "infusions.csv" in file.message
    after = counts(seeded)
    # The refusal itself is recorded (the data-quality page shows it), so it is a new data version; no row is.
    assert after.pop("ingest_batches") == before.pop("ingest_batches") + 1
    assert after.pop("data_version") == before.pop("data_version") + 1
    assert after == before


def test_a_parquet_file_with_wrong_column_types_is_refused(seeded, tmp_path):
    infusions, _ = new_episodes()
    frame = infusions.with_columns(pl.col("age_at_infusion").cast(pl.Float64) + 0.5)
    frame.write_parquet(tmp_path / "infusions.parquet")
    _, file = ingest_one(seeded, tmp_path / "infusions.parquet")
    assert file.refused
    assert "column age_at_infusion is Float64 in the Parquet file; the contract needs whole numbers" in file.message


def test_a_refused_file_does_not_stop_the_other_files_of_the_batch(seeded, tmp_path):
    infusions, followup = new_episodes()
    write(tmp_path, infusions)
    (tmp_path / "followup.csv").write_bytes(b"")
    report = ingest(seeded, [tmp_path], extract_date=EXTRACT)
    assert [(f.table, f.accepted, f.refused) for f in report.files] == [("infusions", 5, False), ("followup", 0, True)]
    assert report.exit_code == 1


ODD_PARQUET_COLUMNS = [
    (
        "a list",
        pl.Series("doses", [[1, 2]] * 5),
        "column doses is List(Int64) in the Parquet file, which cannot be "
        "read as text; send text, numbers, dates or true/false",
    ),
    (
        "a duration",
        pl.Series("stay", [dt.timedelta(days=3)] * 5),
        "column stay is Duration(time_unit='us') in the Parquet file, which cannot be read as text",
    ),
    ("bytes not UTF-8", pl.Series("blob", [b"\xff\xfe"] * 5), "column blob holds bytes that are not UTF-8 text"),
]


@pytest.mark.parametrize(("case", "column", "message"), ODD_PARQUET_COLUMNS, ids=[c[0] for c in ODD_PARQUET_COLUMNS])
def test_a_parquet_column_that_cannot_be_read_as_text_refuses_the_file(seeded, tmp_path, case, column, message):
    """Even an extra column: cast to text to be kept with a held row, it crashed the whole batch."""
    infusions, _ = new_episodes()
    infusions.with_columns(column).write_parquet(tmp_path / "infusions.parquet")
    _, file = ingest_one(seeded, tmp_path / "infusions.parquet")
    assert file.refused and message in file.message


# --- Accepted as they are ---


@pytest.mark.parametrize("variant", ["bom", "crlf", "parquet"])
def test_bom_crlf_and_parquet_files_are_read_like_plain_csv(seeded, tmp_path, variant):
    infusions, _ = new_episodes()
    if variant == "parquet":
        path = tmp_path / "infusions.parquet"
        infusions.with_columns(
            pl.col("infusion_date").str.strptime(pl.Date), pl.col("age_at_infusion").cast(pl.Int32)
        ).write_parquet(path)
    else:
        text = infusions.write_csv().encode()
        path = tmp_path / "infusions.csv"
        path.write_bytes(b"\xef\xbb\xbf" + text if variant == "bom" else text.replace(b"\n", b"\r\n"))
    report, file = ingest_one(seeded, path)
    assert (file.accepted, file.quarantined, report.exit_code) == (5, 0, 0)


def test_an_unknown_extra_column_is_accepted_reported_and_ignored(seeded, tmp_path):
    infusions, _ = new_episodes()
    _, file = ingest_one(seeded, write(tmp_path, infusions.with_columns(pl.lit("x").alias("consultant"))))
    assert (file.accepted, file.message) == (5, "unknown column(s) ignored: consultant")
    (tmp_path / "many").mkdir()  # the message is stored: it names ten
    many = infusions.with_columns(pl.lit("x").alias(f"extra{i:02}") for i in range(12))
    _, file = ingest_one(seeded, write(tmp_path / "many", many))
    assert file.message == f"unknown column(s) ignored: {', '.join(f'extra{i:02}' for i in range(10))} and 2 more"


# --- Quarantined rows: each with its reason ---

QUARANTINED = [
    ("wrong type", {"age_at_infusion": "sixty"}, "age_at_infusion", "integer"),
    ("out of range", {"age_at_infusion": "111"}, "age_at_infusion", "in_range(0, 110)"),
    ("enumeration typo", {"care_setting": "inpatinet"}, "care_setting", "isin"),
    ("enumeration wrong case", {"sex": "Female"}, "sex", "isin"),
    ("one date as 14/03/2025", {"infusion_date": "14/03/2025"}, "infusion_date", "iso_date"),
    ("future date", {"infusion_date": "2026-12-01"}, "infusion_date", "not_after_extract_date(2026-09-30)"),
    ("infusion before its referral", {"infusion_date": "2015-01-01"}, "infusion_date", "not_before_referral_date"),
    ("unknown centre", {"centre_code": "XYZ12"}, "centre_code", "references(centres.centre_code)"),
    ("unknown product", {"product_code": "cilta-cel"}, "product_code", "references(products.product_code)"),
    ("unknown TA", {"ta_code": "TA999"}, "ta_code", "references(nice_ta.ta_code)"),
]


@pytest.mark.parametrize(("case", "change", "column", "rule"), QUARANTINED, ids=[c[0] for c in QUARANTINED])
def test_a_broken_row_is_quarantined_with_its_reason_and_the_rest_committed(
    seeded, tmp_path, case, change, column, rule
):
    infusions, _ = new_episodes()
    infusions = infusions.filter(pl.col("referral_id").is_not_null())
    broken = infusions.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in change.items()
    )
    report, file = ingest_one(seeded, write(tmp_path, broken))
    assert (file.accepted, file.quarantined, report.exit_code) == (infusions.height - 1, 1, 1)
    (problem,) = file.problems
    assert (problem["row"], problem["column"]) == (2, column) and problem["rule"].startswith(rule)
    with seeded.connect() as connection:
        (row,) = connection.execute(sa.select(store.quarantine)).mappings().all()
    assert row["row_number"] == 2 and row["path"].endswith("infusions.csv")
    assert row["original_values"] == broken.row(1, named=True)  # the values as sent, as text
    assert [r["column"] for r in row["reasons"]] == [column]


def test_duplicate_keys_within_a_file_quarantine_both_rows(seeded, tmp_path):
    infusions, _ = new_episodes()
    doubled = pl.concat([infusions, infusions.head(1)])
    _, file = ingest_one(seeded, write(tmp_path, doubled))
    assert (file.accepted, file.quarantined) == (4, 2)
    assert {(p["row"], p["rule"]) for p in file.problems} == {(1, "field_uniqueness"), (6, "field_uniqueness")}


def test_a_key_sent_again_in_a_later_file_replaces_the_row(seeded, tmp_path):
    infusions, _ = new_episodes()
    ingest_one(seeded, write(tmp_path, infusions))
    (tmp_path / "again").mkdir()
    _, file = ingest_one(
        seeded, write(tmp_path / "again", infusions.head(1).with_columns(pl.lit("30").alias("age_at_infusion")))
    )
    assert file.accepted == 1
    with seeded.connect() as connection:
        ages = (
            connection.execute(
                sa.select(store.DATA_TABLES["infusions"].c.age_at_infusion).where(
                    store.DATA_TABLES["infusions"].c.episode_id == infusions["episode_id"][0]
                )
            )
            .scalars()
            .all()
        )
    assert ages == [30]


def test_a_corrected_row_resolves_its_quarantine_entry(seeded, tmp_path):
    infusions, _ = new_episodes()
    ingest_one(seeded, write(tmp_path, infusions.with_columns(pl.lit("Female").alias("sex"))))
    (tmp_path / "fixed").mkdir()
    ingest_one(seeded, write(tmp_path / "fixed", infusions))
    with seeded.connect() as connection:
        resolutions = connection.execute(sa.select(store.quarantine.c.resolution)).scalars().all()
    assert resolutions == ["resubmitted"] * 5


# --- Orphans ---


def test_a_followup_without_its_infusion_waits_and_is_committed_when_the_parent_arrives(seeded, tmp_path):
    infusions, followup = new_episodes()
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    report, file = ingest_one(seeded, write(tmp_path / "first", followup, "followup.csv"))
    assert (file.accepted, file.quarantined) == (0, 5)
    assert {p["rule"] for p in file.problems} == {"missing parent (infusions.episode_id)"}
    before = counts(seeded)

    report = ingest(seeded, [write(tmp_path / "second", infusions)], extract_date=EXTRACT)
    by_path = {f.path: f for f in report.files}
    assert by_path["quarantine:followup"].accepted == 5 and by_path["quarantine:followup"].quarantined == 0
    after = counts(seeded)
    assert after["followup"] == before["followup"] + 5 and after["infusions"] == before["infusions"] + 5
    with seeded.connect() as connection:
        open_rows = connection.execute(
            sa.select(sa.func.count()).select_from(store.quarantine).where(store.quarantine.c.released_at.is_(None))
        ).scalar_one()
    assert open_rows == 0


def test_the_bad_submission_goes_in_except_its_broken_rows(seeded):
    report = ingest(seeded, [BAD_SUBMISSION])
    by_table = {f.table: (f.rows_read, f.accepted, f.quarantined) for f in report.files}
    assert by_table == {
        "centres": (24, 23, 1),
        "referrals": (16, 16, 0),
        "infusions": (16, 9, 7),
        "followup": (16, 5, 11),
    }
    assert report.exit_code == 1


# --- Nothing lost, whatever the corruption ---


def _corrupt(data: bytes, operation: str, position: float, payload: bytes) -> bytes:
    cut = int(position * len(data))
    if operation == "truncate":
        return data[:cut]
    if operation == "insert":
        return data[:cut] + payload + data[cut:]
    if operation == "overwrite":
        return data[:cut] + payload + data[cut + len(payload) :]
    if operation == "shuffle_lines":
        lines = data.split(b"\n")
        return b"\n".join(lines[:1] + list(reversed(lines[1:])))
    return data.replace(b",", payload[:1] or b";", 3)


@settings(
    max_examples=int(os.environ.get("CARTGOV_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    operation=st.sampled_from(["truncate", "insert", "overwrite", "shuffle_lines", "delimiter"]),
    position=st.floats(0, 1),
    payload=st.binary(max_size=40) | st.sampled_from([b'"', b"\n", b",,", b"\xff\xfe"]),
)
def test_any_corruption_never_crashes_and_never_loses_a_row(
    seeded_sqlite, tmp_path_factory, operation, position, payload
):
    engine = store.engine_for(seeded_sqlite)
    infusions, _ = new_episodes(8)
    folder = tmp_path_factory.mktemp("corrupt")
    (folder / "infusions.csv").write_bytes(_corrupt(infusions.write_csv().encode(), operation, position, payload))
    report = ingest(engine, [folder], extract_date=EXTRACT)
    # Rows of earlier examples that wait for a parent are retried too, and must add up as well.
    for retried in report.files[1:]:
        assert retried.path == "quarantine:infusions"
        assert retried.accepted + retried.quarantined == retried.rows_read
    file = report.files[0]
    assert report.exit_code in (0, 1, 2)
    if file.refused:
        assert file.accepted == 0 and file.message
    else:
        assert file.accepted + file.quarantined == file.rows_read
        with engine.connect() as connection:
            stored = connection.execute(
                sa.select(sa.func.count())
                .select_from(store.quarantine)
                .where(store.quarantine.c.batch_id == report.batch_id)
            ).scalar_one()
        assert report.batch_id is None or stored == file.quarantined


# Structured corruption: a small valid submission of three related tables, then damage cell by cell and byte by byte.

TABLES = ("referrals", "infusions", "followup")  # parents first
PARENT = {"infusions": "referrals", "followup": "infusions"}
STORED_KEYS = {"referrals": "RF0000001", "infusions": "EP0000001", "followup": "EP0000001"}  # in the seeded store
DATE_COLUMNS = {t: [c for c, dtype in polars_schema(t).items() if dtype == pl.Date] for t in TABLES}
HUGE_CELL = "A" * (10 * 1024 * 1024)  # 10 MB, built once
ODD_VALUES = {  # what a cell of each type may wrongly hold
    pl.Int64: ["sixty", "3.5", "3.0", "1e3", "-1", "99999999999999999999", "NaN", "inf", "0x1F", "1,000"],
    pl.Date: [
        "14/03/2025",
        "2025/03/14",
        "2025-3-4",
        "20250314",
        "2025-03-14T10:00:00",
        "2025-02-30",
        "0000-06-01",
        "-0001-06-01",
        "+10000-01-01",
        "1900-01-01",
    ],
    pl.Boolean: ["yes", "maybe", "TRUE", "0", "2", "on"],
    pl.Utf8: [
        "Caf\u00e9",
        "\u00e9t\u00e9 \u20ac",
        '"quoted"',
        "a,b",
        "line\nbreak",
        "=1+1",
        "lower case",
        "EP0000001",
        "RF0000001",
        "LDN01",
        "axi-cel",
        "TA872",
    ],
}
ANY_TYPE = ["", " ", "null", "N/A", "42", "2025-03-14", "true"]
# Names that clash with the reader's or the quarantine's own bookkeeping, or nearly match a contract column.
ODD_NAMES = [
    "_row",
    "row",
    "reasons",
    "missing_parent_only",
    "_centre",
    "index",
    "",
    " episode_id",
    "EPISODE_ID",
    "referral_id",
    "episode_id",
]
BYTE_LEVEL = ["latin1", "utf16", "invalid_utf8", "nul_byte", "truncate"]
KINDS = [
    "shuffle_columns",
    "rename_column",
    "drop_column",
    "duplicate_column",
    "extra_column",
    "retype",
    "reformat_dates",
    "null",
    "null_key",
    "duplicate_row",
    "stored_key",
    "huge_cell",
    *BYTE_LEVEL,
]


@dataclass(frozen=True)
class Mutation:
    kind: str
    table: str
    column: str = ""
    row: int = 0  # -1: every row
    value: str = ""
    at: float = 0.0  # where in the file's bytes


@st.composite
def mutations(draw) -> Mutation:
    kind = draw(st.sampled_from(KINDS))
    table = draw(st.sampled_from([t for t in TABLES if DATE_COLUMNS[t]] if kind == "reformat_dates" else TABLES))
    if kind in ("truncate", "invalid_utf8", "nul_byte"):
        return Mutation(kind, table, at=draw(st.floats(0, 1)))
    if kind in ("shuffle_columns", "utf16"):
        return Mutation(kind, table, row=draw(st.integers(0, 99)))  # row: the shuffle's seed
    if kind in ("null_key", "stored_key"):
        return Mutation(kind, table, PRIMARY_KEYS[table], draw(st.integers(0, 4)))
    if kind == "reformat_dates":
        return Mutation(
            kind,
            table,
            draw(st.sampled_from(DATE_COLUMNS[table])),
            draw(st.integers(-1, 4)),
            draw(st.sampled_from(["%d/%m/%Y", "%Y/%m/%d", "%d-%b-%Y", "%Y%m%d"])),
        )
    column, row = draw(st.sampled_from(list(polars_schema(table)))), draw(st.integers(0, 4))
    if kind in ("rename_column", "extra_column"):
        return Mutation(kind, table, column, row, draw(st.sampled_from(ODD_NAMES)))
    if kind == "retype":
        return Mutation(
            kind, table, column, row, draw(st.sampled_from(ODD_VALUES[polars_schema(table)[column]] + ANY_TYPE))
        )
    return Mutation(kind, table, column, row)


def new_submission(n: int = 4) -> dict[str, dict]:
    """Referrals, their infusions and the follow-up of those, none yet in the store: a header and text rows each."""
    infusions, followup = new_episodes(n)
    infusions = infusions.with_columns(pl.col("referral_id").str.replace("RF", "RFN"))
    referrals = REFERRALS.join(infusions.select(pl.col("referral_id").str.replace("RFN", "RF")), on="referral_id")
    referrals = referrals.with_columns(pl.col("referral_id").str.replace("RF", "RFN"))
    return {
        table: {
            "header": list(frame.columns),
            "rows": [list(row) for row in frame.iter_rows()],
            "codec": "utf-8",
            "bytes": [],
        }
        for table, frame in zip(TABLES, (referrals, infusions, followup), strict=True)
    }


def _apply(table: dict, m: Mutation) -> None:
    """Damage one table in place; the byte-level damage is done when the file is written."""
    header, rows = table["header"], table["rows"]
    if m.kind in BYTE_LEVEL:
        table["bytes"].append(m)
        table["codec"] = {"latin1": "latin-1", "utf16": "utf-16"}.get(m.kind, table["codec"])
        if m.kind == "latin1" and rows and header:  # a character that Latin-1 writes differently from UTF-8
            rows[0][-1] = "Caf\u00e9"
        return
    if m.kind == "shuffle_columns":
        order = random.Random(m.row).sample(range(len(header)), len(header))
        table["header"], table["rows"] = [header[c] for c in order], [[row[c] for c in order] for row in rows]
        return
    if m.column not in header:  # dropped or renamed by an earlier mutation
        return
    c = header.index(m.column)
    if m.kind == "rename_column":
        header[c] = m.value
    elif m.kind == "drop_column":
        del header[c]
        for row in rows:
            del row[c]
    elif m.kind in ("duplicate_column", "extra_column"):
        header.append(header[c] if m.kind == "duplicate_column" else m.value)
        for row in rows:
            row.append(row[c] if m.kind == "duplicate_column" else "extra")
    elif rows and m.kind == "duplicate_row":
        rows.append(list(rows[m.row % len(rows)]))
    elif rows and m.kind == "reformat_dates":
        for row in rows if m.row < 0 else [rows[m.row % len(rows)]]:
            with contextlib.suppress(TypeError, ValueError):  # not a date: left as it is
                row[c] = dt.date.fromisoformat(row[c]).strftime(m.value)
    elif rows:
        rows[m.row % len(rows)][c] = {
            "retype": m.value,
            "null": None,
            "null_key": None,
            "stored_key": STORED_KEYS[m.table],
            "huge_cell": HUGE_CELL,
        }[m.kind]


def _file_bytes(table: dict) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [table["header"], *[["" if cell is None else cell for cell in row] for row in table["rows"]]]
    )
    data = buffer.getvalue().encode(table["codec"], errors="replace")
    for m in table["bytes"]:
        cut = int(m.at * len(data))
        if m.kind == "truncate":
            data = data[:cut]
        elif m.kind in ("invalid_utf8", "nul_byte"):
            data = data[:cut] + (b"\x00" if m.kind == "nul_byte" else b"\xc3\x28") + data[cut:]
    return data


def _keys(connection: sa.Connection, table: str) -> set:
    return set(connection.execute(sa.select(store.DATA_TABLES[table].c[PRIMARY_KEYS[table]])).scalars())


@pytest.fixture
def seeded_template(seeded_sqlite) -> Path:
    """The seeded store as one file (its WAL checkpointed), copied afresh for every example."""
    store.engine_for(seeded_sqlite).dispose()
    return Path(seeded_sqlite.removeprefix("sqlite:///"))


@settings(
    max_examples=int(os.environ.get("CARTGOV_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(damage=st.lists(mutations(), max_size=5))
# Each of these once crashed the batch or lost a row's reasons (see data_contracts/submission.py, dashboard/ingest.py).
@example(damage=[Mutation("retype", "referrals", "referral_date", 0, "0000-06-01")])
@example(damage=[Mutation("nul_byte", "infusions", at=0.5)])
@example(damage=[Mutation("extra_column", "infusions", "sex", 0, "_row")])
@example(
    damage=[Mutation("extra_column", "infusions", "sex", 0, name) for name in ("reasons", "missing_parent_only")]
    + [Mutation("retype", "infusions", "sex", 1, "lower case")]
)
@example(damage=[Mutation("huge_cell", "infusions", "centre_code", 1)])
def test_any_structured_corruption_never_crashes_and_never_loses_a_row(seeded_template, damage):
    submission = new_submission()
    for m in damage:
        _apply(submission[m.table], m)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        shutil.copyfile(seeded_template, folder / "store.db")
        files = {name: _file_bytes(table) for name, table in submission.items()}
        for name, data in files.items():
            (folder / f"{name}.csv").write_bytes(data)
        engine = store.engine_for(f"sqlite:///{folder / 'store.db'}")
        try:
            _check_structured_corruption(engine, folder, files, {m.table for m in damage})
        finally:
            engine.dispose()


def _check_structured_corruption(engine: sa.Engine, folder: Path, sent: dict[str, bytes], touched: set) -> None:
    before = counts(engine)
    with engine.connect() as connection:
        keys_before = {name: _keys(connection, name) for name in TABLES}
    report = ingest(engine, [folder], extract_date=EXTRACT)  # never raises: every outcome is in the report
    after = counts(engine)

    files = {f.table: f for f in report.files}
    assert list(files) == list(TABLES) and len(report.files) == len(TABLES)  # and nothing waited from before
    refused = [f for f in report.files if f.refused]
    assert report.exit_code == (
        2 if len(refused) == len(TABLES) else 1 if refused or any(f.quarantined for f in report.files) else 0
    )
    assert after["ingest_batches"] == before["ingest_batches"] + len(TABLES)
    assert after["data_version"] == before["data_version"] + 1
    assert after["quarantine"] == before["quarantine"] + sum(f.quarantined for f in report.files)

    with engine.connect() as connection:
        for name, file in files.items():
            assert file.accepted + file.quarantined == file.rows_read
            assert len(file.message or "") < 1000  # a message never quotes a 10 MB cell back
            q = store.quarantine
            stored = connection.execute(
                sa.select(q.c.row_number, q.c.reasons, q.c.original_values).where(
                    q.c.batch_id == report.batch_id, q.c.path == file.path
                )
            ).all()
            if file.refused:  # nothing from it is written, and the message says which file and what to fix
                assert (file.rows_read, file.accepted, stored, after[name]) == (0, 0, [], before[name])
                assert file.message and f"{name}.csv" in file.message
                continue
            # Every quarantined row is stored, each with at least one reason naming a contract column and a rule.
            assert len(stored) == file.quarantined == len({p["row"] for p in file.problems})
            assert {row for row, _, _ in stored} == {p["row"] for p in file.problems}
            sent_rows = {values.pop(ROW): values for values in file.check.text.iter_rows(named=True)}
            for row, reasons, original in stored:
                # A cell too long is held whatever its column, an extra one too; every other rule is the contract's.
                assert reasons and all(
                    r["rule"] and (r["column"] in polars_schema(name) or r["rule"].startswith("cell_too_long"))
                    for r in reasons
                )
                assert all(len(r["value"] or "") < 300 for r in reasons)
                # Each held row keeps that very row's values and reasons, never a neighbour's.
                assert original == sent_rows[row]
                assert {r["rule"] for r in reasons} == {p["rule"] for p in file.problems if p["row"] == row}
            # Every accepted row is stored; a key already there is replaced, not added.
            accepted = set(file.check.valid[PRIMARY_KEYS[name]])
            assert len(accepted) == file.accepted and accepted <= _keys(connection, name)
            assert after[name] == before[name] + len(accepted - keys_before[name])

    for name, data in sent.items():
        # An untouched file whose parents are untouched goes in whole.
        if not {name, PARENT.get(name), PARENT.get(PARENT.get(name, ""))} & touched:
            assert (files[name].refused, files[name].accepted) == (False, files[name].rows_read)
        # Bytes that are not UTF-8 text refuse the file, saying so.
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            assert files[name].refused and "not UTF-8" in files[name].message
            continue
        if "\x00" in text:
            assert files[name].refused and "NUL byte" in files[name].message


def test_a_nul_byte_is_refused_and_a_year_0_date_quarantined_on_both_back_ends(store_url, tmp_path):
    """Both once crashed the batch: PostgreSQL cannot store a NUL, and no store holds a date in year 0."""
    engine = store.engine_for(store_url)
    ingest(engine, [SAMPLE])
    infusions, _ = new_episodes(2)
    (tmp_path / "infusions.csv").write_bytes(infusions.write_csv().replace("EPN", "EPN\x00").encode())
    write(
        tmp_path,
        REFERRALS.head(2).with_columns(
            pl.col("referral_id") + "N", pl.Series("referral_date", ["0000-06-01", "2018-11-01"])
        ),
        "referrals.csv",
    )
    report = ingest(engine, [tmp_path], extract_date=EXTRACT)
    referrals, infusions = report.files
    assert (referrals.accepted, referrals.quarantined, referrals.problems[0]["rule"][:8]) == (1, 1, "iso_date")
    assert infusions.refused and "a NUL byte (0x00) on line 2" in infusions.message
    assert report.exit_code == 1


# --- Bounds: what one file may cost (README: "Ingest") ---

# A small process between the test and the command: a child started straight from this (large) test process is
# charged with this process's peak memory (vfork), and RUSAGE_CHILDREN keeps the largest of every child so far.
_MEASURED = """import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """`cartgov ARGS` in a new process, as run_cli does, and that process's peak memory (RSS) in MiB."""
    peak = tmp_path / "peak"
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(peak), sys.executable, "-m", "dashboard", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    return result, int(peak.read_text()) / 1024


def store_bytes(url: str) -> int:
    """What the store takes on disk: the SQLite file and its write-ahead log, or the PostgreSQL database."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        size = connection.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return size


def seeded_store(url: str) -> sa.Engine:
    engine = store.engine_for(url)
    ingest(engine, [SAMPLE])
    engine.dispose()  # the store measured as the command will find it
    return engine


def with_cell(frame: pl.DataFrame, row: int, column: str, value: str) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


MiB = 1024 * 1024
HUGE_RANDOM_CELL = base64.b64encode(random.Random(1).randbytes(30_000_000)).decode()  # 40 MB no store can compress


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_40_mb_cell_is_held_with_a_preview_in_bounded_memory_and_store(store_url, tmp_path, fmt):
    engine = seeded_store(store_url)
    infusions, _ = new_episodes()
    sent = with_cell(infusions, 2, "sex", HUGE_RANDOM_CELL)
    path = tmp_path / f"infusions.{fmt}"
    sent.write_csv(path) if fmt == "csv" else sent.write_parquet(path)
    before = store_bytes(store_url)

    result, peak = run_measured(
        tmp_path,
        "ingest",
        str(path),
        "--extract-date",
        "2026-09-30",
        "--format",
        "json",
        env={"CARTGOV_DATABASE_URL": store_url},
    )
    grown = store_bytes(store_url) - before
    assert result.returncode == 1, result.stderr
    (file,) = json.loads(result.stdout)["files"]
    preview = f"{HUGE_RANDOM_CELL[:200]}... (40000000 characters)"  # as every reason quotes a long value
    # One reason for the cell, its length, not also the rule its preview happens to break.
    assert (file["accepted"], file["quarantined"]) == (4, 1)
    assert [(p["row"], p["column"], p["rule"], p["value"]) for p in file["problems"]] == [
        (2, "sex", "cell_too_long (at most 1,000 characters)", preview)
    ]
    with engine.connect() as connection:
        (held,) = connection.execute(sa.select(store.quarantine)).mappings().all()
    assert held["row_number"] == 2 and held["original_values"]["sex"] == preview
    assert held["original_values"]["episode_id"] == sent["episode_id"][1]
    print(f"{fmt} on {engine.dialect.name}: peak {peak:.0f} MiB, store grew {grown / MiB:.2f} MiB")
    assert peak < 1024, f"peak memory {peak:.0f} MiB"
    assert grown < 5 * MiB, f"the store grew by {grown / MiB:.1f} MiB"


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_300000_invalid_rows_refuse_the_file_whole_in_bounded_memory_and_store(store_url, tmp_path, fmt):
    """In Parquet, 300,000 rows of wrong values in 120 KB; in CSV, 300,000 empty rows (a comma per cell) in 5 MB."""
    engine = seeded_store(store_url)
    before_counts = counts(engine)
    engine.dispose()
    infusions, _ = new_episodes(1)
    path = tmp_path / f"infusions.{fmt}"
    if fmt == "parquet":
        bad = with_cell(with_cell(infusions, 1, "age_at_infusion", "sixty"), 1, "sex", "Female")
        rows = pl.concat([bad] * 300_000).with_columns(pl.format("EPX{}", pl.int_range(pl.len())).alias("episode_id"))
        rows.write_parquet(path)
        assert path.stat().st_size < 200_000  # the attack: a small file of many bad rows
        common = "age_at_infusion breaks integer: 20,000 rows; sex breaks isin(female, male, other, not_stated)"
    else:
        path.write_text(",".join(infusions.columns) + "\n" + ("," * (infusions.width - 1) + "\n") * 300_000)
        common = "age_at_infusion breaks not_nullable: 20,000 rows; care_setting breaks not_nullable: 20,000 rows"
    before = store_bytes(store_url)

    result, peak = run_measured(
        tmp_path,
        "ingest",
        str(path),
        "--extract-date",
        "2026-09-30",
        "--format",
        "json",
        env={"CARTGOV_DATABASE_URL": store_url},
    )
    grown = store_bytes(store_url) - before
    assert result.returncode == 2, result.stderr
    (file,) = json.loads(result.stdout)["files"]
    assert (file["refused"], file["rows_read"], file["accepted"], file["quarantined"]) == (True, 0, 0, 0)
    # Checking stopped after the first 20,000 rows: enough to know the file is over the limit.
    assert file["message"].startswith(
        f"{path}: 20,000 of the first 20,000 of 300,000 rows break a rule, more than "
        "the 10,000 one file may have held in quarantine (CARTGOV_MAX_QUARANTINED_ROWS); "
        "the file is refused whole. Most common: "
    )
    assert common in file["message"]
    after = counts(engine)
    with engine.connect() as connection:
        (batch,) = (
            connection.execute(sa.select(store.ingest_batches).where(store.ingest_batches.c.path == str(path)))
            .mappings()
            .all()
        )
    assert (batch["refused"], batch["message"]) == (True, file["message"])
    assert after.pop("ingest_batches") == before_counts.pop("ingest_batches") + 1
    assert after.pop("data_version") == before_counts.pop("data_version") + 1
    assert after == before_counts  # not one row of the file, held or accepted
    print(f"{fmt} on {engine.dialect.name}: peak {peak:.0f} MiB, store grew {grown / MiB:.2f} MiB")
    assert peak < 1024, f"peak memory {peak:.0f} MiB"
    assert grown < 1 * MiB, f"the store grew by {grown / MiB:.1f} MiB"


def test_rows_under_the_row_limit_but_too_big_to_hold_refuse_the_file_whole(store_url, tmp_path):
    """5,000 bad rows (under the 10,000 rows limit), each with 5 cells of 900 characters (under the cell limit):
    22 MB of values to hold, in a Parquet file of a few KB."""
    engine = seeded_store(store_url)
    infusions, _ = new_episodes(1)
    bad = with_cell(infusions, 1, "sex", "Female").with_columns(pl.lit("n" * 900).alias(f"note{i}") for i in range(5))
    rows = pl.concat([bad] * 5000).with_columns(pl.format("EPX{}", pl.int_range(pl.len())).alias("episode_id"))
    path = tmp_path / "infusions.parquet"
    rows.write_parquet(path)
    before = store_bytes(store_url)
    report = ingest(engine, [path], extract_date=EXTRACT)
    engine.dispose()
    grown = store_bytes(store_url) - before
    (file,) = report.files
    assert (file.refused, file.rows_read, file.accepted, file.quarantined) == (True, 0, 0, 0)
    assert file.message.startswith(f"{path}: the 5,000 rows that break a rule would take 23,")
    assert (
        "bytes in quarantine (values and reasons), more than the 8,388,608 one file may have held "
        "(CARTGOV_MAX_QUARANTINED_BYTES); the file is refused whole. Most common: sex breaks "
        "isin(female, male, other, not_stated): 5,000 rows"
    ) in file.message
    assert grown < 1 * MiB, f"the store grew by {grown / MiB:.1f} MiB"


def _expanding(tmp_path: Path, case: str) -> Path:
    infusions, _ = new_episodes()
    if case == "csv":  # 11 MB on disk
        path = tmp_path / "infusions.csv"
        with_cell(infusions, 2, "sex", "A" * 11_000_000).write_csv(path)
    elif case == "parquet uncompressed":  # a few KB on disk, 50 MB once uncompressed
        path = tmp_path / "infusions.parquet"
        with_cell(infusions, 2, "sex", "A" * 50_000_000).write_parquet(path)
    else:  # one 1 KB value repeated 20,000 times: the Parquet metadata says a few KB, the text is 20 MB
        path = tmp_path / "infusions.parquet"
        rows = pl.concat([infusions] * 4000).with_columns(pl.lit("x" * 1000).alias("sex"))
        rows.write_parquet(path)
    return path


@pytest.mark.parametrize("case", ["csv", "parquet uncompressed", "parquet dictionary"])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(seeded_sqlite, tmp_path, case):
    engine = store.engine_for(seeded_sqlite)
    before = counts(engine)
    engine.dispose()
    path = _expanding(tmp_path, case)
    result, peak = run_measured(
        tmp_path,
        "ingest",
        str(path),
        "--extract-date",
        "2026-09-30",
        "--format",
        "json",
        env={"CARTGOV_DATABASE_URL": seeded_sqlite, "CARTGOV_MAX_FILE_BYTES": "10000000"},
    )
    assert result.returncode == 2, result.stderr
    (file,) = json.loads(result.stdout)["files"]
    assert file["refused"] and file["message"].startswith(f"{path}: ")
    size = {
        "csv": f"{path}: {path.stat().st_size:,} bytes, ",
        "parquet uncompressed": f" bytes once uncompressed ({path.stat().st_size:,} on disk), ",
        "parquet dictionary": f" bytes of text once read ({path.stat().st_size:,} on disk), ",
    }[case]
    assert size in file["message"]
    assert file["message"].endswith(
        "more than the 10,000,000 bytes a file may have (CARTGOV_MAX_FILE_BYTES); split the file, or raise the limit"
    )
    after = counts(engine)
    assert after.pop("ingest_batches") == before.pop("ingest_batches") + 1
    assert after.pop("data_version") == before.pop("data_version") + 1
    assert after == before
    print(f"{case}: peak {peak:.0f} MiB")
    assert peak < 400, f"peak memory {peak:.0f} MiB"


def test_the_limits_can_be_set_on_the_command_line(seeded_sqlite, tmp_path):
    path = _expanding(tmp_path, "csv")
    result = run_cli(
        "validate",
        str(path),
        "--extract-date",
        "2026-09-30",
        "--max-file-bytes",
        "10000000",
        "--database-url",
        seeded_sqlite,
    )
    assert result.returncode == 2 and "more than the 10,000,000 bytes" in result.stdout, result.stderr
    result = run_cli(
        "validate",
        str(path),
        "--extract-date",
        "2026-09-30",
        "--max-cell-chars",
        "100",
        "--max-quarantined-rows",
        "0",
        "--database-url",
        seeded_sqlite,
    )
    assert result.returncode == 2 and "1 of 5 rows break a rule, more than the 0" in result.stdout, result.stderr
    result = run_cli(
        "validate",
        str(path),
        "--extract-date",
        "2026-09-30",
        "--database-url",
        seeded_sqlite,
        env={"CARTGOV_MAX_CELL_CHARS": "many"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "cartgov: CARTGOV_MAX_CELL_CHARS must be a whole number of at least 1, not 'many'"


def test_a_long_cell_in_any_column_holds_its_row_and_a_long_column_name_refuses_the_file(seeded, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTGOV_MAX_CELL_CHARS", "40")
    infusions, _ = new_episodes()
    long_note = "é" * 41  # characters, not bytes: 82 bytes of UTF-8
    sent = with_cell(infusions.with_columns(pl.lit("short").alias("notes")), 3, "notes", long_note)
    _, file = ingest_one(seeded, write(tmp_path, sent))
    assert (file.accepted, file.quarantined, file.message) == (4, 1, "unknown column(s) ignored: notes")
    assert [(p["row"], p["column"], p["rule"], p["value"]) for p in file.problems] == [
        (3, "notes", "cell_too_long (at most 40 characters)", long_note)
    ]  # under 200 characters: quoted whole
    (tmp_path / "named").mkdir()
    _, file = ingest_one(seeded, write(tmp_path / "named", infusions.with_columns(pl.lit("x").alias("n" * 41))))
    assert file.refused
    assert file.message == (
        f"{tmp_path / 'named' / 'infusions.csv'}: a column name of 41 characters in the header, "
        "more than the 40 a cell may have (CARTGOV_MAX_CELL_CHARS)"
    )


def test_held_rows_up_to_the_limit_go_to_quarantine_and_beyond_it_the_file_is_refused(seeded, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTGOV_MAX_QUARANTINED_ROWS", "2")
    infusions, followup = new_episodes()
    broken = with_cell(with_cell(infusions, 2, "sex", "Female"), 4, "sex", "Male")
    _, file = ingest_one(seeded, write(tmp_path, broken))
    assert (file.refused, file.accepted, file.quarantined) == (False, 3, 2)

    (tmp_path / "more").mkdir()
    more = with_cell(with_cell(with_cell(infusions, 1, "sex", "Female"), 2, "age_at_infusion", "200"), 3, "sex", "x")
    more = more.with_columns(pl.col("episode_id") + "M")
    write(tmp_path / "more", more)
    valid_rows = more["episode_id"].tail(2).implode()  # rows 4 and 5 break no rule
    write(
        tmp_path / "more",
        followup.with_columns(pl.col("episode_id") + "M").filter(pl.col("episode_id").is_in(valid_rows)),
        "followup.csv",
    )
    before = counts(seeded)
    report = ingest(seeded, [tmp_path / "more"], extract_date=EXTRACT)
    refused, followup_file = report.files
    assert (refused.refused, refused.rows_read, refused.accepted, refused.quarantined) == (True, 0, 0, 0)
    assert refused.message == (
        f"{tmp_path / 'more' / 'infusions.csv'}: 3 of 5 rows break a rule, more than the 2 one file may have held in "
        "quarantine (CARTGOV_MAX_QUARANTINED_ROWS); the file is refused whole. Most common: sex breaks "
        "isin(female, male, other, not_stated): 2 rows; age_at_infusion breaks in_range(0, 110): 1 row"
    )
    # The refused file's two valid rows are not parents: nothing of it is in the store, so their follow-up waits.
    assert (followup_file.refused, followup_file.accepted, followup_file.quarantined) == (False, 0, 2)
    assert {p["rule"] for p in followup_file.problems} == {"missing parent (infusions.episode_id)"}
    assert counts(seeded)["infusions"] == before["infusions"]


# --- The extract date: from the manifest or --extract-date, never today ---


def test_a_submission_without_an_extract_date_is_refused_and_writes_nothing(seeded_sqlite, tmp_path):
    infusions, _ = new_episodes()
    write(tmp_path, infusions)
    engine = store.engine_for(seeded_sqlite)
    before = counts(engine)
    result = run_cli("ingest", str(tmp_path), "--database-url", seeded_sqlite)
    assert result.returncode == 2, result.stdout
    assert result.stderr.strip() == (
        f'cartgov: {tmp_path}: no extract date; put extract_date = "YYYY-MM-DD" in the '
        "folder's manifest.toml or pass --extract-date"
    )
    for check in (ingest, validate):  # a folder, or a file named on its own: the same
        for path in (tmp_path, tmp_path / "infusions.csv"):
            with pytest.raises(UsageError, match=rf"^{re.escape(str(path))}: no extract date; "):
                check(engine, [path])
    assert counts(engine) == before
    result = run_cli("ingest", str(tmp_path), "--extract-date", "2026-09-30", "--database-url", seeded_sqlite)
    assert result.returncode == 0, result.stderr


def test_manifests_that_disagree_or_cannot_be_read_are_usage_errors(seeded, tmp_path):
    infusions, _ = new_episodes()
    for name, manifest in (
        ("a", 'extract_date = "2026-09-30"\n'),
        ("b", 'extract_date = "2026-06-30"\n'),
        ("c", "extract_date = 2026-09-31\n"),
        ("d", 'extract_date = "30/09/2026"\n'),
    ):
        (tmp_path / name).mkdir()
        write(tmp_path / name, infusions)
        (tmp_path / name / "manifest.toml").write_text(manifest)
    with pytest.raises(
        UsageError,
        match=r"manifests disagree on the extract date: .*a/manifest.toml says 2026-09-30, "
        r".*b/manifest.toml says 2026-06-30; pass --extract-date",
    ):
        validate(seeded, [tmp_path / "a", tmp_path / "b"])
    assert validate(seeded, [tmp_path / "a", tmp_path / "b"], extract_date=EXTRACT).exit_code == 0
    for name in "cd":
        with pytest.raises(UsageError, match=rf"{name}/manifest.toml: "):
            ingest(seeded, [tmp_path / name])


def test_a_batch_is_synthetic_only_when_every_folder_says_so(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "centres.csv").write_bytes((SAMPLE / "centres.csv").read_bytes())
    engine = store.engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    ingest(engine, [real, SAMPLE], extract_date=EXTRACT)
    with engine.connect() as connection:
        assert store.read_dataset(connection)["synthetic"] is False


# --- Crash safety ---


def _writing(url: str) -> bool:
    """True once the ingest has started writing rows (its transaction is open)."""
    if url.startswith("sqlite"):
        wal = Path(url.removeprefix("sqlite:///") + "-wal")
        return wal.exists() and wal.stat().st_size > 1_000_000
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        busy = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query ILIKE 'INSERT INTO%'"
            )
        ).scalar_one()
    engine.dispose()
    return busy > 0


def test_a_killed_ingest_leaves_the_store_as_before_and_a_rerun_completes(store_url, tmp_path):
    engine = store.engine_for(store_url)
    ingest(engine, [SAMPLE])
    before = counts(engine)
    submission = tmp_path / "big"
    synthetic.generate(submission, 20_000, seed=11)
    env = {**os.environ, "CARTGOV_DATABASE_URL": store_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "ingest", str(submission)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not _writing(store_url):
        assert process.poll() is None, "the ingest ended before it could be killed mid-batch"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    store.engine_for(store_url).dispose()
    assert counts(engine) == before

    result = run_cli("ingest", str(submission), "--format", "json", env={"CARTGOV_DATABASE_URL": store_url})
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert sum(f["accepted"] for f in files if f["table"] == "infusions") == 20_000
    assert counts(engine)["data_version"] == before["data_version"] + 1
