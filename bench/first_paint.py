"""First paint in Chromium: every page's full load to its first chart and to idle, beside a one-chart floor page.

    python bench/first_paint.py [--repeat 5] [--out bench/results]

The app serves the synthetic sample (demo mode) and Streamlit serves bench/floor_app.py, in the same run, from the
same install, config file and pinned options. Each load is a new browser context (nothing cached), taken in rounds:
the floor, then every page, so that both see the same machine. Reports medians and each page's ratio to the floor's
first chart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dashboard.server import PINNED
from testkit.browser import IDLE, launch
from testkit.pages import PAGE_PATHS
from testkit.served import free_port, running, serve

ROOT = Path(__file__).resolve().parents[1]
CHART = ".stPlotlyChart .js-plotly-plot .main-svg"
# The centre page draws its charts once a centre is picked; every other page opens as a link from the pack would.
OPENED = {path: f"{path}?centre=MID02" if path == "centres" else path for path in PAGE_PATHS}


@contextlib.contextmanager
def floor_served():
    """bench/floor_app.py under `streamlit run` with `cartgov serve`'s pinned options, on a free port, checked."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "bench/floor_app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            *PINNED,  # the options `cartgov serve` pins (no file watcher, no full collection after each run)
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    with running(process, url, 60, "the floor page did not answer its health check"):
        yield url


def load(browser, url: str) -> tuple[float, float]:
    """Seconds from navigation to the first chart drawn, and to the app idle after it, in a fresh context."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.locator(CHART).first.wait_for(timeout=120_000)
    chart = time.perf_counter() - start
    page.wait_for_selector(IDLE, timeout=120_000)
    idle = time.perf_counter() - start
    context.close()
    return chart, idle


def measure(repeat: int, pages: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        database = f"sqlite:///{scratch}/sample.db"
        env = {**os.environ, "CARTGOV_DATABASE_URL": database, "CARTGOV_SNAPSHOT_DIR": f"{scratch}/snapshots"}
        subprocess.run([sys.executable, "-m", "dashboard", "seed"], cwd=ROOT, env=env, check=True, capture_output=True)
        with (
            serve(database, Path(scratch) / "snapshots") as (app, _),
            floor_served() as floor,
            sync_playwright() as playwright,
        ):
            browser = launch(playwright)
            targets = {"floor": floor, **{path: f"{app}/{OPENED[path]}" for path in pages}}
            for url in targets.values():
                load(browser, url)  # the servers' first sessions: imports, the data loaded and cached
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
            for _ in range(repeat):
                for name, url in targets.items():
                    samples[name].append(load(browser, url))
            browser.close()
    floor_chart = statistics.median(chart for chart, _ in samples["floor"])
    return {
        name: {
            "first_chart_s": round(statistics.median(chart for chart, _ in runs), 3),
            "idle_s": round(statistics.median(idle for _, idle in runs), 3),
            "max_first_chart_s": round(max(chart for chart, _ in runs), 3),
            "ratio_to_floor": round(statistics.median(chart for chart, _ in runs) / floor_chart, 2),
            "runs": len(runs),
        }
        for name, runs in samples.items()
    }


def render(result: dict) -> str:
    lines = [
        "| page | first chart (s) | idle (s) | slowest first chart (s) | ratio to the floor |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result.items():
        lines.append(
            f"| {name} | {row['first_chart_s']:.2f} | {row['idle_s']:.2f} | {row['max_first_chart_s']:.2f} "
            f"| {row['ratio_to_floor']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pages", default=",".join(PAGE_PATHS), help="comma-separated page paths")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    result = measure(args.repeat, args.pages.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "first-paint.json").write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))


if __name__ == "__main__":
    main()
