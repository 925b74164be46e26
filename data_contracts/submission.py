"""Read a submission file as text, cast it to its contract's types and check every rule, row by row.

Nothing here writes anywhere: the result says, for every row read, whether it passes and if not why
(row, column, rule, value), so that ingest can commit or quarantine it and validate can report it. A file is bounded
(Limits): too big a file, or too many bad rows, refuses it whole; too long a cell holds its row with a preview.
"""

from __future__ import annotations

import codecs
import datetime as dt
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandera.polars as pa
import polars as pl

from data_contracts.tables import CONTRACTS, PRIMARY_KEYS, RULE_COLUMNS, polars_schema, required_columns

ROW = "_row"  # 1-based data row of the file; the header is row 0
PROBLEM_SCHEMA = {"row": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "value": pl.Utf8}
ISO_DATE_HINT = "dates must be ISO 8601, e.g. 2025-03-14"
_DAY_FIRST = re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}$")
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


class RefusedFile(Exception):
    """A file that cannot be read as a table at all; its message says what to fix."""


@dataclass(frozen=True)
class Limits:
    """What one file may cost: beyond these it is refused whole, or a too-long cell's row is held (README: Ingest)."""

    # A real national extract is well under 1 MB and the 100,000-infusion registry tier's biggest file 11 MB. Memory
    # follows the cells, not the bytes: 64 MiB of nothing but empty cells takes about 1.7 GB to read and refuse.
    max_file_bytes: int = 64 * 1024 * 1024
    max_cell_chars: int = 1000  # the longest cell of a valid submission, a TA's indication, is about 120
    max_quarantined_rows: int = 10_000
    # What those rows' values and reasons may take in the quarantine: 10,000 rows of 20 cells of 1,000 characters
    # would otherwise be 200 MB from one file. A held row of real data takes well under 1 KB.
    max_quarantined_bytes: int = 8 * 1024 * 1024


DEFAULT_LIMITS = Limits()
# Each limit's environment variable, named in the messages so that whoever reads one knows what sets it.
LIMIT_VARIABLES = {
    "max_file_bytes": "CARTGOV_MAX_FILE_BYTES",
    "max_cell_chars": "CARTGOV_MAX_CELL_CHARS",
    "max_quarantined_rows": "CARTGOV_MAX_QUARANTINED_ROWS",
    "max_quarantined_bytes": "CARTGOV_MAX_QUARANTINED_BYTES",
}


@dataclass
class TableCheck:
    """The outcome of checking one file: every row read is either valid or has problems."""

    table: str
    path: str
    text: pl.DataFrame  # the rows as read, all text, with ROW
    valid: pl.DataFrame  # typed rows that pass every rule, with ROW
    problems: pl.DataFrame  # one row per broken rule: row, column, rule, value
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.text.height

    @property
    def accepted(self) -> int:
        return self.valid.height

    @property
    def quarantined(self) -> int:
        return self.rows_read - self.accepted


def table_name(path: Path) -> str | None:
    """The table a file belongs to, from its name (`infusions.csv` -> `infusions`)."""
    name = path.name.lower().split(".")[0]
    return name if name in CONTRACTS else None


def empty_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEM_SCHEMA)


def read_text(path: Path, limits: Limits = DEFAULT_LIMITS) -> pl.DataFrame:
    """Read a CSV or Parquet file as text columns, or refuse it with a message that says what to fix."""
    return read_file(path, limits)[0]


def read_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A CSV or Parquet file as text columns with ROW, and a problem for every cell longer than the limit (the cell
    itself cut to a preview); or RefusedFile, with what to fix. Size is checked before the rows are read."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise RefusedFile(f"{path}: only .csv and .parquet files can be read")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise RefusedFile(f"{path}: {size:,} bytes, {_too_big(limits)}")
    frame = _read_parquet_text(path, size, limits) if suffix == ".parquet" else _read_csv_text(path)
    if ROW in frame.columns:
        # The reader numbers the rows in a column of that name; a file's own column would clash with it.
        raise RefusedFile(f"{path}: a column is named {ROW}, a name kept for row numbers; rename or remove it")
    long_name = next((name for name in frame.columns if len(name) > limits.max_cell_chars), None)
    if long_name is not None:
        raise RefusedFile(
            f"{path}: a column name of {len(long_name):,} characters in the header, more than the "
            f"{limits.max_cell_chars:,} a cell may have ({LIMIT_VARIABLES['max_cell_chars']})"
        )
    frame, long_cells = _cut_long_cells(frame, limits.max_cell_chars)
    if suffix == ".parquet":
        _refuse_nul_bytes(path, frame)  # after the cut: a preview is what gets stored
    for name in frame.columns:  # one column at a time: a whole copy of a big file at once doubled its memory
        frame = frame.with_columns(pl.col(name).str.strip_chars().replace("", None))
    return frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64)), long_cells


def _too_big(limits: Limits) -> str:
    return (
        f"more than the {limits.max_file_bytes:,} bytes a file may have ({LIMIT_VARIABLES['max_file_bytes']}); "
        "split the file, or raise the limit"
    )


def cell_too_long(limit: int) -> str:
    return f"cell_too_long (at most {limit:,} characters)"


def _cut_long_cells(frame: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every cell longer than the limit becomes its preview, with a problem saying so: nothing after this (rules,
    reasons, the quarantine's copy of the row) ever holds more of it than the preview."""
    problems = [empty_problems()]
    # Bytes first: known without reading the text, and never fewer than the characters.
    longest = frame.select(pl.all().str.len_bytes().max()).row(0, named=True) if frame.height else {}
    for name in [name for name, length in longest.items() if length is not None and length > limit]:
        rows = (frame[name].str.len_chars() > limit).arg_true()
        # The few long cells are cut in Python: Polars 2.1 panicked now and then ("i < self.len()") cutting a 10 MB
        # cell with a when/then expression.
        previews = pl.Series(name, [_quote(value) for value in frame[name].gather(rows)], dtype=pl.Utf8)
        problems.append(
            pl.DataFrame(
                {"row": rows.cast(pl.Int64) + 1, "column": name, "rule": cell_too_long(limit), "value": previews},
                schema=PROBLEM_SCHEMA,
            )
        )
        frame = frame.with_columns(frame[name].scatter(rows, previews))
    return frame, pl.concat(problems)


def _read_parquet_text(path: Path, on_disk: int, limits: Limits) -> pl.DataFrame:
    """A Parquet file as text, refused before its rows are read when they would expand beyond the size limit."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
        schema = pl.read_parquet_schema(path)
    except Exception as error:  # noqa: BLE001 - any unreadable Parquet is refused, with the reason
        raise RefusedFile(f"{path}: not a readable Parquet file ({error.__class__.__name__})") from None
    # A few KB on disk can hold hundreds of MB: compressed pages, and rows of nothing but separators.
    uncompressed = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if uncompressed > limits.max_file_bytes:
        raise RefusedFile(f"{path}: {uncompressed:,} bytes once uncompressed ({on_disk:,} on disk), {_too_big(limits)}")
    cells = metadata.num_rows * len(schema)
    if cells > limits.max_file_bytes:
        raise RefusedFile(
            f"{path}: {metadata.num_rows:,} rows of {len(schema)} columns, at least {cells:,} bytes as "
            f"text ({on_disk:,} on disk), {_too_big(limits)}"
        )
    _check_parquet_types(path, schema)
    try:
        frame = pl.read_parquet(path)
    except Exception as error:  # noqa: BLE001 - any unreadable Parquet is refused, with the reason
        raise RefusedFile(f"{path}: not a readable Parquet file ({error.__class__.__name__})") from None
    # A value stored once in a dictionary and repeated on every row is small on disk and in the metadata, and is
    # read cheaply (every row points at the one copy), but becomes a copy per row as soon as it is cast or stripped.
    text = _text_bytes(frame)
    if text > limits.max_file_bytes:
        raise RefusedFile(f"{path}: {text:,} bytes of text once read ({on_disk:,} on disk), {_too_big(limits)}")
    for name in frame.columns:  # one at a time: the copies of a big file at once doubled its memory
        try:
            frame = frame.with_columns(pl.col(name).cast(pl.Utf8))
        except pl.exceptions.PolarsError:  # bytes that are not UTF-8
            raise RefusedFile(f"{path}: column {name} holds bytes that are not UTF-8 text; send text") from None
    return frame


def _text_bytes(frame: pl.DataFrame) -> int:
    """About as many bytes as the frame's cells take as text: a separator per cell, and every text value."""
    lengths = {
        pl.Utf8: lambda c: c.str.len_bytes(),
        pl.Binary: lambda c: c.bin.size(),
        pl.Categorical: lambda c: c.cat.len_bytes(),
        pl.Enum: lambda c: c.cat.len_bytes(),
    }
    total = frame.height * frame.width
    for name, dtype in frame.schema.items():
        length = lengths.get(dtype.base_type())
        if length is not None:
            total += frame.select(length(pl.col(name)).cast(pl.UInt64).sum()).item() or 0
    return total


def _check_parquet_types(path: Path, schema: Mapping[str, pl.DataType]) -> None:
    """A Parquet column whose type cannot hold the contract's values refuses the file (text is always allowed), and
    so does any column that cannot be read as text (a list, say: it crashed the batch when cast)."""
    for name, dtype in schema.items():
        if not (
            dtype.is_numeric()
            or (dtype.is_temporal() and dtype.base_type() != pl.Duration)
            or dtype.base_type() in (pl.Utf8, pl.Binary, pl.Categorical, pl.Enum, pl.Boolean, pl.Null)
        ):
            raise RefusedFile(
                f"{path}: column {name} is {dtype} in the Parquet file, which cannot be read as text; "
                "send text, numbers, dates or true/false"
            )
    table = table_name(path)
    if table is None:
        return
    for name, dtype in polars_schema(table).items():
        actual = schema.get(name)
        if actual is None or actual in (pl.Utf8, pl.Null) or actual == dtype:
            continue
        if dtype == pl.Int64 and actual.is_integer():
            continue
        raise RefusedFile(
            f"{path}: column {name} is {actual} in the Parquet file; the contract needs {_TYPE_NAMES[dtype]}"
        )


def _refuse_nul_bytes(path: Path, frame: pl.DataFrame) -> None:
    """A Parquet text cell with a NUL byte refuses the file: PostgreSQL cannot store it (see _read_csv_text)."""
    hint = "no text column can hold one; remove it"
    if any("\x00" in name for name in frame.columns):
        raise RefusedFile(f"{path}: a NUL byte (0x00) in the header; {hint}")
    for name in frame.columns:
        rows = frame[name].str.contains("\x00", literal=True).arg_true()
        if rows.len():
            raise RefusedFile(f"{path}: a NUL byte (0x00) in column {name}, row {rows[0] + 1}; {hint}")


_TYPE_NAMES: dict[pl.DataType | type[pl.DataType], str] = {
    pl.Int64: "whole numbers",
    pl.Date: "dates",
    pl.Boolean: "true/false",
    pl.Utf8: "text",
}
_BLOCK = 1 << 20


def _read_csv_text(path: Path) -> pl.DataFrame:
    _check_csv_bytes(path)
    with path.open("rb") as handle:  # the first line, to name a wrong delimiter; a megabyte of it is plenty
        lines = handle.read(_BLOCK).decode("utf-8-sig", errors="ignore").splitlines()
    header = lines[0] if lines else ""
    if "," not in header and any(sep in header for sep in (";", "\t", "|")):
        sep = next(s for s in (";", "\t", "|") if s in header)
        raise RefusedFile(f"{path}: columns are separated by {sep!r}; use commas (,) as the delimiter")
    try:
        return pl.read_csv(path, infer_schema=False)
    except Exception as error:  # noqa: BLE001 - a malformed CSV is refused with polars' reason
        first_line = str(error).strip().splitlines()[0][:200]
        raise RefusedFile(f"{path}: not a well-formed CSV file ({first_line})") from None


def _check_csv_bytes(path: Path) -> None:
    """Refuse an empty file, one that is not UTF-8, or one with a NUL byte; read a block at a time, never whole."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines, nul_line, blank = 0, None, True  # newlines before the block being read
    with path.open("rb") as handle:
        for number, block in enumerate(itertools.chain(iter(lambda: handle.read(_BLOCK), b""), [b""])):
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                # The decoder reads what it held back from the last block (part of a character) before this one.
                held = len(error.object) - len(block)
                line = newlines + error.object[held : max(error.start, held)].count(b"\n") + 1
                raise RefusedFile(
                    f"{path}: not UTF-8 (byte 0x{error.object[error.start]:02x} on line {line}); save the file as UTF-8"
                ) from None
            # A NUL byte is not text: it means a UTF-16 (without BOM) or binary file, and PostgreSQL cannot store
            # it, so a NUL in a cell that passed every rule (an id, say) crashed the whole batch there. Reported
            # after the encoding, as before; checked before polars, whose messages may quote the line, NUL and all.
            if nul_line is None and b"\x00" in block:
                nul_line = newlines + block[: block.index(b"\x00")].count(b"\n") + 1
            blank = blank and not (block.removeprefix(codecs.BOM_UTF8) if number == 0 else block).strip()
            newlines += block.count(b"\n")
    if blank:
        raise RefusedFile(f"{path}: the file is empty; send a header row and at least one data row")
    if nul_line is not None:
        raise RefusedFile(f"{path}: a NUL byte (0x00) on line {nul_line}; not text (UTF-16?); save the file as UTF-8")


def check_columns(table: str, text: pl.DataFrame, path: Path) -> list[str]:
    """Refuse a file without a required column; return the unknown extra columns, which are ignored."""
    present = [c for c in text.columns if c != ROW]
    missing = [c for c in required_columns(table) if c not in present]
    if missing:
        raise RefusedFile(f"{path}: required column(s) missing: {', '.join(missing)}")
    return [c for c in present if c not in required_columns(table)]


def refuse_day_first_dates(table: str, text: pl.DataFrame, path: Path) -> None:
    """A date column whose every date is day-first (14/03/2025) refuses the file: one format to fix, not every row."""
    for name, dtype in polars_schema(table).items():
        if dtype != pl.Date:
            continue
        dates = text.select(ROW, name, _cast(pl.col(name), dtype).alias("date")).filter(pl.col(name).is_not_null())
        if dates.height and dates["date"].null_count() == dates.height and _DAY_FIRST.match(dates[name][0]):
            raise RefusedFile(f"{path}: {ISO_DATE_HINT}; column {name}, row {dates[ROW][0]} has {dates[name][0]}")


def cast_to_contract(table: str, text: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast text columns to the contract's types; every cell that cannot be cast becomes a problem."""
    casts = {name: _cast(pl.col(name), dtype).alias(name) for name, dtype in polars_schema(table).items()}
    typed = text.select(ROW, *casts.values())
    problems = []
    for name, dtype in polars_schema(table).items():
        failed = text.filter(pl.col(name).is_not_null() & typed[name].is_null())
        if failed.height == 0:
            continue
        problems.append(
            failed.select(
                pl.col(ROW).alias("row"),
                pl.lit(name).alias("column"),
                pl.lit(_type_rule(dtype)).alias("rule"),
                pl.col(name).alias("value"),
            )
        )
    return typed, pl.concat([empty_problems(), *problems])


def _cast(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Date:
        # Polars reads years such as 0000 or -0001, which neither Python nor the store can hold (the batch crashed
        # when such a row was written): only dates from 0001-01-01 to 9999-12-31 are dates.
        date = column.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        return pl.when(date.is_between(dt.date(1, 1, 1), dt.date(9999, 12, 31))).then(date)
    if dtype == pl.Boolean:
        lowered = column.str.to_lowercase()
        return pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False)
    if dtype == pl.Int64:
        # "3.0" from a spreadsheet is 3; "3.5" is not an integer.
        as_float = column.cast(pl.Float64, strict=False)
        return pl.when(as_float == as_float.round()).then(as_float).cast(pl.Int64, strict=False)
    return column.cast(dtype, strict=False)


def _type_rule(dtype: pl.DataType) -> str:
    if dtype == pl.Date:
        return f"iso_date ({ISO_DATE_HINT})"
    if dtype == pl.Boolean:
        return "boolean (true or false)"
    if dtype == pl.Int64:
        return "integer"
    return f"type {dtype}"


def check_rules(table: str, typed: pl.DataFrame) -> pl.DataFrame:
    """Every single-table rule of the contract, as problems (row, column, rule, value)."""
    try:
        CONTRACTS[table].validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.filter(pl.col("index").is_not_null())
        rows = typed[ROW]
        return cases.select(
            pl.col("index").map_batches(lambda i: rows.gather(i), return_dtype=pl.Int64).alias("row"),
            pl.when(pl.col("schema_context") == "DataFrameSchema")
            .then(pl.col("check").replace_strict(RULE_COLUMNS, default=pl.col("column")))
            .otherwise(pl.col("column"))
            .alias("column"),
            # isin(('a', 'b')) reads as isin(a, b); str_matches('^x$') as str_matches(^x$).
            pl.col("check").str.replace_all(r"\(\((.*)\)\)$", "($1)").str.replace_all(r"'", "").alias("rule"),
            pl.col("failure_case").alias("value"),
        ).with_columns(
            # A row rule's failure case is the whole row; show the value of the column it points at.
            pl.when(pl.col("value").str.starts_with("{"))
            .then(pl.col("value").str.json_path_match(pl.format("$.{}", pl.col("column"))))
            .otherwise(pl.col("value"))
            .alias("value")
        )
    return empty_problems()


@dataclass
class Parents:
    """Keys the rows of a batch may refer to: what the store holds plus what this batch has accepted."""

    extract_date: dt.date
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)

    def keys(self, table: str, column: str) -> pl.Series:
        frame = self.frames.get(table)
        if frame is None or frame.height == 0:
            return pl.Series(column, [], dtype=pl.Utf8)
        return frame[column]

    def add(self, table: str, valid: pl.DataFrame) -> None:
        """Accepted rows become parents for the tables after them."""
        kept = valid.drop(ROW, strict=False)
        current = self.frames.get(table)
        if current is None or current.height == 0:
            self.frames[table] = kept
        else:
            key = PRIMARY_KEYS[table]
            self.frames[table] = pl.concat(
                [current.filter(~pl.col(key).is_in(kept[key].implode())), kept.select(current.columns)],
                how="vertical_relaxed",
            )


# (table, column) -> (parent table, parent column, rule). A missing pathway parent may still arrive.
REFERENCES = {
    "nice_ta": [
        ("product_code", "products", "product_code", "references(products.product_code)"),
        ("superseded_by", "nice_ta", "ta_code", "references(nice_ta.ta_code)"),
    ],
    "referrals": [
        ("ta_code", "nice_ta", "ta_code", "references(nice_ta.ta_code)"),
        ("allocated_centre", "centres", "centre_code", "references(centres.centre_code)"),
    ],
    "infusions": [
        ("centre_code", "centres", "centre_code", "references(centres.centre_code)"),
        ("product_code", "products", "product_code", "references(products.product_code)"),
        ("ta_code", "nice_ta", "ta_code", "references(nice_ta.ta_code)"),
        ("referral_id", "referrals", "referral_id", "missing parent (referrals.referral_id)"),
    ],
    "followup": [("episode_id", "infusions", "episode_id", "missing parent (infusions.episode_id)")],
}
MISSING_PARENT = "missing parent"


def _parent_columns() -> dict[str, list[str]]:
    """What the rules read of each parent table: the keys REFERENCES names, and the referral date (an infusion is
    not before its referral)."""
    read: dict[str, list[str]] = {}
    for table in CONTRACTS:
        for _, parent, parent_column, _ in REFERENCES.get(table, []):
            read.setdefault(parent, [])
            if parent_column not in read[parent]:
                read[parent].append(parent_column)
    read["referrals"].append("referral_date")
    return {table: read[table] for table in CONTRACTS if table in read}


PARENT_COLUMNS = _parent_columns()
NOT_AFTER_EXTRACT = {"referrals": ["referral_date", "review_date"], "infusions": ["infusion_date"]}


def check_references(
    table: str, typed: pl.DataFrame, parents: Parents, own: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Cross-table rules: codes that exist, dates not after the extract, infusion not before its referral. A table
    referring to itself (a TA superseded by another) may name any key of `own`, the whole file (default: `typed`)."""
    problems = [empty_problems()]

    def report(mask: pl.Expr, column: str, rule: str) -> None:
        problems.append(
            typed.filter(mask).select(
                pl.col(ROW).alias("row"),
                pl.lit(column).alias("column"),
                pl.lit(rule).alias("rule"),
                pl.col(column).cast(pl.Utf8).alias("value"),
            )
        )

    for column, parent, parent_column, rule in REFERENCES.get(table, []):
        own_keys = (typed if own is None else own)[parent_column] if parent == table else pl.Series([], dtype=pl.Utf8)
        known = pl.concat([parents.keys(parent, parent_column), own_keys]).implode()
        report(pl.col(column).is_not_null() & ~pl.col(column).is_in(known), column, rule)
    for column in NOT_AFTER_EXTRACT.get(table, []):
        report(pl.col(column) > parents.extract_date, column, f"not_after_extract_date({parents.extract_date})")
    if table == "infusions":
        referrals = parents.frames.get("referrals")
        if referrals is not None and referrals.height:
            dated = typed.join(referrals.select("referral_id", "referral_date"), on="referral_id", how="left")
            problems.append(
                dated.filter(pl.col("infusion_date") < pl.col("referral_date")).select(
                    pl.col(ROW).alias("row"),
                    pl.lit("infusion_date").alias("column"),
                    pl.lit("not_before_referral_date").alias("rule"),
                    pl.col("infusion_date").cast(pl.Utf8).alias("value"),
                )
            )
    return pl.concat(problems)


QUOTED_CHARS = 200


def _quote(value: str) -> str:
    """_quoted, for one value."""
    return value if len(value) <= QUOTED_CHARS else f"{value[:QUOTED_CHARS]}... ({len(value)} characters)"


def _quoted(value: pl.Expr) -> pl.Expr:
    """A reason quotes at most QUOTED_CHARS of its value: a long cell is kept in the row's original values (whole up
    to the cell limit, else as this same preview), not repeated in every report line and reason."""
    length = value.str.len_chars()
    return (
        pl.when(length > QUOTED_CHARS)
        .then(pl.format("{}... ({} characters)", value.str.slice(0, QUOTED_CHARS), length))
        .otherwise(value)
    )


CHUNK_ROWS = 20_000  # rows checked at a time: what a file of nothing but bad rows costs before it is refused


def check_frame(
    table: str,
    text: pl.DataFrame,
    path: Path,
    parents: Parents,
    long_cells: pl.DataFrame | None = None,
    limits: Limits | None = None,
) -> TableCheck:
    """Cast, check every rule and every reference; the accepted rows join `parents` for later tables.

    A file with more to hold in quarantine than `limits` allow is refused whole (RefusedFile), and none of its rows
    become parents. Rows are checked CHUNK_ROWS at a time and the file refused as soon as it is over the limit: every
    broken cell is a problem, so a file of bad rows checked whole cost memory and time by the broken cell (300,000
    bad rows in an 85 KB file: 1.8 GB; 2.8 million empty rows in a 50 MB one: 9 GB and 110 s)."""
    ignored = check_columns(table, text, path)
    refuse_day_first_dates(table, text, path)
    found: list[pl.DataFrame] = []  # problems so far, but the long cells'
    held = pl.Series("row", [], dtype=pl.Int64) if long_cells is None else long_cells["row"]
    typed_chunks, checked = [], 0
    for chunk in text.iter_slices(CHUNK_ROWS) if text.height else [text]:
        typed, cast_problems = cast_to_contract(table, chunk)
        # A cell that could not be cast is reported once, for its type, not again as a null.
        rule_problems = check_rules(table, typed).join(
            cast_problems.select("row", "column"), on=["row", "column"], how="anti"
        )
        found += [cast_problems, rule_problems, check_references(table, typed, parents, own=text)]
        typed_chunks.append(typed)
        checked += chunk.height
        held = pl.concat([held, *(f["row"] for f in found[-3:])]).unique()
        if limits is not None and checked < text.height and held.len() > limits.max_quarantined_rows:
            _refuse_too_much_to_hold(path, text, _problems(found, long_cells), limits, checked)
    typed = pl.concat(typed_chunks)
    if typed_chunks[1:]:
        found.append(_duplicate_keys(table, typed))  # each chunk's check saw duplicates within the chunk only
    problems = _problems(found, long_cells)
    if limits is not None:
        _refuse_too_much_to_hold(path, text, problems, limits, checked)
    valid = typed.filter(~pl.col(ROW).is_in(problems["row"].implode()))
    parents.add(table, valid)
    return TableCheck(table, str(path), text, valid, problems, ignored)


def _problems(found: list[pl.DataFrame], long_cells: pl.DataFrame | None) -> pl.DataFrame:
    """One problem per row, column and rule broken, values quoted short, in the file's row order."""
    problems = pl.concat([empty_problems(), *found]).unique(maintain_order=True).with_columns(_quoted(pl.col("value")))
    if long_cells is not None and long_cells.height:
        # A cell cut to its preview is reported for its length only, not for whatever rule the preview breaks.
        problems = pl.concat(
            [long_cells, problems.join(long_cells.select("row", "column"), on=["row", "column"], how="anti")]
        )
    return problems.sort("row", maintain_order=True)


def _duplicate_keys(table: str, typed: pl.DataFrame) -> pl.DataFrame:
    """Every row whose key another row of the file has, as the contract's check reports it (nulls alike)."""
    key = PRIMARY_KEYS[table]
    return typed.filter(pl.col(key).is_duplicated()).select(
        pl.col(ROW).alias("row"),
        pl.lit(key).alias("column"),
        pl.lit("field_uniqueness").alias("rule"),
        pl.col(key).cast(pl.Utf8).alias("value"),
    )


def _refuse_too_much_to_hold(
    path: Path, text: pl.DataFrame, problems: pl.DataFrame, limits: Limits, checked: int
) -> None:
    """Refuse a file whose rows to hold would take more of the quarantine than one file may: too many rows, or too
    many bytes of their values and reasons (what the store would grow by, and the data-quality page show)."""
    held = problems["row"].n_unique()
    if held > limits.max_quarantined_rows:
        # Checking stops at the first chunk that goes over the limit.
        rows = (
            f"of the first {checked:,} of {text.height:,} rows" if checked < text.height else f"of {text.height:,} rows"
        )
        raise RefusedFile(
            f"{path}: {held:,} {rows} break a rule, more than the {limits.max_quarantined_rows:,} one "
            f"file may have held in quarantine ({LIMIT_VARIABLES['max_quarantined_rows']}); "
            f"{_refused_whole(problems)}"
        )
    values = text.filter(pl.col(ROW).is_in(problems["row"].implode())).drop(ROW)
    stored = (
        values.select(pl.sum_horizontal(pl.all().str.len_bytes().cast(pl.UInt64)).sum()).item()
        + problems.select(
            pl.sum_horizontal(pl.col("column", "rule", "value").str.len_bytes().cast(pl.UInt64)).sum()
        ).item()
    )
    if stored > limits.max_quarantined_bytes:
        raise RefusedFile(
            f"{path}: the {held:,} rows that break a rule would take {stored:,} bytes in quarantine "
            f"(values and reasons), more than the {limits.max_quarantined_bytes:,} one file may have "
            f"held ({LIMIT_VARIABLES['max_quarantined_bytes']}); {_refused_whole(problems)}"
        )


def _refused_whole(problems: pl.DataFrame) -> str:
    common = (
        problems.group_by("column", "rule")
        .agg(pl.col("row").n_unique().alias("rows"))
        .sort(["rows", "column", "rule"], descending=[True, False, False])
        .head(5)
    )
    sample = "; ".join(
        f"{column} breaks {rule}: {n:,} row{'' if n == 1 else 's'}" for column, rule, n in common.iter_rows()
    )
    return f"the file is refused whole. Most common: {sample}"


def check_file(path: Path, parents: Parents, table: str | None = None, limits: Limits = DEFAULT_LIMITS) -> TableCheck:
    """Read and check one file; raises RefusedFile when the file cannot be read as its table or breaks a limit."""
    table = table or table_name(path)
    if table is None:
        raise RefusedFile(f"{path}: the file name must be one of {', '.join(f'{t}.csv' for t in CONTRACTS)}")
    text, long_cells = read_file(path, limits)
    if text.height == 0:
        raise RefusedFile(f"{path}: the file has a header but no data rows")
    return check_frame(table, text, path, parents, long_cells, limits)
