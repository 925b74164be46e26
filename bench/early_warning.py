"""The early warning's thresholds checked by simulation, and how soon it warns.

    python bench/early_warning.py [--runs 4000] [--out bench/results]

For each watched metric, at a typical centre's volume on the sample (England's product mix and rates): the threshold
the Markov chain gives for five years between false warnings, the in-control run length a simulation finds at that
threshold, and the run length once the odds of the event double, in patients and in weeks of that centre's patients.
Then, on the registry tier (100,000 infusions) with one centre's toxicity doubled in its last quarter, the days from
the change to the first warning, against the quarter's end (when its funnel could first be drawn).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl

from dashboard import stats, synthetic
from dashboard.filters import Filters
from dashboard.metrics import early_warning
from dashboard.metrics.definitions import definition
from dashboard.metrics.episodes import episode_table
from testkit.datasets import generated

ROOT = Path(__file__).resolve().parents[1]
DOUBLED = "LDN01"  # a large centre of the synthetic data


def simulated(risks: np.ndarray, shares: np.ndarray, threshold: float, odds_ratio: float, runs: int) -> tuple:
    """Mean patients to the first crossing over `runs` charts (and its standard error), risks drawn from the mix."""
    rng = np.random.default_rng(2026)
    level, stopped, alive, patients = np.zeros(runs), np.zeros(runs), np.ones(runs, dtype=bool), 0
    up, down = stats.cusum_scores(risks, early_warning.ODDS_RATIO)
    true = odds_ratio * risks / (1 - risks + odds_ratio * risks)
    while alive.any():
        patients += 1
        kind = rng.choice(len(risks), size=runs, p=shares / shares.sum())
        event = rng.random(runs) < true[kind]
        level = np.where(alive, np.maximum(0.0, level + np.where(event, up[kind], down[kind])), level)
        done = alive & (level >= threshold)
        stopped[done] = patients
        alive &= ~done
    return float(stopped.mean()), float(stopped.std() / math.sqrt(runs))


def run_lengths(runs: int) -> list[dict]:
    data = generated(synthetic.SAMPLE_EPISODES, synthetic.SAMPLE_SEED)
    levels = early_warning.thresholds(data)
    as_of = data.extract_date or dt.date.today()
    rows = []
    for metric_id in early_warning.WATCHED:
        numerator, denominator = definition(metric_id, as_of)
        mix = (
            episode_table(data)
            .filter(denominator)
            .group_by("product_code")
            .agg(pl.len().alias("patients"), numerator.mean().alias("risk"))
        )
        risks, shares = mix["risk"].to_numpy().astype(float), mix["patients"].to_numpy().astype(float)
        typical = levels.filter(pl.col("metric") == metric_id)["patients_a_year"].min()
        run_length = typical * early_warning.YEARS_BETWEEN_FALSE_ALARMS
        (threshold,) = stats.cusum_thresholds(risks, shares, early_warning.ODDS_RATIO, np.array([run_length]))
        in_control, error = simulated(risks, shares, threshold, 1.0, runs)
        shifted, shifted_error = simulated(risks, shares, threshold, early_warning.ODDS_RATIO, runs)
        rows.append(
            {
                "metric": metric_id,
                "england_rate": float((risks * shares).sum() / shares.sum()),
                "typical_patients_a_year": round(typical, 1),
                "threshold": round(float(threshold), 3),
                "asked_run_length": round(run_length, 1),
                "simulated_run_length": round(in_control, 1),
                "simulated_error": round(error, 1),
                "doubled_run_length": round(shifted, 1),
                "doubled_error": round(shifted_error, 1),
                "doubled_weeks": round(shifted / typical * 52, 1),
            }
        )
    return rows


def doubled_centre() -> list[dict]:
    """Days from the start of the change to each watched metric's first crossing at the doubled centre."""
    data = generated(100_000, 5, DOUBLED)
    as_of = data.extract_date or dt.date.today()
    changed = as_of - dt.timedelta(days=synthetic.WORSE_DAYS)
    view = Filters(centre=(DOUBLED,)).dated(as_of)
    rows = []
    for metric_id in early_warning.WATCHED:
        chart = early_warning.series(data, metric_id, view)
        after = chart.filter(pl.col("infusion_date") > changed)
        first = after.filter(pl.col("crossed"))["infusion_date"].min()
        rows.append(
            {
                "metric": metric_id,
                "patients_in_quarter": after.height,
                "first_warning_infused_on": str(first) if first else None,
                "days_after_change": (first - changed).days if first else None,
                "days_before_quarter_end": (as_of - first).days if first else None,
            }
        )
    return rows


def measure(runs: int) -> dict:
    return {"run_lengths": run_lengths(runs), "doubled_centre": doubled_centre()}


def render(result: dict) -> str:
    lines = [
        "| metric | England | typical patients a year | threshold | run length asked (patients) | simulated "
        "| odds doubled: run length (patients) | in weeks |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["run_lengths"]:
        lines.append(
            f"| {r['metric']} | {r['england_rate']:.1%} | {r['typical_patients_a_year']} | {r['threshold']:.2f} "
            f"| {r['asked_run_length']:.0f} | {r['simulated_run_length']:.0f} ± {r['simulated_error']:.0f} "
            f"| {r['doubled_run_length']:.0f} ± {r['doubled_error']:.0f} | {r['doubled_weeks']:.0f} |"
        )
    lines += ["", f"Registry tier, {DOUBLED}'s toxicity doubled in the three months to the extract date:", ""]
    for r in result["doubled_centre"]:
        lines.append(
            f"- {r['metric']}: {r['patients_in_quarter']} patients in the quarter; first warning on a patient infused "
            f"{r['days_after_change']} days after the change, {r['days_before_quarter_end']} days before the "
            "quarter ended"
            if r["first_warning_infused_on"]
            else f"- {r['metric']}: no warning within the quarter"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    result = measure(args.runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "early-warning.json").write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))


if __name__ == "__main__":
    main()
