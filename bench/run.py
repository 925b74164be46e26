"""`make bench`: every figure of issue 7 on the tiers, against the conventional approach, into bench/results/.

    python bench/run.py [--tiers 10k,sample,registry,stress] [--repeat 3] [--quick]

Writes bench/results/latest.json and bench/results/latest.md and prints the table. Generated data and stores are
cached in bench/.data between runs. Not a test: `make test` only smoke-runs it on a tiny tier.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import baseline  # beside this script: bench/ is the first entry of sys.path when it runs as `python bench/run.py`
import early_warning
import first_paint
import foundation
import load

from testkit.browser import IDLE, launch
from testkit.pages import PAGE_PATHS
from testkit.served import serve

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
RESULTS = ROOT / "bench" / "results"
TARGETS = {
    "cold_load_s": 3.0,
    "warm_page_s": 0.5,
    "filter_change_s": 1.5,
    "ingest_registry_s": 30.0,
    "ingest_stress_s": 300.0,
    "peak_memory_mib": 2048.0,
    "speedup": 5.0,
}


def summary(samples: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(samples), 4),
        "min_s": round(min(samples), 4),
        "max_s": round(max(samples), 4),
        "runs": len(samples),
    }


def warm_pages(tier: str, repeat: int) -> list[dict]:
    env = {**os.environ, "CARTGOV_SNAPSHOT_DIR": str(DATA / "snapshots")}
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pages.py"), "--tier", tier, "--repeat", str(repeat)],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    return json.loads((RESULTS / f"pages-{tier}.json").read_text())


def baseline_pages(tier: str, repeat: int) -> dict[str, dict]:
    from dashboard import store

    engine = store.engine_for(f"sqlite:///{DATA / f'{tier}.db'}")
    out = {}
    for page in baseline.PAGES:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            baseline.page_run(engine, page)
            samples.append(time.perf_counter() - start)
        out[page] = summary(samples)
    return out


def ingest_postgres(tier: str) -> dict | None:
    url = (
        os.environ.get("CARTGOV_TEST_DATABASE_URL")
        or subprocess.run([str(ROOT / "scripts" / "ensure-postgres")], capture_output=True, text=True).stdout.strip()
    )
    if not url:
        return None
    import sqlalchemy as sa

    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"cartgov_bench_{tier}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    target = admin.url.set(database=name).render_as_string(hide_password=False)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "dashboard", "ingest", str(DATA / tier), "--database-url", target],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "CARTGOV_SNAPSHOT_DIR": str(DATA / "snapshots-pg")},
    )
    seconds = time.perf_counter() - start
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return summary([seconds])


BENCH_USER = "bench@example.nhs.uk"


def served(tier: str):
    """The app on a tier's cached store, a national panel member signed in behind the trusted header."""
    access = DATA / "access.toml"  # generated tiers are not the sample: demo mode is refused, so sign in by header
    access.write_text(f'[users."{BENCH_USER}"]\nrole = "national"\n')
    return serve(
        f"sqlite:///{DATA / f'{tier}.db'}",
        DATA / "snapshots",
        env={"CARTGOV_AUTH_MODE": "header", "CARTGOV_ACCESS_FILE": str(access)},
    )


def filter_change(tier: str, repeat: int) -> dict:
    """From picking a product in the sidebar to the funnel redrawn with the new data, in Chromium."""
    from playwright.sync_api import sync_playwright

    samples = []
    with served(tier) as (url, _), sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(
            viewport={"width": 1400, "height": 1200}, extra_http_headers={"X-Forwarded-Email": BENCH_USER}
        )
        page.goto(f"{url}/toxicity?metric=icans_severe")
        page.wait_for_selector(IDLE, timeout=300_000)
        page.locator(".st-key-funnel .js-plotly-plot").wait_for(timeout=300_000)
        box = page.locator(".st-key-product")

        def change(*keys: str) -> float:
            before = page.evaluate("JSON.stringify(document.querySelector('.st-key-funnel .js-plotly-plot').data)")
            start = time.perf_counter()
            box.locator("input").click()
            for key in keys:
                if key in ("Enter", "Backspace"):
                    page.keyboard.press(key)
                else:
                    page.keyboard.type(key)
            page.keyboard.press("Escape")
            page.wait_for_function(
                "before => JSON.stringify(document.querySelector('.st-key-funnel .js-plotly-plot').data) !== before",
                arg=before,
                timeout=120_000,
            )
            return time.perf_counter() - start

        change("brexu-cel", "Enter")  # the first change warms the widget itself
        change("Backspace")
        for product in ["axi-cel", "tisa-cel", "liso-cel", "brexu-cel", "obe-cel"][:repeat]:
            samples.append(change(product, "Enter"))  # a product picked: the funnel redrawn for it
            samples.append(change("Backspace"))  # and removed again
        browser.close()
    return summary(samples)


def peak_memory(tier: str) -> float:
    """VmHWM of the app server after every page has been opened (MiB)."""
    from playwright.sync_api import sync_playwright

    with served(tier) as (url, pid), sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        for path in PAGE_PATHS:
            path += "?centre=MID02" if path == "centres" else ""  # the centre page draws its charts for one centre
            page.goto(f"{url}/{path}")
            page.wait_for_selector(IDLE, timeout=300_000)
            page.wait_for_timeout(500)
        browser.close()
        status = Path(f"/proc/{pid}/status").read_text()
    return round(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024, 1)


def first_visitor_after_ingest(tier: str) -> dict:
    """An ingest commits a new data version (and, as `cartgov ingest` does, writes its snapshot); then a new browser
    opens the overview. Seconds to its first chart and the version it shows; then seconds until a new browser is
    shown the new version (prepared in the background). On a copy of the tier's store."""
    from playwright.sync_api import sync_playwright

    from dashboard import store
    from dashboard.loaders import write_snapshot

    database = DATA / f"{tier}-fresh.db"
    shutil.copyfile(DATA / f"{tier}.db", database)
    snapshots = DATA / "snapshots-fresh"
    shutil.rmtree(snapshots, ignore_errors=True)
    access = DATA / "access.toml"
    access.write_text(f'[users."{BENCH_USER}"]\nrole = "national"\n')
    env = {
        "CARTGOV_AUTH_MODE": "header",
        "CARTGOV_ACCESS_FILE": str(access),
        "CARTGOV_VERSION_CHECK_SECONDS": "1",
        "CARTGOV_SNAPSHOT_DIR": str(snapshots),
    }

    def first_chart(browser, url: str) -> tuple[float, int]:
        page = browser.new_page(extra_http_headers={"X-Forwarded-Email": BENCH_USER})
        start = time.perf_counter()
        page.goto(f"{url}/overview")
        page.locator(".stPlotlyChart .js-plotly-plot").first.wait_for(timeout=300_000)
        seconds = time.perf_counter() - start
        caption = page.locator("p", has_text="data version").first.inner_text()
        page.close()
        return seconds, int(caption.rsplit("data version", 1)[1].split()[0])

    with serve(f"sqlite:///{database}", snapshots, env=env) as (url, _), sync_playwright() as playwright:
        browser = launch(playwright)
        first_chart(browser, url)  # the server's first visitor loads the version on show
        warm, before = first_chart(browser, url)
        writer = sqlite3.connect(database)
        writer.execute("UPDATE dataset SET data_version = data_version + 1")  # what an ingest's commit does
        writer.commit()
        writer.close()
        started = time.perf_counter()
        previous = os.environ.get("CARTGOV_SNAPSHOT_DIR")
        os.environ["CARTGOV_SNAPSHOT_DIR"] = str(snapshots)  # where the server looks for it
        write_snapshot(store.engine_for(f"sqlite:///{database}"))  # as `cartgov ingest` does after its commit
        if previous is None:
            del os.environ["CARTGOV_SNAPSHOT_DIR"]
        else:
            os.environ["CARTGOV_SNAPSHOT_DIR"] = previous
        snapshot = time.perf_counter() - started
        time.sleep(1.5)  # past the version check
        after, shown = first_chart(browser, url)
        started = time.perf_counter()
        newest = shown
        while newest == before and time.perf_counter() - started < 300:
            time.sleep(0.5)
            _, newest = first_chart(browser, url)
        ready = time.perf_counter() - started
        browser.close()
    database.unlink()
    shutil.rmtree(snapshots, ignore_errors=True)
    return {
        "warm_first_chart_s": round(warm, 2),
        "ingest_snapshot_s": round(snapshot, 2),
        "first_visitor_first_chart_s": round(after, 2),
        "first_visitor_version": "previous" if shown == before else "new",
        "new_version_shown_after_s": round(ready, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default="10k,sample,registry,stress")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="no browser, no PostgreSQL, no baseline")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.json and latest.md go")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"tiers": {}, "targets": TARGETS}
    for tier in args.tiers.split(","):
        print(f"tier {tier}...", flush=True)
        row = foundation.bench_tier(tier, args.repeat)
        row["pages"] = warm_pages(tier, args.repeat)
        if not args.quick:
            row["baseline_pages"] = baseline_pages(tier, args.repeat)
            if tier == "registry":
                row["ingest_postgresql"] = ingest_postgres(tier)
                row["filter_change"] = filter_change(tier, args.repeat)
            if tier == "sample":
                row["early_warning"] = early_warning.measure(runs=4000)
                row["first_paint"] = first_paint.measure(max(args.repeat, 5), PAGE_PATHS)
                row["sessions"] = {
                    replicas: load.run(sessions=50, seconds=90, tier="sample", client="protocol", replicas=replicas)
                    for replicas in (1, 2)
                }
            if tier == "stress":
                row["peak_memory_mib"] = peak_memory(tier)
                row["after_ingest"] = first_visitor_after_ingest(tier)
        report["tiers"][tier] = row
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    markdown = render(report)
    (args.out / "latest.md").write_text(markdown)
    print(markdown)


def render(report: dict) -> str:
    lines = [
        "| tier | infusions | generate (s) | ingest SQLite (s) | cold load (s) | slowest warm page (s) "
        "| baseline slowest page (s) | smallest speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for tier, row in report["tiers"].items():
        pages = {f"{p['page']}/{p['state']}": p["median_s"] for p in row["pages"]}
        slowest = max(pages.values())
        base = row.get("baseline_pages")
        if base:
            ours = {}
            for key, seconds in pages.items():
                ours[key.split("/")[0]] = max(ours.get(key.split("/")[0], 0), seconds)
            speedups = {p: base[p]["median_s"] / max(s, 1e-4) for p, s in ours.items()}
            base_cells = f"{max(b['median_s'] for b in base.values()):.2f} | {min(speedups.values()):.0f}x"
        else:
            base_cells = "- | -"
        cold = row["python_imports"]["median_s"] + row["load_validated_frames"]["median_s"]
        lines.append(
            f"| {tier} | {row['episodes']:,} | {row['generate']['median_s']:.2f} | "
            f"{row['ingest_sqlite']['median_s']:.2f} | {cold:.2f} | {slowest:.3f} | {base_cells} |"
        )
    extra = []
    for tier, row in report["tiers"].items():
        if row.get("ingest_postgresql"):
            extra.append(f"- ingest {tier} on PostgreSQL: {row['ingest_postgresql']['median_s']:.1f} s")
        if row.get("filter_change"):
            fc = row["filter_change"]
            extra.append(
                f"- filter change to redrawn funnel in Chromium ({tier}): {fc['median_s']:.2f} s "
                f"(min {fc['min_s']:.2f}, max {fc['max_s']:.2f}, {fc['runs']} changes)"
            )
        if row.get("peak_memory_mib"):
            extra.append(f"- peak memory of the app server after every page ({tier}): {row['peak_memory_mib']} MiB")
        if row.get("early_warning"):
            extra.append(
                "- the early warning's thresholds, by simulation ("
                + tier
                + "):\n\n"
                + early_warning.render(row["early_warning"])
            )
        if row.get("first_paint"):
            fp = row["first_paint"]
            pages = ", ".join(f"{name} {r['ratio_to_floor']:.2f}x" for name, r in fp.items() if name != "floor")
            floor = fp["floor"]["first_chart_s"]
            extra.append(
                f"- first chart in Chromium ({tier}), against the one-chart floor page's {floor:.2f} s: {pages}"
            )
        for replicas, report in (row.get("sessions") or {}).items():
            t = report["page_time"]
            extra.append(
                f"- 50 sessions over the websocket ({tier}), {replicas} replica{'s' if replicas > 1 else ''}: page run "
                f"p50 {t['p50_s']} s, p95 {t['p95_s']} s, {len(report['errors'])} errors, {len(report['leaks'])} leaks"
            )
        if row.get("after_ingest"):
            a = row["after_ingest"]
            extra.append(
                f"- first visitor after an ingest ({tier}): first chart in {a['first_visitor_first_chart_s']:.2f} s "
                f"showing the {a['first_visitor_version']} version (a warm visitor: {a['warm_first_chart_s']:.2f} s); "
                f"the new version shown {a['new_version_shown_after_s']:.0f} s later, prepared in the background"
            )
    return "\n".join(lines + [""] + extra) + "\n"


if __name__ == "__main__":
    main()
