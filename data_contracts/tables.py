"""Pandera models of the six submission tables: the data dictionary, one field per column.

See docs/design.md, Submission format and data contracts.
"""

import datetime as dt
from collections.abc import Callable

import pandera.polars as pa
import polars as pl

from data_contracts import codes

# Row-wise rules are reported against the column a data manager must fix.
RULE_COLUMNS: dict[str, str] = {}


def row_rule(column: str) -> Callable[[Callable], Callable]:
    """Register a named row-wise dataframe check whose failures point at `column`."""

    def register(fn: Callable) -> Callable:
        RULE_COLUMNS[fn.__name__] = column
        return pa.dataframe_check(fn)

    return register


def _rows(data: pa.PolarsData, rule: pl.Expr) -> pl.LazyFrame:
    return data.lazyframe.select(rule.fill_null(False))


def _required_exactly_when(column: str, condition: pl.Expr) -> pl.Expr:
    """`column` is filled when `condition` holds and empty otherwise (an unknown condition allows neither)."""
    return (
        pl.when(condition.is_null()).then(pl.col(column).is_null()).otherwise(condition == pl.col(column).is_not_null())
    )


def _required_when(column: str, flag: str) -> pl.Expr:
    return ~pl.col(flag).fill_null(False) | pl.col(column).is_not_null()


class _Contract(pa.DataFrameModel):
    class Config:
        strict = False  # unknown extra columns are reported by the reader and ignored
        coerce = False  # the reader casts from text and reports every cell it cannot cast


# --- Reference tables (maintained nationally) ---


class Centres(_Contract):
    """A commissioned CAR-T centre."""

    centre_code: str = pa.Field(unique=True, str_matches=r"^[A-Z0-9]{3,5}$")
    centre_name: str = pa.Field(str_matches=r"\S")
    nhs_region: str = pa.Field(isin=codes.NHS_REGIONS)
    population: str = pa.Field(isin=codes.CENTRE_POPULATIONS)
    jacie_accredited: bool
    commissioned_from: dt.date


class Products(_Contract):
    """A licensed CAR-T product."""

    product_code: str = pa.Field(unique=True, str_matches=r"^[a-z]+(-[a-z]+)*$")
    inn: str = pa.Field(str_matches=r"\S")
    brand: str = pa.Field(str_matches=r"\S")
    costimulatory_domain: str = pa.Field(isin=codes.COSTIMULATORY_DOMAINS)
    target_antigen: str = pa.Field(str_matches=r"\S")


class NiceTa(_Contract):
    """A NICE technology appraisal: the indication a product may be used for."""

    ta_code: str = pa.Field(unique=True, str_matches=r"^TA[0-9]{3,4}$")
    product_code: str
    disease: str = pa.Field(isin=codes.DISEASES)
    indication: str = pa.Field(str_matches=r"\S")
    min_prior_lines: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 10})
    min_age: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 110})
    max_age: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 110})
    recommendation: str = pa.Field(isin=codes.RECOMMENDATIONS)
    published: dt.date
    superseded_by: str = pa.Field(nullable=True, str_matches=r"^TA[0-9]{3,4}$")

    @row_rule("max_age")
    def age_bounds_ordered(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, (pl.col("max_age") >= pl.col("min_age")).fill_null(True))

    @row_rule("superseded_by")
    def superseded_by_required_when_superseded(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_exactly_when("superseded_by", pl.col("recommendation") == "superseded"))


# --- Pathway tables (submitted by centres and the panels) ---


class Referrals(_Contract):
    """One referral to a National CAR-T Clinical Panel."""

    referral_id: str = pa.Field(unique=True, str_matches=r"^\S{1,32}$")
    patient_id: str = pa.Field(str_matches=r"^[A-Z0-9]{8,16}$")
    panel: str = pa.Field(isin=codes.PANELS)
    ta_code: str
    age_at_referral: int = pa.Field(in_range={"min_value": 0, "max_value": 110})
    referral_date: dt.date
    review_date: dt.date = pa.Field(nullable=True)
    decision: str = pa.Field(isin=codes.DECISIONS)
    allocated_centre: str = pa.Field(nullable=True)

    @row_rule("review_date")
    def review_not_before_referral(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, (pl.col("review_date") >= pl.col("referral_date")).fill_null(True))

    @row_rule("decision")
    def pending_exactly_when_not_reviewed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, (pl.col("decision") == "pending") == pl.col("review_date").is_null())

    @row_rule("allocated_centre")
    def allocated_centre_required_when_approved(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_exactly_when("allocated_centre", pl.col("decision") == "approved"))


class Infusions(_Contract):
    """One CAR-T infusion (an episode)."""

    episode_id: str = pa.Field(unique=True, str_matches=r"^\S{1,32}$")
    patient_id: str = pa.Field(str_matches=r"^[A-Z0-9]{8,16}$")
    referral_id: str = pa.Field(nullable=True)
    centre_code: str
    product_code: str
    ta_code: str
    infusion_date: dt.date
    age_at_infusion: int = pa.Field(in_range={"min_value": 0, "max_value": 110})
    sex: str = pa.Field(isin=codes.SEXES)
    ethnic_group: str = pa.Field(isin=codes.ETHNIC_GROUPS)
    imd_quintile: int = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 5})
    care_setting: str = pa.Field(isin=codes.CARE_SETTINGS)
    discharge_day: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 365})
    home_travel_minutes: int = pa.Field(nullable=True, ge=0)
    nearby_stay_days: int = pa.Field(nullable=True, ge=0)
    travel_exception_reason: str = pa.Field(nullable=True, isin=codes.TRAVEL_EXCEPTION_REASONS)
    carer_24h_available: bool = pa.Field(nullable=True)
    carer_exception_reason: str = pa.Field(nullable=True, isin=codes.CARER_EXCEPTION_REASONS)

    @row_rule("travel_exception_reason")
    def travel_reason_required_when_stay_short(cls, data: pa.PolarsData) -> pl.LazyFrame:
        short_stay = pl.col("nearby_stay_days") < codes.NEARBY_STAY_MIN_DAYS
        return _rows(data, _required_exactly_when("travel_exception_reason", short_stay.fill_null(False)))

    @row_rule("carer_exception_reason")
    def carer_reason_required_when_no_carer(cls, data: pa.PolarsData) -> pl.LazyFrame:
        no_carer = (pl.col("carer_24h_available") == False).fill_null(False)  # noqa: E712
        return _rows(data, _required_exactly_when("carer_exception_reason", no_carer))


class Followup(_Contract):
    """Day-30 and day-100 outcomes of one infusion; may arrive months after it."""

    episode_id: str = pa.Field(unique=True, str_matches=r"^\S{1,32}$")
    d30_complete: bool
    crs_max_grade: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 4})
    crs_onset_day: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 30})
    icans_max_grade: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 4})
    icans_onset_day: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 30})
    tocilizumab_doses: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 20})
    corticosteroids: bool = pa.Field(nullable=True)
    itu_admitted: bool = pa.Field(nullable=True)
    itu_day: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    itu_reason: str = pa.Field(nullable=True, isin=codes.ITU_REASONS)
    itu_length_of_stay_days: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 365})
    cytopenia_grade_d30: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 4})
    d100_complete: bool
    cytopenia_grade_d100: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 4})
    cytopenia_onset_day: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    cytopenia_resolved_day: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 365})
    status_d100: str = pa.Field(nullable=True, isin=codes.STATUSES_D100)
    death_day: int = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    death_cause: str = pa.Field(nullable=True, isin=codes.DEATH_CAUSES)

    @row_rule("crs_onset_day")
    def crs_onset_day_required_when_graded(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_exactly_when("crs_onset_day", pl.col("crs_max_grade") > 0))

    @row_rule("icans_onset_day")
    def icans_onset_day_required_when_graded(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_exactly_when("icans_onset_day", pl.col("icans_max_grade") > 0))

    @row_rule("itu_day")
    def itu_day_required_when_admitted(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_exactly_when("itu_day", pl.col("itu_admitted")))

    @row_rule("itu_reason")
    def itu_reason_required_when_admitted(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_exactly_when("itu_reason", pl.col("itu_admitted")))

    @row_rule("cytopenia_resolved_day")
    def cytopenia_resolved_not_before_onset(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, (pl.col("cytopenia_resolved_day") >= pl.col("cytopenia_onset_day")).fill_null(True))

    @row_rule("death_day")
    def death_day_required_when_died(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_exactly_when("death_day", pl.col("status_d100") == "died"))

    @row_rule("death_cause")
    def death_cause_required_when_died(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_exactly_when("death_cause", pl.col("status_d100") == "died"))

    # Day-30 data are required once the centre marks day 30 complete.
    @row_rule("crs_max_grade")
    def crs_max_grade_required_when_d30_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_when("crs_max_grade", "d30_complete"))

    @row_rule("icans_max_grade")
    def icans_max_grade_required_when_d30_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_when("icans_max_grade", "d30_complete"))

    @row_rule("tocilizumab_doses")
    def tocilizumab_doses_required_when_d30_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_when("tocilizumab_doses", "d30_complete"))

    @row_rule("corticosteroids")
    def corticosteroids_required_when_d30_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_when("corticosteroids", "d30_complete"))

    @row_rule("itu_admitted")
    def itu_admitted_required_when_d30_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_when("itu_admitted", "d30_complete"))

    @row_rule("cytopenia_grade_d30")
    def cytopenia_grade_d30_required_when_d30_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_when("cytopenia_grade_d30", "d30_complete"))

    # Day-100 data are required once the centre marks day 100 complete.
    @row_rule("cytopenia_grade_d100")
    def cytopenia_grade_d100_required_when_d100_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_when("cytopenia_grade_d100", "d100_complete"))

    @row_rule("status_d100")
    def status_d100_required_when_d100_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _rows(data, _required_when("status_d100", "d100_complete"))


# Parents first: the order in which tables are checked and stored.
CONTRACTS: dict[str, type[_Contract]] = {
    "centres": Centres,
    "products": Products,
    "nice_ta": NiceTa,
    "referrals": Referrals,
    "infusions": Infusions,
    "followup": Followup,
}
PRIMARY_KEYS = {
    "centres": "centre_code",
    "products": "product_code",
    "nice_ta": "ta_code",
    "referrals": "referral_id",
    "infusions": "episode_id",
    "followup": "episode_id",
}
REFERENCE_TABLES = ("centres", "products", "nice_ta")


def polars_schema(table: str) -> dict[str, pl.DataType]:
    """The column types of a table, as the contract declares them."""
    schema = CONTRACTS[table].to_schema()
    return {name: column.dtype.type for name, column in schema.columns.items()}


def small_integers(table: str) -> tuple[str, ...]:
    """Whole-number columns whose contract bounds them within 16 bits (a grade, a day, an age): a loaded table may
    hold them as Int16, a quarter of the memory, since every row has passed the contract's bounds."""
    schema = CONTRACTS[table].to_schema()
    return tuple(
        name
        for name, column in schema.columns.items()
        if column.dtype.type == pl.Int64
        and any(
            check.name == "in_range"
            and -(2**15) <= check.statistics["min_value"] <= check.statistics["max_value"] < 2**15
            for check in column.checks
        )
    )


def required_columns(table: str) -> list[str]:
    return list(CONTRACTS[table].to_schema().columns)
