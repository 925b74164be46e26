"""`cartgov` as a user runs it: exit codes, messages without tracebacks, and the JSON of docs/design.md, Commands."""

from __future__ import annotations

import json

import polars as pl

from tests.conftest import BAD_SUBMISSION, SAMPLE, run_cli

# What a data manager is told about sample_data/bad_submission, file by file (see its README.md).
EXPECTED_BAD = {
    "centres": [(24, "nhs_region", "isin", "Wales")],
    "infusions": [
        (1, "age_at_infusion", "in_range(0, 110)", "140"),
        (2, "centre_code", "references(centres.centre_code)", "ZZZ99"),
        (3, "infusion_date", "iso_date", "14/03/2025"),
        (4, "product_code", "references(products.product_code)", "Axi-cel"),
        (5, "travel_exception_reason", "travel_reason_required_when_stay_short", None),
        (6, "sex", "isin", "M"),
        (7, "infusion_date", "not_after_extract_date(2026-09-30)", "2027-01-05"),
    ],
    "followup": [
        *[(row, "episode_id", "missing parent (infusions.episode_id)", f"EPX000000{row}") for row in range(1, 8)],
        (8, "crs_onset_day", "crs_onset_day_required_when_graded", None),
        (9, "crs_max_grade", "in_range(0, 4)", "5"),
        (10, "itu_reason", "itu_reason_required_when_admitted", None),
        (11, "episode_id", "missing parent (infusions.episode_id)", "EPX9999999"),
    ],
    "referrals": [],
}


def test_validate_accepts_the_sample(sqlite_url):
    result = run_cli("validate", str(SAMPLE), "--database-url", sqlite_url)
    assert result.returncode == 0, result.stderr
    assert "sample_data/infusions.csv (infusions): 3000 read, 3000 valid, 0 quarantined" in result.stdout


def test_validate_names_file_row_column_rule_and_value_for_each_bad_row(sqlite_url):
    result = run_cli("validate", str(BAD_SUBMISSION), "--format", "json", "--database-url", sqlite_url)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["batch_id"] is None
    by_table = {f["table"]: f for f in report["files"]}
    for table, expected in EXPECTED_BAD.items():
        got = [(p["row"], p["column"], p["rule"], p["value"]) for p in by_table[table]["problems"]]
        assert [(r, c, v) for r, c, _, v in got] == [(r, c, v) for r, c, _, v in expected], table
        assert all(g[2].startswith(e[2]) for g, e in zip(got, expected, strict=True)), got
        file = by_table[table]
        assert file["accepted"] + file["quarantined"] == file["rows_read"]
        assert file["quarantined"] == len({r for r, *_ in expected})


def test_validate_json_has_the_documented_shape(sqlite_url):
    report = json.loads(run_cli("validate", str(SAMPLE), "--format", "json", "--database-url", sqlite_url).stdout)
    assert set(report) == {"batch_id", "data_version", "files"}
    assert set(report["files"][0]) == {
        "path",
        "table",
        "rows_read",
        "accepted",
        "quarantined",
        "refused",
        "message",
        "problems",
    }


def test_validate_writes_nothing(sqlite_url):
    run_cli("validate", str(SAMPLE), "--database-url", sqlite_url)
    result = run_cli("validate", str(SAMPLE), "--format", "json", "--database-url", sqlite_url)
    assert json.loads(result.stdout)["data_version"] == 0


def test_a_missing_path_is_a_usage_error_without_traceback(sqlite_url):
    result = run_cli("validate", "no/such/folder", "--database-url", sqlite_url)
    assert result.returncode == 2
    assert result.stderr.strip() == "cartgov: no/such/folder: no such file or folder"
    assert "Traceback" not in result.stderr + result.stdout


def test_nothing_readable_exits_2_and_says_which_file_and_why(sqlite_url, tmp_path):
    (tmp_path / "infusions.csv").write_bytes(b"")
    result = run_cli(
        "validate", str(tmp_path), "--extract-date", "2026-09-30", "--format", "json", "--database-url", sqlite_url
    )
    assert result.returncode == 2
    file = json.loads(result.stdout)["files"][0]
    assert (file["refused"], file["accepted"]) == (True, 0)
    assert "infusions.csv: the file is empty" in file["message"]


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path):
    result = run_cli("validate", str(SAMPLE), "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert result.stderr.startswith("cartgov: OperationalError")
    assert "Traceback" not in result.stderr


def test_generate_writes_all_six_tables_deterministically(tmp_path):
    for folder in ("a", "b"):
        result = run_cli(
            "generate",
            "--out",
            str(tmp_path / folder),
            "--episodes",
            "200",
            "--seed",
            "9",
            "--as-of",
            "2025-12-31",
            "--format",
            "parquet",
        )
        assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [
        "centres.parquet",
        "followup.parquet",
        "infusions.parquet",
        "manifest.toml",
        "nice_ta.parquet",
        "products.parquet",
        "referrals.parquet",
    ]
    infusions = pl.read_parquet(tmp_path / "a" / "infusions.parquet")
    assert infusions.height == 200 and infusions["infusion_date"].max().isoformat() <= "2025-12-31"
    assert infusions.equals(pl.read_parquet(tmp_path / "b" / "infusions.parquet"))


def test_seed_is_idempotent(sqlite_url):
    first = run_cli("seed", "--database-url", sqlite_url)
    second = run_cli("seed", "--database-url", sqlite_url)
    assert first.returncode == second.returncode == 0, first.stderr
    expected = (
        "seeded: centres 23, products 5, nice_ta 11, referrals 4296, infusions 3000, followup 2891 (data version 1)"
    )
    assert first.stdout.strip() == second.stdout.strip() == expected


def test_seed_refuses_a_store_with_real_data(sqlite_url, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "centres.csv").write_bytes((SAMPLE / "centres.csv").read_bytes())
    assert run_cli("ingest", str(real), "--extract-date", "2026-09-30", "--database-url", sqlite_url).returncode == 0
    result = run_cli("seed", "--database-url", sqlite_url)
    assert result.returncode == 2
    assert "holds real (non-synthetic) data" in result.stderr
