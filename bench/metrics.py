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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="stress")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("CARTGOV_SNAPSHOT_DIR", str(ROOT / "bench" / ".data" / "snapshots"))
    from dashboard import metrics, store
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
    start = time.perf_counter()
    metrics.signals(data)
    results["signals_s"] = round(time.perf_counter() - start, 3)
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{args.tier}: {results['infusions']:,} infusions; episode table built once in {episodes_s:.2f} s")
    print("| metric (by centre, default adjustment, with funnel limits) | median (s) | min-max (s) |")
    print("| --- | ---: | ---: |")
    for metric_id, r in results["metrics"].items():
        print(f"| {metric_id} | {r['median_s']:.3f} | {r['min_s']:.3f}-{r['max_s']:.3f} |")
    print(f"signals (every metric, SPC, completeness, TA): {results['signals_s']:.2f} s")


if __name__ == "__main__":
    main()
