"""Codes in a reader's words: reasons, age bands, NICE TAs, quarters and dates (one module for pages and the pack)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.filters import AGE_BANDS
from data_contracts import codes

# Every coded reason of the submission format (data_contracts.codes), as a panel says it.
REASONS = {
    "accommodation_declined": "Accommodation near the centre declined",
    "clinical_decision": "Clinical decision",
    "patient_choice": "Patient's choice",
    "extended_inpatient_stay": "Extended inpatient stay",
    "alternative_carer_arranged": "Alternative carer arranged",
    "patient_declined": "Patient declined",
    "other": "Other",
}
assert set(REASONS) == {*codes.TRAVEL_EXCEPTION_REASONS, *codes.CARER_EXCEPTION_REASONS}

_AGE_GROUPS = {"children": "Children", "tya": "Teenagers and young adults", "adults": "Adults"}
AGE_WORDS = {
    # adults have no upper bound (AGE_BANDS holds 200)
    band: f"{_AGE_GROUPS[band]} ({low}-{high})" if high < 120 else f"{_AGE_GROUPS[band]} ({low} and over)"
    for band, (low, high) in AGE_BANDS.items()
}

# A column as a reader names it, with its unit (pages' tables and the pack; a page may name `group` for what it is).
COLUMN_LABELS = {
    "group": "Centre",
    "title": "Measure",
    "numerator": "Events",
    "denominator": "Patients",
    "rate": "Rate",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "expected": "Expected",
    "ratio": "Observed / expected",
    "p_value": "Exact p (one-sided)",
    "flag": "Against the target",
    "low_numbers": "Note",
    "episode_id": "Episode",
    "centre_code": "Centre",
    "centre_name": "Name",
    "product_code": "Product",
    "ta_code": "NICE TA",
    "indication": "Indication",
    "quarter": "Quarter",
    "infusion_date": "Infused on",
    "age_at_infusion": "Age at infusion (years)",
    "age_band": "Age band",
    "home_travel_minutes": "Travel from home (minutes)",
    "nearby_stay_days": "Days within 2 hours after discharge",
    "travel_exception_reason": "Travel exception: reason",
    "carer_24h_available": "24-hour carer",
    "carer_exception_reason": "Carer exception: reason",
    "infusions": "Infusions",
    "exceptions": "Exceptions",
    "patients": "Patients",
    "reason": "Reason",
    "admissions": "Admissions",
    "days": "Days",
    "measure": "Measure",
    "exception": "Exception",
    "referred": "Referred",
    "approved": "Approved",
    "infused": "Infused",
    "centre_line": "Mean",
    "lower_3_sigma": "Lower 3-sigma limit",
    "upper_3_sigma": "Upper 3-sigma limit",
    "lower_2_sigma": "Lower 2-sigma limit",
    "upper_2_sigma": "Upper 2-sigma limit",
    "risk": "Expected risk",
    "event": "Event",
    "cusum": "CUSUM",
    "crossed": "Crossed the threshold",
    "vlad": "Observed minus expected, added up",
}
PERCENT_COLUMNS = (
    "rate",
    "ci_low",
    "ci_high",
    "centre_line",
    "lower_3_sigma",
    "upper_3_sigma",
    "lower_2_sigma",
    "upper_2_sigma",
)


def one_decimal(frame: pl.DataFrame) -> pl.DataFrame:
    """Fractions shown as percentages rounded to 3 places, so that a table's percent format shows one decimal
    ("66.7%", not "66.67%"); downloads keep every digit."""
    shares = [
        c
        for c, kind in frame.schema.items()
        if kind.is_float() and (c in PERCENT_COLUMNS or c.endswith(("_rate", "_share")))
    ]
    return frame.with_columns(pl.col(shares).round(3)) if shares else frame


def quarter(day: dt.date) -> str:
    """2025-07-01 -> "2025 Q3"."""
    return f"{day.year} Q{(day.month - 1) // 3 + 1}"


def month(day: dt.date) -> str:
    """2026-08-14 -> "August 2026"."""
    return f"{day:%B %Y}"


def ta_labels(nice_ta: pl.DataFrame) -> dict[str, str]:
    """Each TA code with its short title, "TA872 axi-cel, LBCL": the code a panel quotes and what it is for."""
    return {
        row["ta_code"]: f"{row['ta_code']} {row['product_code']}, {row['disease']}"
        for row in nice_ta.iter_rows(named=True)
    }


def readable(frame: pl.DataFrame, nice_ta: pl.DataFrame | None = None) -> pl.DataFrame:
    """A table as a reader sees it: quarters as "2025 Q3", times as dates, reasons, age bands and (given the TA
    list) TA codes in words. Counts, rates and centre labels are left to the gate and the column formats."""
    changes = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if name == "quarter" and dtype == pl.Date:
            changes.append(pl.format("{} Q{}", column.dt.year(), column.dt.quarter()))
        elif isinstance(dtype, pl.Datetime):  # a date stored as a time shows as a date, a time to the minute
            midnight = frame[name].drop_nulls().dt.time().eq(dt.time(0)).all()
            changes.append(column.dt.date() if midnight else column.dt.strftime("%Y-%m-%d %H:%M"))
        elif name in ("reason", "travel_exception_reason", "carer_exception_reason") and dtype == pl.Utf8:
            changes.append(column.replace(REASONS))
        elif name == "age_band" and dtype == pl.Utf8:
            changes.append(column.replace(AGE_WORDS))
        elif name == "ta_code" and dtype == pl.Utf8 and nice_ta is not None:
            changes.append(column.replace(ta_labels(nice_ta)))
    return frame.with_columns(changes) if changes else frame
