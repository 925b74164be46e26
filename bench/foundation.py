"""Foundation figures: `cartgov generate` at a tier, ingest into SQLite, and the load of validated frames.

    python bench/foundation.py [--tiers sample,stress] [--repeat 3]

Each figure is the median of --repeat runs (min and max beside it). Generated data and the stores are cached under
bench/.data between runs. The load is timed in a new process each time, once the columnar snapshot exists: the
imports (Polars, Pandera, SQLAlchemy) apart, then store -> snapshot -> validated frames.
Results go to bench/results/foundation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
RESULTS = ROOT / "bench" / "results"
TIERS = {"tiny": 200, "10k": 10_000, "sample": 3000, "registry": 100_000, "stress": 1_000_000}
CLI = [sys.executable, "-m", "dashboard"]
# The stress tier's files (about 110 MB each) are bigger than an ingest takes by default; bench/run.py imports this.
os.environ.setdefault("CARTGOV_MAX_FILE_BYTES", str(1024 * 1024 * 1024))

LOAD = """
import time
t = time.perf_counter()
from dashboard import store
from dashboard.loaders import load_dataset
imported = time.perf_counter()
data = load_dataset(store.engine_for({url!r}))
assert data["infusions"].height == {episodes}
print(imported - t, time.perf_counter() - imported)
"""


def _timed(command: list[str], **kwargs) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, **kwargs)
    return time.perf_counter() - start


def _summary(samples: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(samples), 3),
        "min_s": round(min(samples), 3),
        "max_s": round(max(samples), 3),
        "runs": len(samples),
    }


def bench_tier(tier: str, repeat: int) -> dict:
    episodes = TIERS[tier]
    env = {"CARTGOV_SNAPSHOT_DIR": str(DATA / "snapshots")}
    generate = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            generate.append(_timed([*CLI, "generate", "--out", out, "--episodes", str(episodes), "--seed", "1"]))
    submission = DATA / tier
    if not (submission / "manifest.toml").exists():
        _timed([*CLI, "generate", "--out", str(submission), "--episodes", str(episodes), "--seed", "1"])

    ingest = []
    for _ in range(max(1, repeat if episodes <= 100_000 else 1)):
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{scratch}/store.db"
            ingest.append(
                _timed(
                    [*CLI, "ingest", str(submission), "--database-url", url],
                    env={**dict(os.environ), "CARTGOV_SNAPSHOT_DIR": f"{scratch}/snapshots"},
                )
            )

    database = DATA / f"{tier}.db"
    url = f"sqlite:///{database}"
    if not database.exists():
        subprocess.run(
            [*CLI, "ingest", str(submission), "--database-url", url],
            check=True,
            capture_output=True,
            cwd=ROOT,
            env={**dict(os.environ), **env},
        )
    imports, load = [], []
    for _ in range(repeat):
        result = subprocess.run(
            [sys.executable, "-c", LOAD.format(url=url, episodes=episodes)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**dict(os.environ), **env},
        )
        seconds = [float(x) for x in result.stdout.split()]
        imports.append(seconds[0])
        load.append(seconds[1])
    return {
        "tier": tier,
        "episodes": episodes,
        "generate": _summary(generate),
        "ingest_sqlite": _summary(ingest),
        "python_imports": _summary(imports),
        "load_validated_frames": _summary(load),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default="sample,stress")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="discard cached data and stores first")
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = [bench_tier(tier, args.repeat) for tier in args.tiers.split(",")]
    (RESULTS / "foundation.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(
        "| tier | infusions | generate (s) | ingest SQLite (s) | imports, new process (s) | load validated frames (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        cells = [
            f"{r[k]['median_s']:.2f} ({r[k]['min_s']:.2f}-{r[k]['max_s']:.2f})"
            for k in ("generate", "ingest_sqlite", "python_imports", "load_validated_frames")
        ]
        print(f"| {r['tier']} | {r['episodes']:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
