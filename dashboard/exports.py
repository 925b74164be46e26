"""CSV exports that are safe to open in a spreadsheet (no Streamlit)."""

from __future__ import annotations

import polars as pl

# A cell starting with one of these is run as a formula by spreadsheet programs (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a single quote."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.Utf8]
    starts = "^[" + "".join("\\" + c if c in "-+" else c for c in FORMULA_STARTS) + "]"
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(starts)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """A UTF-8 CSV (with BOM, so spreadsheet programs read the accents right) of the frame, formulas neutralised."""
    return b"\xef\xbb\xbf" + neutralise_formulas(frame).write_csv().encode()
