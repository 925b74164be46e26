"""Validate submission files and load them: valid rows committed in one transaction, every other row quarantined.

Every row read is accounted for: for each file, accepted + quarantined = rows_read. `validate` runs the same
checks and writes nothing. Both need the submission's extract date, and both apply the same limits to each file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from dashboard import quarantine, store
from data_contracts import BUNDLED_REFERENCE, CONTRACTS, manifest, polars_schema, reference_path
from data_contracts.manifest import MANIFEST, ManifestError
from data_contracts.submission import (
    LIMIT_VARIABLES,
    PARENT_COLUMNS,
    ROW,
    Limits,
    Parents,
    RefusedFile,
    TableCheck,
    check_file,
    table_name,
)

# What later tables need of earlier ones, read from the store before a batch: what the contracts' rules read, and
# the centre of each infusion (a follow-up row belongs to it).
STORED_PARENTS = {
    table: columns + (["centre_code"] if table == "infusions" else []) for table, columns in PARENT_COLUMNS.items()
}
# The column that says which centre a row belongs to (follow-up: through its infusion).
CENTRE_COLUMN = {"centres": "centre_code", "referrals": "allocated_centre", "infusions": "centre_code"}
TABLE_ORDER = list(CONTRACTS)


@dataclass
class FileReport:
    path: str
    table: str | None
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    refused: bool = False
    message: str | None = None
    problems: list[dict] = field(default_factory=list)
    sha256: str | None = None
    check: TableCheck | None = None
    centres: dict[str, int] | None = None

    def as_json(self) -> dict:
        return {
            "path": self.path,
            "table": self.table,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "refused": self.refused,
            "message": self.message,
            "problems": self.problems,
        }


@dataclass
class BatchReport:
    batch_id: str | None
    data_version: int
    files: list[FileReport]

    @property
    def exit_code(self) -> int:
        """0 all accepted, 1 some rows quarantined or some files refused, 2 nothing could be read."""
        if not self.files or all(f.refused for f in self.files):
            return 2
        return 0 if all(f.quarantined == 0 and not f.refused for f in self.files) else 1

    def as_json(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "data_version": self.data_version,
            "files": [f.as_json() for f in self.files],
        }


class UsageError(Exception):
    """Bad arguments: nothing to read."""


def limits_from_environment(**given: int | None) -> Limits:
    """The limits of each file: those given (CLI options), else the environment's, else the defaults."""
    values = {}
    for name, variable in LIMIT_VARIABLES.items():
        value = given.get(name)
        if value is None:
            value = _whole_number(variable, 0 if name.startswith("max_quarantined") else 1)
        if value is not None:
            values[name] = value
    return Limits(**values)


def _whole_number(variable: str, minimum: int) -> int | None:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return None
    if not raw.isdecimal() or int(raw) < minimum:
        raise UsageError(f"{variable} must be a whole number of at least {minimum}, not {raw!r}")
    return int(raw)


@dataclass
class Submission:
    files: list[Path]  # parents first
    extract_date: dt.date
    synthetic: bool


def read_submission(paths: list[Path], extract_date: dt.date | None) -> Submission:
    """Table files named on the command line or found in folders, parents first, and the extract date: the one given,
    else that of every folder's manifest.toml. Without one the submission is refused: a default (today, as it once
    was) would move every default period and follow-up due date without a word."""
    files, dates, synthetic = [], {}, True
    for path in paths:
        if path.is_dir():
            said = _manifest(path)
            if "extract_date" in said:
                dates[path / MANIFEST] = said["extract_date"]
            elif extract_date is None:
                raise UsageError(_no_extract_date(path))
            synthetic = synthetic and said.get("synthetic") is True
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
        elif path.exists():
            if extract_date is None:
                raise UsageError(_no_extract_date(path))
            files.append(path)
            synthetic = False  # a file named on its own has no manifest to say so
        else:
            raise UsageError(f"{path}: no such file or folder")
    if not files:
        raise UsageError("no .csv or .parquet files found in " + ", ".join(map(str, paths)))
    if extract_date is None:
        if len(set(dates.values())) > 1:
            each = ", ".join(f"{manifest} says {date}" for manifest, date in dates.items())
            raise UsageError(f"the manifests disagree on the extract date: {each}; pass --extract-date")
        extract_date = next(iter(dates.values()))
    order = {t: i for i, t in enumerate(TABLE_ORDER)}
    files = sorted(files, key=lambda p: (order.get(table_name(p) or "", len(order)), str(p)))
    return Submission(files, extract_date, synthetic)


def _no_extract_date(path: Path) -> str:
    return (
        f'{path}: no extract date; put extract_date = "YYYY-MM-DD" in the folder\'s {MANIFEST} or pass --extract-date'
    )


def _manifest(folder: Path) -> dict:
    """A folder's manifest; one that cannot be read is a usage error, told in one line."""
    try:
        return manifest.read(folder)
    except ManifestError as error:
        raise UsageError(str(error)) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stored_parents(connection: sa.Connection, extract_date: dt.date) -> Parents:
    parents = Parents(extract_date)
    for table, columns in STORED_PARENTS.items():
        source = store.DATA_TABLES[table]
        rows = connection.execute(sa.select(*[source.c[c] for c in columns])).fetchall()
        schema = {c: polars_schema(table)[c] for c in columns}
        parents.frames[table] = pl.DataFrame(rows, schema=schema, orient="row")
    for table in BUNDLED_REFERENCE:
        if parents.frames[table].height == 0:
            bundled = pl.read_csv(reference_path(table), schema_overrides=polars_schema(table))
            parents.frames[table] = bundled
    return parents


def check_batch(
    connection: sa.Connection, files: list[Path], extract_date: dt.date, limits: Limits
) -> tuple[Parents, list[FileReport]]:
    """Check every file against the contracts and against what the store and the batch already hold."""
    parents = _stored_parents(connection, extract_date)
    reports = []
    for path in files:
        report = FileReport(str(path), table_name(path), sha256=_sha256(path))
        try:
            check = check_file(path, parents, limits=limits)
        except RefusedFile as refusal:
            report.refused, report.message = True, str(refusal)
            reports.append(report)
            continue
        report.rows_read, report.accepted, report.quarantined = check.rows_read, check.accepted, check.quarantined
        report.problems = check.problems.to_dicts()
        if check.ignored_columns:
            # Named up to ten: the message is stored, and a header of thousands of names would be stored whole.
            names = check.ignored_columns
            report.message = f"unknown column(s) ignored: {', '.join(names[:10])}" + (
                f" and {len(names) - 10:,} more" if len(names) > 10 else ""
            )
        report.check = check
        reports.append(report)
    return parents, reports


def _already_ingested(connection: sa.Connection, report: FileReport) -> sa.RowMapping | None:
    batches = store.ingest_batches
    return (
        connection.execute(
            sa.select(batches)
            .where(batches.c.sha256 == report.sha256, batches.c.table_name == report.table, ~batches.c.refused)
            .order_by(batches.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )


def _row_centres(check: TableCheck, parents: Parents) -> pl.Series:
    """The centre of every row read (null where unknown), as the file has it."""
    if check.table == "followup":
        centres = parents.keys("infusions", "centre_code")
        episodes = parents.keys("infusions", "episode_id")
        lookup = pl.DataFrame({"episode_id": episodes, "centre_code": centres}).unique("episode_id")
        # In the file's row order: every quarantined row is paired with its centre by position.
        return check.text.select("episode_id").join(lookup, on="episode_id", how="left", maintain_order="left")[
            "centre_code"
        ]
    column = CENTRE_COLUMN.get(check.table)
    return check.text[column] if column else pl.Series("centre_code", [None] * check.rows_read, dtype=pl.Utf8)


def _centre_counts(check: TableCheck, parents: Parents) -> dict[str, int]:
    return dict(_row_centres(check, parents).drop_nulls().value_counts().iter_rows())


def _ensure_reference(connection: sa.Connection) -> bool:
    """A new store gets the national products and TAs bundled with the contracts."""
    wrote = False
    for table in BUNDLED_REFERENCE:
        if connection.execute(sa.select(sa.func.count()).select_from(store.DATA_TABLES[table])).scalar_one() == 0:
            frame = pl.read_csv(reference_path(table), schema_overrides=polars_schema(table))
            store.upsert(connection, table, frame)
            wrote = True
    return wrote


def ingest(
    engine: sa.Engine, paths: list[Path], extract_date: dt.date | None = None, limits: Limits | None = None
) -> BatchReport:
    """Check and load a batch in one transaction: all of its effects land, or none. The extract date is the one
    given, else the manifests'; the limits those given, else the environment's (limits_from_environment)."""
    submission = read_submission(paths, extract_date)
    extract_date, synthetic = submission.extract_date, submission.synthetic
    limits = limits or limits_from_environment()
    batch_id = uuid.uuid4().hex
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        parents, reports = check_batch(connection, submission.files, extract_date, limits)
        changed = _ensure_reference(connection)
        fresh = []
        for report in reports:
            previous = None if report.refused else _already_ingested(connection, report)
            if previous is not None:
                report.message = f"already ingested in batch {previous['batch_id']}; nothing changed"
                continue
            fresh.append(report)
            if report.refused:
                continue
            check = report.check
            assert check is not None, f"{report.path}: check_batch checks every file it does not refuse"
            store.upsert(connection, check.table, check.valid.drop(ROW))  # the same table as the report's, never None
            quarantine.release_resubmitted(connection, check, now)
            report.centres = _centre_counts(check, parents)
            centres = _row_centres(check, parents)
            quarantine.hold(connection, check, report.path, batch_id, now, centres)
        # Only a retry that released rows is news; rows still waiting are not reported again.
        retried = [
            FileReport(
                check.path,
                check.table,
                check.rows_read,
                check.accepted,
                check.quarantined,
                message="rows waiting for their parent, checked again",
                problems=check.problems.to_dicts(),
            )
            for check in quarantine.retry_missing_parents(connection, parents, batch_id, now)
            if check.accepted
        ]
        reports += retried
        fresh += retried
        # Anything new (rows, quarantined rows, even a refusal) is a new data version; the same files again are not.
        changed = changed or bool(fresh)
        version = (
            store.bump_version(connection, extract_date, synthetic)
            if changed
            else store.read_dataset(connection)["data_version"]
        )
        if fresh:
            connection.execute(
                sa.insert(store.ingest_batches),
                [
                    {
                        "batch_id": batch_id,
                        "path": r.path,
                        "table_name": r.table,
                        "sha256": r.sha256,
                        "rows_read": r.rows_read,
                        "accepted": r.accepted,
                        "quarantined": r.quarantined,
                        "refused": r.refused,
                        "message": r.message,
                        "extract_date": extract_date,
                        "data_version": version,
                        "ingested_at": now,
                        "centres": r.centres,
                    }
                    for r in fresh
                ],
            )
    return BatchReport(batch_id if fresh else None, version, reports)


def validate(
    engine: sa.Engine, paths: list[Path], extract_date: dt.date | None = None, limits: Limits | None = None
) -> BatchReport:
    """The same checks as ingest, against what the store holds; nothing is written. It needs the extract date too:
    dates after it break a rule."""
    submission = read_submission(paths, extract_date)
    with engine.connect() as connection:
        _, reports = check_batch(
            connection, submission.files, submission.extract_date, limits or limits_from_environment()
        )
        version = store.read_dataset(connection)["data_version"]
    return BatchReport(None, version, reports)
