"""Warm page runs under AppTest: every page, default filters and one filtered state, on a tier's store.

    python bench/pages.py [--tier stress] [--repeat 5]

A first run loads and caches the data (as a live server would have done already); the figures are the runs after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

from testkit.pages import PAGES

ROOT = Path(__file__).resolve().parents[1]
FILTERED = {"product": ["axi-cel"], "age": ["adults"], "start": dt.date(2023, 1, 1), "centre": ["MID02"]}


def time_page(page_file: str, state: dict | None, repeat: int) -> list[float]:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from dashboard import sample

    PagesManager.uses_pages_directory = False
    sample.demo_allowed = lambda data: True  # the tiers are generated, not the sample: demo mode would be refused
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    for key, value in (state or {}).items():
        app.session_state[key] = value
    app.run()
    app.switch_page(page_file).run()  # first run of the page: its caches fill
    assert not app.exception, app.exception
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        app.run()
        samples.append(time.perf_counter() - start)
        assert not app.exception, app.exception
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="stress")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    database = ROOT / "bench" / ".data" / f"{args.tier}.db"
    os.environ["CARTGOV_DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("CARTGOV_SNAPSHOT_DIR", str(ROOT / "bench" / ".data" / "snapshots"))
    os.chdir(ROOT)
    results = []
    for page_file in PAGES.values():
        page = Path(page_file).stem  # named by its file, as bench/baseline.py names its pages
        for label, state in (("default", None), ("filtered", FILTERED)):
            samples = time_page(page_file, state, args.repeat)
            results.append(
                {
                    "page": page,
                    "state": label,
                    "median_s": round(statistics.median(samples), 3),
                    "min_s": round(min(samples), 3),
                    "max_s": round(max(samples), 3),
                }
            )
            print(
                f"{page:14} {label:9} {results[-1]['median_s']:.3f} s ({results[-1]['min_s']:.3f}-"
                f"{results[-1]['max_s']:.3f})",
                flush=True,
            )
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / f"pages-{args.tier}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
