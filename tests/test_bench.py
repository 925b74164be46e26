"""Benchmarks are not tests; this only checks that `make bench` still runs, on a tiny tier."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        # This checkout's packages (testkit, dashboard), not whichever copy the environment has installed.
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_benchmarks_run_on_a_tiny_tier(tmp_path):
    result = bench("bench/run.py", "--tiers", "tiny", "--repeat", "1", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    tiny = report["tiers"]["tiny"]
    assert tiny["episodes"] == 200
    assert {p["page"] for p in tiny["pages"]} == {
        "overview",
        "toxicity",
        "itu",
        "nice_ta",
        "exceptions",
        "products",
        "centres",
        "data_quality",
        "cases",
        "meetings",
    }
    assert "| tiny | 200 |" in result.stdout


def test_the_early_warning_bench_runs_and_its_simulation_agrees_with_the_threshold(tmp_path):
    result = bench("bench/early_warning.py", "--runs", "400", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "early-warning.json").read_text())
    for row in report["run_lengths"]:
        # 400 charts: the simulated run length within 5 standard errors of the one the threshold was chosen for.
        assert abs(row["simulated_run_length"] - row["asked_run_length"]) < 5 * row["simulated_error"] + 1, row
        assert row["doubled_run_length"] < row["asked_run_length"] / 2
    assert all(r["first_warning_infused_on"] for r in report["doubled_centre"])
