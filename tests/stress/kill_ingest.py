"""SIGKILL an ingest at random moments and check that the store is always as before or as after, never in between.

On demand, not part of the test suite:

    python -m tests.stress.kill_ingest --backend sqlite --runs 20 --seed 1
    CARTGOV_TEST_DATABASE_URL=$(scripts/ensure-postgres) \
        python -m tests.stress.kill_ingest --backend postgresql --runs 10 --seed 1

Each run seeds a fresh store with sample_data/, starts `cartgov ingest` of a synthetic submission of 20,000 infusions,
and kills it with SIGKILL after a delay drawn uniformly over the ingest's normal duration (measured first, with one
uninterrupted run). The store must then hold exactly what it held before (row counts of every table, quarantine,
ingest_batches, data_version) or exactly what a complete ingest leaves, and running the same ingest again must
complete with the expected totals and leave the store as a complete ingest does. Exit status 1 on any inconsistency.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from dashboard import store, synthetic
from dashboard.ingest import ingest
from tests.conftest import PROJECT_ROOT, SAMPLE
from tests.test_ingest import counts

BEFORE, AFTER, FINISHED = "killed before commit", "killed after commit", "ingest finished before the kill"


@contextlib.contextmanager
def fresh_store(backend: str, folder: Path) -> Iterator[str]:
    """The URL of a new store seeded with sample_data/: a SQLite file, or a PostgreSQL database dropped afterwards."""
    name = f"cartgov_kill_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        url = f"sqlite:///{folder / f'{name}.db'}"
        admin = None
    else:
        admin = sa.create_engine(os.environ["CARTGOV_TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        ingest(store.engine_for(url), [SAMPLE])
        store.engine_for(url).dispose()
        yield url
    finally:
        store.engine_for(url).dispose()
        if admin is None:
            for leftover in folder.glob(f"{name}.db*"):  # the file, its WAL and shared memory
                leftover.unlink()
        else:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def start_ingest(url: str, submission: Path, snapshots: Path) -> subprocess.Popen:
    env = {**os.environ, "CARTGOV_DATABASE_URL": url, "CARTGOV_SNAPSHOT_DIR": str(snapshots)}
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard", "ingest", str(submission), "--format", "json"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def totals(stdout: str) -> list[tuple]:
    """What the ingest says it read, accepted and quarantined, file by file."""
    return [(f["table"], f["rows_read"], f["accepted"], f["quarantined"]) for f in json.loads(stdout)["files"]]


def settle(url: str, timeout: float = 60) -> None:
    """Wait until the killed client's server backend has gone (PostgreSQL finishes or rolls back on its own)."""
    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while (
            connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
    engine.dispose()


def state(url: str) -> dict:
    engine = store.engine_for(url)
    try:
        return counts(engine)
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill delays")
    parser.add_argument("--episodes", type=int, default=20_000)
    args = parser.parse_args()
    if args.backend == "postgresql" and not os.environ.get("CARTGOV_TEST_DATABASE_URL"):
        parser.error("set CARTGOV_TEST_DATABASE_URL to the admin URL that scripts/ensure-postgres prints")
    rng = random.Random(args.seed)
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="kill-ingest-") as tmp:
        folder = Path(tmp)
        submission = folder / "submission"
        synthetic.generate(submission, args.episodes, seed=11)

        # One uninterrupted run: how long an ingest takes, and what it leaves.
        with fresh_store(args.backend, folder) as url:
            before = state(url)
            clock = time.monotonic()
            process = start_ingest(url, submission, folder / "snapshots")
            stdout, stderr = process.communicate()
            duration = time.monotonic() - clock
            if process.returncode != 0:
                print(f"the uninterrupted ingest failed (exit {process.returncode}): {stderr.strip()}")
                return 1
            expected_totals, after = totals(stdout), state(url)
        print(
            f"{args.backend}: uninterrupted ingest of {args.episodes} infusions took {duration:.1f} s; "
            f"kills drawn uniformly over 0-{duration:.1f} s, seed {args.seed}"
        )
        print(f"{'run':>4} {'delay s':>8}  {'outcome':<32} {'rerun s':>8}  result")

        outcomes, failures = collections.Counter(), 0
        for run in range(1, args.runs + 1):
            delay = rng.uniform(0, duration)
            with fresh_store(args.backend, folder) as url:
                problems = []
                if state(url) != before:
                    problems.append("the seeded store differs from the first one")
                process = start_ingest(url, submission, folder / f"snapshots-{run}")
                time.sleep(delay)
                process.send_signal(signal.SIGKILL)
                stdout, _ = process.communicate()
                settle(url)
                now = state(url)
                if process.returncode != -signal.SIGKILL:  # it ended on its own before the signal arrived
                    outcome = FINISHED
                    if process.returncode != 0 or totals(stdout) != expected_totals:
                        problems.append(f"the ingest ended with exit {process.returncode} or other totals")
                else:
                    outcome = BEFORE if now == before else AFTER if now == after else "INCONSISTENT"
                if now != (before if outcome == BEFORE else after):
                    problems.append(f"store left in between: {now} (before {before}, after {after})")

                clock = time.monotonic()
                rerun = start_ingest(url, submission, folder / f"snapshots-{run}")
                stdout, stderr = rerun.communicate()
                rerun_time = time.monotonic() - clock
                if rerun.returncode != 0:
                    problems.append(f"the rerun failed (exit {rerun.returncode}): {stderr.strip()[:200]}")
                elif totals(stdout) != expected_totals:
                    problems.append(f"the rerun reported {totals(stdout)}, not {expected_totals}")
                elif state(url) != after:
                    problems.append(f"after the rerun the store holds {state(url)}, not {after}")
            outcomes[outcome] += 1
            failures += bool(problems)
            print(
                f"{run:>4} {delay:>8.2f}  {outcome:<32} {rerun_time:>8.1f}  "
                + ("ok" if not problems else "FAIL: " + "; ".join(problems))
            )

    print(f"\n{'outcome':<32} {'runs':>5}")
    for outcome in (BEFORE, AFTER, FINISHED, "INCONSISTENT"):
        print(f"{outcome:<32} {outcomes[outcome]:>5}")
    print(f"{'inconsistent or failed runs':<32} {failures:>5}")
    print(f"{args.runs} runs on {args.backend} in {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
