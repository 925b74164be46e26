"""Shared fixtures: stores on a real SQLite file and a real PostgreSQL server, the sample, a served app."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa

from testkit.browser import ChromiumMissing, launch
from testkit.browser import chromium_path as find_chromium
from testkit.served import free_port
from testkit.served import serve as serve_app

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = PROJECT_ROOT / "sample_data"
BAD_SUBMISSION = SAMPLE / "bad_submission"
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> NoReturn:
    """Outside CI a missing server or browser skips; in CI it fails, because those tests must run there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_snapshots(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTGOV_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    monkeypatch.delenv("CARTGOV_DATABASE_URL", raising=False)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> str:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    admin_url = os.environ.get("CARTGOV_TEST_DATABASE_URL")
    if not admin_url:
        missing("no PostgreSQL server: set CARTGOV_TEST_DATABASE_URL (make test does)")
    name = f"cartgov_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        missing(f"PostgreSQL at {admin.url.render_as_string()} unreachable: {error}")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    yield url
    from dashboard import store

    store.engine_for(url).dispose()
    for attempt in range(20):  # an autovacuum worker visiting the new database cannot be forced out: wait for it
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            break
        except sa.exc.DBAPIError:
            if attempt == 19:
                raise
            time.sleep(0.5)
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request) -> str:
    """Each store test runs on both back ends."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `cartgov` as a user would, in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture
def seeded_sqlite(sqlite_url) -> str:
    from dashboard import store
    from dashboard.ingest import ingest

    ingest(store.engine_for(sqlite_url), [SAMPLE])
    return sqlite_url


def chromium_path() -> str:
    try:
        return find_chromium()
    except ChromiumMissing:
        missing("Debian's chromium is not installed (make test installs it when run as root)")


@dataclass(frozen=True)
class Served:
    url: str  # where the browser goes
    database_url: str  # the store behind it
    pid: int  # the server process (`cartgov serve` execs Streamlit in place)


@contextlib.contextmanager
def serve(database_url: str, snapshots: Path, log: Path, extra_env: dict | None = None):
    """The app as `cartgov serve` starts it, on a free port, health-checked before use."""
    with contextlib.ExitStack() as stack:
        try:
            url, pid = stack.enter_context(serve_app(database_url, snapshots, log, extra_env, timeout=60))
        except RuntimeError as error:  # did not start: a failure of this test, with the server's log
            pytest.fail(str(error))
        yield Served(url, database_url, pid)


NATIONAL = {"X-Forwarded-Email": "panel@example.nhs.uk"}  # what the proxy sends for a national panel member


def national_env(folder: Path) -> dict:
    """A served app behind the trusted header, for data that is not the bundled sample (demo mode is refused)."""
    (folder / "access.toml").write_text('[users."panel@example.nhs.uk"]\nrole = "national"\n')
    return {"CARTGOV_AUTH_MODE": "header", "CARTGOV_ACCESS_FILE": str(folder / "access.toml")}


@pytest.fixture
def served_app(seeded_sqlite, tmp_path):
    """A served app of its own, for a test that changes the store (a national panel member, behind the header)."""
    with serve(
        seeded_sqlite, Path(os.environ["CARTGOV_SNAPSHOT_DIR"]), tmp_path / "serve.log", national_env(tmp_path)
    ) as served:
        yield served


@pytest.fixture(scope="module")
def served_sample(tmp_path_factory):
    """One served app on the seeded sample, shared by the read-only browser tests of a module."""
    from dashboard import store
    from dashboard.ingest import ingest

    folder = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{folder / 'store.db'}"
    ingest(store.engine_for(url), [SAMPLE])
    with serve(url, folder / "snapshots", folder / "serve.log") as served:
        yield served


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = launch(playwright, executable)
        yield launched
        launched.close()


class PrivatePostgres:
    """A PostgreSQL server of one test's own (initdb in a temporary folder), which the test may stop and start
    without disturbing the shared server other tests use. Its role has a password of its own."""

    def __init__(self, folder: Path, password: str):
        binaries = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
        if not (binaries / "initdb").exists():
            candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
            if not candidates:
                missing("PostgreSQL's initdb is not installed")
            binaries = candidates[-1].parent
        self.binaries, self.folder, self.port, self.password = binaries, folder, free_port(), password
        self.url = f"postgresql+psycopg://cartgov:{password}@127.0.0.1:{self.port}/cartgov"
        folder.mkdir(mode=0o700)
        (folder / "pw").write_text(password)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(folder, "postgres", "postgres")
            shutil.chown(folder / "pw", "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(folder / "data"),
            "-U",
            "cartgov",
            "--pwfile",
            str(folder / "pw"),
            "--auth",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()
        self._run(
            "createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "cartgov",
            "cartgov",
            env={"PGPASSWORD": password},
        )

    def _run(self, tool: str, *args: str, env: dict | None = None) -> None:
        command = [str(self.binaries / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, cwd=self.folder, timeout=120, env={**os.environ, **(env or {})}
        )
        if result.returncode:
            pytest.fail(f"{tool} failed: {result.stderr}")

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres():
    if not shutil.which("pg_config") and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing("PostgreSQL is not installed")
    folder = Path(tempfile.mkdtemp(prefix="cartgov-pg-")) / "cluster"
    folder.parent.chmod(0o755)  # the postgres user must reach the cluster's own (private) folder
    server = PrivatePostgres(folder, password=f"pw-{uuid.uuid4().hex}")
    yield server
    from dashboard import store

    store.engine_for(server.url).dispose()
    with contextlib.suppress(Exception):
        server.stop()
    shutil.rmtree(folder.parent, ignore_errors=True)
