"""Metric engine speed: every proportion metric for all centres with funnel limits, once the frames are loaded.

    python bench/metrics.py [--tier stress] [--repeat 5]

Uses the store cached by bench/foundation.py (bench/.data/<tier>.db). Prints the median, min and max per metric and
writes bench/results/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="stress")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("CARTGOV_SNAPSHOT_DIR", str(ROOT / "bench" / ".data" / "snapshots"))
    from dashboard import metrics, store
    from dashboard.filters import Filters
    from dashboard.loaders import load_dataset

    database = ROOT / "bench" / ".data" / f"{args.tier}.db"
    if not database.exists():
        raise SystemExit(f"{database} is missing: run `python bench/foundation.py --tiers {args.tier}` first")
    data = load_dataset(store.engine_for(f"sqlite:///{database}"))
    start = time.perf_counter()
    metrics.episode_table(data)  # built once per loaded data version, then shared by every metric
    episodes_s = time.perf_counter() - start
    results = {
        "tier": args.tier,
        "infusions": data["infusions"].height,
        "episodes_build_s": round(episodes_s, 3),
        "metrics": {},
    }
    for metric_id in metrics.proportions():
        samples = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            metrics.compute(data, metric_id, by="centre")
            samples.append(time.perf_counter() - start)
        results["metrics"][metric_id] = {
            "median_s": round(statistics.median(samples), 4),
            "min_s": round(min(samples), 4),
            "max_s": round(max(samples), 4),
        }
    # The first signals view of a filter state (the overview caches it per state): the default period and three
    # others, each computed once, as a first visitor to that view would.
    default = Filters().dated(data.extract_date)
    centre = data["centres"]["centre_code"][0]
    states = {
        "default period": default,
        "one centre": replace(default, centre=(centre,)),
        "one product, adults": replace(default, product=("axi-cel",), age=("adults",)),
        "all time": Filters(),
    }
    results["signals_s"] = {}
    for name, state in states.items():
        start = time.perf_counter()
        metrics.signals(data, state)
        results["signals_s"][name] = round(time.perf_counter() - start, 3)
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{args.tier}: {results['infusions']:,} infusions; episode table built once in {episodes_s:.2f} s")
    print("| metric (by centre, default adjustment, with funnel limits) | median (s) | min-max (s) |")
    print("| --- | ---: | ---: |")
    for metric_id, r in results["metrics"].items():
        print(f"| {metric_id} | {r['median_s']:.3f} | {r['min_s']:.3f}-{r['max_s']:.3f} |")
    for name, seconds in results["signals_s"].items():
        print(f"signals (every metric, SPC, completeness, TA), first view, {name}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
