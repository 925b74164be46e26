"""Every contract rule accepts the sample and rejects a row that breaks it, naming the column and the rule."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from data_contracts import BUNDLED_REFERENCE, CONTRACTS, reference_path, submission
from data_contracts.submission import ROW, Parents, RefusedFile, check_file, check_frame, read_text
from tests.conftest import BAD_SUBMISSION, SAMPLE

EXTRACT = dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def sample_checks() -> tuple[dict, Parents]:
    parents = Parents(EXTRACT)
    checks = {table: check_file(SAMPLE / f"{table}.csv", parents) for table in CONTRACTS}
    return checks, parents


def test_the_sample_passes_every_rule(sample_checks):
    checks, _ = sample_checks
    for table, check in checks.items():
        assert check.problems.height == 0, (table, check.problems.head(5))
        assert check.accepted == check.rows_read > 0


def test_bundled_reference_tables_pass_their_contracts():
    parents = Parents(EXTRACT)
    checks = {table: check_file(reference_path(table), parents) for table in BUNDLED_REFERENCE}
    assert {t: (c.rows_read, c.problems.height) for t, c in checks.items()} == {"products": (5, 0), "nice_ta": (11, 0)}


def test_the_bundled_nice_tas_are_those_of_facts():
    tas = pl.read_csv(reference_path("nice_ta"))
    assert dict(tas.select("ta_code", "product_code").iter_rows()) == {
        "TA554": "tisa-cel",
        "TA559": "axi-cel",
        "TA567": "tisa-cel",
        "TA677": "brexu-cel",
        "TA872": "axi-cel",
        "TA893": "brexu-cel",
        "TA894": "axi-cel",
        "TA895": "axi-cel",
        "TA975": "tisa-cel",
        "TA1048": "liso-cel",
        "TA1116": "obe-cel",
    }
    superseded = tas.filter(pl.col("recommendation") == "superseded")
    assert dict(superseded.select("ta_code", "superseded_by").iter_rows()) == {"TA554": "TA975", "TA559": "TA872"}


# A base row (picked by a filter on the sample) is changed as shown; exactly these problems are expected.
ALIVE_D100 = (
    (pl.col("d100_complete") == "true")
    & (pl.col("status_d100") == "alive")
    & (pl.col("itu_admitted") == "false")
    & (pl.col("crs_max_grade") == "0")
    & (pl.col("icans_max_grade") == "0")
)
CASES = [
    ("centres", None, {"centre_code": "ab1"}, "centre_code", "str_matches"),
    ("centres", None, {"centre_name": ""}, "centre_name", "not_nullable"),
    ("centres", None, {"nhs_region": "Wales"}, "nhs_region", "isin"),
    ("centres", None, {"population": "adults"}, "population", "isin"),
    ("centres", None, {"jacie_accredited": "maybe"}, "jacie_accredited", "boolean"),
    ("centres", None, {"commissioned_from": "2019-13-01"}, "commissioned_from", "iso_date"),
    ("products", None, {"product_code": "Axi Cel"}, "product_code", "str_matches"),
    ("products", None, {"costimulatory_domain": "CD3"}, "costimulatory_domain", "isin"),
    ("products", None, {"inn": ""}, "inn", "not_nullable"),
    ("nice_ta", None, {"ta_code": "T123"}, "ta_code", "str_matches"),
    ("nice_ta", None, {"disease": "DLBCL"}, "disease", "isin"),
    ("nice_ta", pl.col("ta_code") == "TA872", {"recommendation": "yes"}, "recommendation", "isin"),
    ("nice_ta", pl.col("ta_code") == "TA872", {"min_age": "200"}, "min_age", "in_range"),
    ("nice_ta", None, {"min_prior_lines": "two"}, "min_prior_lines", "integer"),
    ("nice_ta", pl.col("ta_code") == "TA975", {"max_age": "25", "min_age": "30"}, "max_age", "age_bounds_ordered"),
    (
        "nice_ta",
        pl.col("ta_code") == "TA554",
        {"superseded_by": ""},
        "superseded_by",
        "superseded_by_required_when_superseded",
    ),
    (
        "nice_ta",
        pl.col("ta_code") == "TA872",
        {"superseded_by": "TA559"},
        "superseded_by",
        "superseded_by_required_when_superseded",
    ),
    ("nice_ta", None, {"product_code": "zz-cel"}, "product_code", "references(products.product_code)"),
    (
        "nice_ta",
        pl.col("ta_code") == "TA554",
        {"superseded_by": "TA999"},
        "superseded_by",
        "references(nice_ta.ta_code)",
    ),
    ("referrals", None, {"patient_id": "abc"}, "patient_id", "str_matches"),
    ("referrals", None, {"panel": "Lymphoma"}, "panel", "isin"),
    ("referrals", None, {"age_at_referral": "111"}, "age_at_referral", "in_range"),
    (
        "referrals",
        pl.col("decision") == "approved",
        {"review_date": "2000-01-01"},
        "review_date",
        "review_not_before_referral",
    ),
    (
        "referrals",
        pl.col("decision") == "approved",
        {"decision": "pending", "allocated_centre": ""},
        "decision",
        "pending_exactly_when_not_reviewed",
    ),
    (
        "referrals",
        pl.col("decision") == "approved",
        {"allocated_centre": ""},
        "allocated_centre",
        "allocated_centre_required_when_approved",
    ),
    (
        "referrals",
        pl.col("decision") == "declined",
        {"allocated_centre": "LDN01"},
        "allocated_centre",
        "allocated_centre_required_when_approved",
    ),
    ("referrals", None, {"ta_code": "TA999"}, "ta_code", "references(nice_ta.ta_code)"),
    (
        "referrals",
        pl.col("decision") == "approved",
        {"allocated_centre": "ZZZ99"},
        "allocated_centre",
        "references(centres.centre_code)",
    ),
    (
        "referrals",
        pl.col("decision") == "approved",
        {"review_date": "2026-10-05"},
        "review_date",
        "not_after_extract_date",
    ),
    ("infusions", None, {"age_at_infusion": "140"}, "age_at_infusion", "in_range(0, 110)"),
    ("infusions", None, {"age_at_infusion": "61.5"}, "age_at_infusion", "integer"),
    ("infusions", None, {"sex": "M"}, "sex", "isin"),
    ("infusions", None, {"ethnic_group": "white"}, "ethnic_group", "isin"),
    ("infusions", None, {"imd_quintile": "6"}, "imd_quintile", "in_range"),
    ("infusions", None, {"care_setting": "day case"}, "care_setting", "isin"),
    ("infusions", None, {"discharge_day": "-1"}, "discharge_day", "in_range"),
    ("infusions", None, {"home_travel_minutes": "-5"}, "home_travel_minutes", "greater_than_or_equal_to"),
    (
        "infusions",
        pl.col("nearby_stay_days") == "20",
        {"nearby_stay_days": "6"},
        "travel_exception_reason",
        "travel_reason_required_when_stay_short",
    ),
    (
        "infusions",
        pl.col("nearby_stay_days") == "20",
        {"travel_exception_reason": "other"},
        "travel_exception_reason",
        "travel_reason_required_when_stay_short",
    ),
    (
        "infusions",
        pl.col("carer_24h_available") == "true",
        {"carer_24h_available": "false"},
        "carer_exception_reason",
        "carer_reason_required_when_no_carer",
    ),
    (
        "infusions",
        pl.col("travel_exception_reason").is_not_null(),
        {"travel_exception_reason": "weather"},
        "travel_exception_reason",
        "isin",
    ),
    ("infusions", None, {"infusion_date": "2026-10-01"}, "infusion_date", "not_after_extract_date"),
    (
        "infusions",
        pl.col("referral_id").is_not_null(),
        {"infusion_date": "2018-01-01"},
        "infusion_date",
        "not_before_referral_date",
    ),
    ("infusions", None, {"centre_code": "ZZZ99"}, "centre_code", "references(centres.centre_code)"),
    ("infusions", None, {"product_code": "Axi-cel"}, "product_code", "references(products.product_code)"),
    ("infusions", None, {"ta_code": "TA1"}, "ta_code", "references(nice_ta.ta_code)"),
    (
        "infusions",
        pl.col("referral_id").is_not_null(),
        {"referral_id": "RF_NOT_SENT"},
        "referral_id",
        "missing parent (referrals.referral_id)",
    ),
    ("followup", ALIVE_D100, {"crs_max_grade": "5", "crs_onset_day": "2"}, "crs_max_grade", "in_range(0, 4)"),
    ("followup", ALIVE_D100, {"crs_max_grade": "3"}, "crs_onset_day", "crs_onset_day_required_when_graded"),
    ("followup", ALIVE_D100, {"crs_onset_day": "2"}, "crs_onset_day", "crs_onset_day_required_when_graded"),
    ("followup", ALIVE_D100, {"icans_max_grade": "2"}, "icans_onset_day", "icans_onset_day_required_when_graded"),
    ("followup", ALIVE_D100, {"icans_onset_day": "31", "icans_max_grade": "1"}, "icans_onset_day", "in_range"),
    (
        "followup",
        ALIVE_D100,
        {"itu_admitted": "true", "itu_reason": "CRS"},
        "itu_day",
        "itu_day_required_when_admitted",
    ),
    (
        "followup",
        ALIVE_D100,
        {"itu_admitted": "true", "itu_day": "3"},
        "itu_reason",
        "itu_reason_required_when_admitted",
    ),
    ("followup", ALIVE_D100, {"itu_reason": "CRS"}, "itu_reason", "itu_reason_required_when_admitted"),
    ("followup", ALIVE_D100, {"itu_reason": "sepsis", "itu_admitted": "true", "itu_day": "3"}, "itu_reason", "isin"),
    ("followup", ALIVE_D100, {"crs_max_grade": ""}, "crs_max_grade", "crs_max_grade_required_when_d30_complete"),
    ("followup", ALIVE_D100, {"icans_max_grade": ""}, "icans_max_grade", "icans_max_grade_required_when_d30_complete"),
    (
        "followup",
        ALIVE_D100,
        {"tocilizumab_doses": ""},
        "tocilizumab_doses",
        "tocilizumab_doses_required_when_d30_complete",
    ),
    ("followup", ALIVE_D100, {"corticosteroids": ""}, "corticosteroids", "corticosteroids_required_when_d30_complete"),
    ("followup", ALIVE_D100, {"itu_admitted": ""}, "itu_admitted", "itu_admitted_required_when_d30_complete"),
    (
        "followup",
        ALIVE_D100,
        {"cytopenia_grade_d30": ""},
        "cytopenia_grade_d30",
        "cytopenia_grade_d30_required_when_d30_complete",
    ),
    (
        "followup",
        ALIVE_D100,
        {"cytopenia_grade_d100": ""},
        "cytopenia_grade_d100",
        "cytopenia_grade_d100_required_when_d100_complete",
    ),
    ("followup", ALIVE_D100, {"status_d100": ""}, "status_d100", "status_d100_required_when_d100_complete"),
    ("followup", ALIVE_D100, {"status_d100": "dead"}, "status_d100", "isin"),
    (
        "followup",
        ALIVE_D100,
        {"status_d100": "died", "death_cause": "infection"},
        "death_day",
        "death_day_required_when_died",
    ),
    (
        "followup",
        ALIVE_D100,
        {"status_d100": "died", "death_day": "40"},
        "death_cause",
        "death_cause_required_when_died",
    ),
    (
        "followup",
        ALIVE_D100,
        {"cytopenia_onset_day": "20", "cytopenia_resolved_day": "10"},
        "cytopenia_resolved_day",
        "cytopenia_resolved_not_before_onset",
    ),
    ("followup", ALIVE_D100, {"d30_complete": "maybe"}, "d30_complete", "boolean"),
    ("followup", ALIVE_D100, {"episode_id": "EP_NOT_SENT"}, "episode_id", "missing parent (infusions.episode_id)"),
]


def problems_of_changed_row(sample_checks, table: str, pick, changes: dict) -> set[tuple[str, str]]:
    checks, parents = sample_checks
    text = checks[table].text
    base = text.filter(pick) if pick is not None else text
    row_number = base[ROW][0]
    changed = text.with_columns(
        pl.when(pl.col(ROW) == row_number)
        .then(pl.lit(value or None, dtype=pl.Utf8))
        .otherwise(pl.col(column))
        .alias(column)
        for column, value in changes.items()
    )
    # Check against the sample's other tables; the table itself is re-checked without its own stored rows.
    own = copy.copy(parents)
    own.frames = {t: f for t, f in parents.frames.items() if t != table}
    result = check_frame(table, changed, Path(f"{table}.csv"), own)
    assert result.accepted + result.quarantined == result.rows_read
    rows = result.problems.filter(pl.col("row") == row_number)
    assert result.problems.filter(pl.col("row") != row_number).height == 0, result.problems
    return {(r["column"], r["rule"]) for r in rows.iter_rows(named=True)}


@pytest.mark.parametrize(
    ("table", "pick", "changes", "column", "rule"), CASES, ids=[f"{c[0]}-{c[3]}-{c[4][:40]}" for c in CASES]
)
def test_a_row_that_breaks_a_rule_is_rejected_with_its_column_and_rule(
    sample_checks, table, pick, changes, column, rule
):
    problems = problems_of_changed_row(sample_checks, table, pick, changes)
    assert len(problems) == 1, problems
    ((got_column, got_rule),) = problems
    assert got_column == column
    assert got_rule.startswith(rule), got_rule


def test_duplicate_keys_within_a_file_reject_both_rows(sample_checks, tmp_path):
    checks, parents = sample_checks
    text = checks["infusions"].text.head(5)
    duplicated = text.with_columns(
        pl.when(pl.col(ROW) == 2)
        .then(pl.lit(text["episode_id"][0]))
        .otherwise(pl.col("episode_id"))
        .alias("episode_id")
    )
    result = check_frame("infusions", duplicated, Path("infusions.csv"), copy.copy(parents))
    assert result.problems.select("row", "column", "rule").to_dicts() == [
        {"row": 1, "column": "episode_id", "rule": "field_uniqueness"},
        {"row": 2, "column": "episode_id", "rule": "field_uniqueness"},
    ]
    assert (result.accepted, result.quarantined) == (3, 2)


def test_a_file_missing_a_required_column_is_refused(tmp_path):
    path = tmp_path / "centres.csv"
    pl.read_csv(SAMPLE / "centres.csv").drop("nhs_region").write_csv(path)
    with pytest.raises(RefusedFile, match=r"centres.csv: required column\(s\) missing: nhs_region"):
        check_file(path, Parents(EXTRACT))


def test_an_unknown_extra_column_is_reported_and_ignored(tmp_path):
    path = tmp_path / "centres.csv"
    pl.read_csv(SAMPLE / "centres.csv").with_columns(pl.lit("x").alias("notes")).write_csv(path)
    check = check_file(path, Parents(EXTRACT))
    assert check.ignored_columns == ["notes"]
    assert check.accepted == 23 and "notes" not in check.valid.columns


def test_day_first_dates_throughout_a_file_refuse_it_with_the_fix(tmp_path):
    path = tmp_path / "centres.csv"
    text = pl.read_csv(SAMPLE / "centres.csv", infer_schema=False)
    text.with_columns(pl.col("commissioned_from").str.strptime(pl.Date).dt.strftime("%d/%m/%Y")).write_csv(path)
    with pytest.raises(
        RefusedFile,
        match=r"dates must be ISO 8601, e.g. 2025-03-14; column commissioned_from, "
        r"row 1 has 01/12/2018",
    ):
        check_file(path, Parents(EXTRACT))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"centre_code;centre_name\nAB1;x\n", "separated by ';'"),
        (b"centre_code,centre_name\nAB1,Caf\xe9\n", "not UTF-8 (byte 0xe9 on line 2)"),
    ],
)
def test_unreadable_files_are_refused_with_what_to_fix(tmp_path, content, message):
    path = tmp_path / "centres.csv"
    path.write_bytes(content)
    with pytest.raises(RefusedFile, match=re.escape(message)):
        read_text(path)


def test_a_bom_and_crlf_line_ends_are_read_as_plain_csv(tmp_path):
    path = tmp_path / "centres.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (SAMPLE / "centres.csv").read_bytes().replace(b"\n", b"\r\n"))
    check = check_file(path, Parents(EXTRACT))
    assert (check.rows_read, check.accepted) == (23, 23)


def _checked(table: str, text: pl.DataFrame, parents: Parents) -> tuple[list, list]:
    own = Parents(EXTRACT, {t: f for t, f in parents.frames.items() if t != table})
    check = check_frame(table, text, Path(f"{table}.csv"), own)
    return sorted(check.problems.iter_rows(), key=str), check.valid.sort(ROW).rows()


@pytest.mark.parametrize("table", ["centres", "nice_ta", "referrals", "infusions", "followup"])
def test_a_file_checked_a_chunk_at_a_time_has_the_outcome_of_one_checked_whole(sample_checks, monkeypatch, table):
    """The rules that look across rows hold across chunks: duplicate keys (null ones too), a TA superseded by a TA
    further down the file, a date column day-first only in its first rows."""
    _, parents = sample_checks
    path = reference_path(table) if table == "nice_ta" else BAD_SUBMISSION / f"{table}.csv"
    text = pl.read_csv(path, infer_schema=False)
    key = submission.PRIMARY_KEYS[table]
    text = pl.concat([text, text.head(2), text.head(2).with_columns(pl.lit(None, dtype=pl.Utf8).alias(key))])
    dates = [c for c, dtype in submission.polars_schema(table).items() if dtype == pl.Date]
    if dates:
        text = text.with_columns(
            pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("14/03/2025")).otherwise(pl.col(dates[0])).alias(dates[0])
        )
    text = text.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    whole = _checked(table, text, parents)
    monkeypatch.setattr(submission, "CHUNK_ROWS", 3)
    assert _checked(table, text, parents) == whole
    assert any(rule == "field_uniqueness" for _, _, rule, _ in whole[0])


def test_day_first_dates_throughout_a_file_checked_in_chunks_refuse_it(monkeypatch, tmp_path):
    monkeypatch.setattr(submission, "CHUNK_ROWS", 3)
    test_day_first_dates_throughout_a_file_refuse_it_with_the_fix(tmp_path)


def test_the_parents_read_before_a_batch_come_from_the_declared_references():
    from dashboard.ingest import STORED_PARENTS

    assert STORED_PARENTS == {
        "centres": ["centre_code"],
        "products": ["product_code"],
        "nice_ta": ["ta_code"],
        "referrals": ["referral_id", "referral_date"],
        "infusions": ["episode_id", "centre_code"],
    }
