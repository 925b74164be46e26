"""Read a submission file as text, cast it to its contract's types and check every rule, row by row.

Nothing here writes anywhere: the result says, for every row read, whether it passes and if not why
(row, column, rule, value), so that ingest can commit or quarantine it and validate can report it.
"""

from __future__ import annotations

import datetime as dt
import re
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


def read_text(path: Path) -> pl.DataFrame:
    """Read a CSV or Parquet file as text columns, or refuse it with a message that says what to fix."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception as error:  # noqa: BLE001 - any unreadable Parquet is refused, with the reason
            raise RefusedFile(f"{path}: not a readable Parquet file ({error.__class__.__name__})") from None
        _check_parquet_types(path, frame)
        frame = frame.select(pl.all().cast(pl.Utf8))
        _refuse_nul_bytes(path, frame)
    elif suffix == ".csv":
        frame = _read_csv_text(path)
    else:
        raise RefusedFile(f"{path}: only .csv and .parquet files can be read")
    if ROW in frame.columns:
        # The reader numbers the rows in a column of that name; a file's own column would clash with it.
        raise RefusedFile(f"{path}: a column is named {ROW}, a name kept for row numbers; rename or remove it")
    return frame.select(pl.all().str.strip_chars().replace("", None)).with_row_index(ROW, offset=1).with_columns(
        pl.col(ROW).cast(pl.Int64)
    )


def _check_parquet_types(path: Path, frame: pl.DataFrame) -> None:
    """A Parquet column whose type cannot hold the contract's values refuses the file (text is always allowed)."""
    table = table_name(path)
    if table is None:
        return
    for name, dtype in polars_schema(table).items():
        actual = frame.schema.get(name)
        if actual is None or actual in (pl.Utf8, pl.Null) or actual == dtype:
            continue
        if dtype == pl.Int64 and actual.is_integer():
            continue
        raise RefusedFile(f"{path}: column {name} is {actual} in the Parquet file; the contract needs "
                          f"{_TYPE_NAMES[dtype]}")


def _refuse_nul_bytes(path: Path, frame: pl.DataFrame) -> None:
    """A Parquet text cell with a NUL byte refuses the file: PostgreSQL cannot store it (see _read_csv_text)."""
    hint = "no text column can hold one; remove it"
    if any("\x00" in name for name in frame.columns):
        raise RefusedFile(f"{path}: a NUL byte (0x00) in the header; {hint}")
    for name in frame.columns:
        rows = frame[name].str.contains("\x00", literal=True).arg_true()
        if rows.len():
            raise RefusedFile(f"{path}: a NUL byte (0x00) in column {name}, row {rows[0] + 1}; {hint}")


_TYPE_NAMES = {pl.Int64: "whole numbers", pl.Date: "dates", pl.Boolean: "true/false", pl.Utf8: "text"}


def _read_csv_text(path: Path) -> pl.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise RefusedFile(f"{path}: the file is empty; send a header row and at least one data row")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RefusedFile(
            f"{path}: not UTF-8 (byte 0x{raw[error.start]:02x} on line {line}); save the file as UTF-8"
        ) from None
    # A NUL byte is not text: it means a UTF-16 (without BOM) or binary file, and PostgreSQL cannot store it, so a
    # NUL in a cell that passed every rule (an id, say) crashed the whole batch there. Checked before polars, whose
    # error messages may quote the line, NUL and all, into the batch's message.
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise RefusedFile(f"{path}: a NUL byte (0x00) on line {line}; not text (UTF-16?); save the file as UTF-8")
    header = text.splitlines()[0]
    if "," not in header and any(sep in header for sep in (";", "\t", "|")):
        sep = next(s for s in (";", "\t", "|") if s in header)
        raise RefusedFile(f"{path}: columns are separated by {sep!r}; use commas (,) as the delimiter")
    try:
        return pl.read_csv(text.encode(), infer_schema=False)
    except Exception as error:  # noqa: BLE001 - a malformed CSV is refused with polars' reason
        first_line = str(error).strip().splitlines()[0][:200]
        raise RefusedFile(f"{path}: not a well-formed CSV file ({first_line})") from None


def check_columns(table: str, text: pl.DataFrame, path: Path) -> list[str]:
    """Refuse a file without a required column; return the unknown extra columns, which are ignored."""
    present = [c for c in text.columns if c != ROW]
    missing = [c for c in required_columns(table) if c not in present]
    if missing:
        raise RefusedFile(f"{path}: required column(s) missing: {', '.join(missing)}")
    return [c for c in present if c not in required_columns(table)]


def cast_to_contract(table: str, text: pl.DataFrame, path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast text columns to the contract's types; every cell that cannot be cast becomes a problem."""
    casts = {name: _cast(pl.col(name), dtype).alias(name) for name, dtype in polars_schema(table).items()}
    typed = text.select(ROW, *casts.values())
    problems = []
    for name, dtype in polars_schema(table).items():
        failed = text.filter(pl.col(name).is_not_null() & typed[name].is_null())
        if failed.height == 0:
            continue
        if dtype == pl.Date and failed.height == text[name].drop_nulls().len():
            sample = failed.row(0, named=True)
            if _DAY_FIRST.match(sample[name]):
                raise RefusedFile(
                    f"{path}: {ISO_DATE_HINT}; column {name}, row {sample[ROW]} has {sample[name]}"
                )
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
    "nice_ta": [("product_code", "products", "product_code", "references(products.product_code)"),
                ("superseded_by", "nice_ta", "ta_code", "references(nice_ta.ta_code)")],
    "referrals": [("ta_code", "nice_ta", "ta_code", "references(nice_ta.ta_code)"),
                  ("allocated_centre", "centres", "centre_code", "references(centres.centre_code)")],
    "infusions": [("centre_code", "centres", "centre_code", "references(centres.centre_code)"),
                  ("product_code", "products", "product_code", "references(products.product_code)"),
                  ("ta_code", "nice_ta", "ta_code", "references(nice_ta.ta_code)"),
                  ("referral_id", "referrals", "referral_id", "missing parent (referrals.referral_id)")],
    "followup": [("episode_id", "infusions", "episode_id", "missing parent (infusions.episode_id)")],
}
MISSING_PARENT = "missing parent"
NOT_AFTER_EXTRACT = {"referrals": ["referral_date", "review_date"], "infusions": ["infusion_date"]}


def check_references(table: str, typed: pl.DataFrame, parents: Parents) -> pl.DataFrame:
    """Cross-table rules: codes that exist, dates not after the extract, infusion not before its referral."""
    problems = [empty_problems()]

    def report(mask: pl.Expr, column: str, rule: str) -> None:
        problems.append(
            typed.filter(mask).select(
                pl.col(ROW).alias("row"), pl.lit(column).alias("column"), pl.lit(rule).alias("rule"),
                pl.col(column).cast(pl.Utf8).alias("value"),
            )
        )

    for column, parent, parent_column, rule in REFERENCES.get(table, []):
        own_keys = typed[parent_column] if parent == table else pl.Series([], dtype=pl.Utf8)
        known = pl.concat([parents.keys(parent, parent_column), own_keys]).implode()
        report(pl.col(column).is_not_null() & ~pl.col(column).is_in(known), column, rule)
    for column in NOT_AFTER_EXTRACT.get(table, []):
        report(pl.col(column) > parents.extract_date, column, f"not_after_extract_date({parents.extract_date})")
    if table == "infusions":
        referrals = parents.frames.get("referrals")
        if referrals is not None and referrals.height:
            dated = typed.join(
                referrals.select("referral_id", "referral_date"), on="referral_id", how="left"
            )
            problems.append(
                dated.filter(pl.col("infusion_date") < pl.col("referral_date")).select(
                    pl.col(ROW).alias("row"), pl.lit("infusion_date").alias("column"),
                    pl.lit("not_before_referral_date").alias("rule"),
                    pl.col("infusion_date").cast(pl.Utf8).alias("value"),
                )
            )
    return pl.concat(problems)


QUOTED_CHARS = 200


def _quoted(value: pl.Expr) -> pl.Expr:
    """A reason quotes at most QUOTED_CHARS of its value: a 10 MB cell is kept whole in the row's original values,
    not repeated in every report line and reason."""
    length = value.str.len_chars()
    return pl.when(length > QUOTED_CHARS).then(
        pl.format("{}... ({} characters)", value.str.slice(0, QUOTED_CHARS), length)
    ).otherwise(value)


def check_frame(table: str, text: pl.DataFrame, path: Path, parents: Parents) -> TableCheck:
    """Cast, check every rule and every reference; the accepted rows join `parents` for later tables."""
    ignored = check_columns(table, text, path)
    typed, cast_problems = cast_to_contract(table, text, path)
    rule_problems = check_rules(table, typed)
    # A cell that could not be cast is reported once, for its type, not again as a null.
    rule_problems = rule_problems.join(cast_problems.select("row", "column"), on=["row", "column"], how="anti")
    reference_problems = check_references(table, typed, parents)
    problems = pl.concat([cast_problems, rule_problems, reference_problems]).unique(maintain_order=True)
    problems = problems.sort("row", maintain_order=True).with_columns(_quoted(pl.col("value")))
    valid = typed.filter(~pl.col(ROW).is_in(problems["row"].implode()))
    parents.add(table, valid)
    return TableCheck(table, str(path), text, valid, problems, ignored)


def check_file(path: Path, parents: Parents, table: str | None = None) -> TableCheck:
    """Read and check one file; raises RefusedFile when the file cannot be read as its table."""
    table = table or table_name(path)
    if table is None:
        raise RefusedFile(f"{path}: the file name must be one of {', '.join(f'{t}.csv' for t in CONTRACTS)}")
    text = read_text(path)
    if text.height == 0:
        raise RefusedFile(f"{path}: the file has a header but no data rows")
    return check_frame(table, text, path, parents)
