"""The app as `cartgov serve` starts it, on a free loopback port, health-checked: for the benchmarks and the tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(database_url: str, snapshots: Path, log: Path | None = None, env: dict | None = None, timeout: float = 120):
    """Yields (url, pid) once the app answers its health check (`cartgov serve` execs Streamlit: pid is the server).

    Raises RuntimeError, with the end of the log, when it does not answer within `timeout` seconds or exits first.
    """
    port = free_port()
    output = log.open("w") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "serve", "--port", str(port), "--address", "127.0.0.1"],
        cwd=ROOT,
        env={**os.environ, "CARTGOV_DATABASE_URL": database_url, "CARTGOV_SNAPSHOT_DIR": str(snapshots), **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def said() -> str:
        return log.read_text()[-3000:] if log else "(no log kept)"

    with running(process, url, timeout, "the app did not answer its health check: ", said):
        yield url, process.pid


@contextlib.contextmanager
def running(process: subprocess.Popen, url: str, timeout: float, failure: str, said: Callable[[], str] = str):
    """Yields once `url` answers Streamlit's health check (the app's own, or through a proxy in front of it), and
    stops the process afterwards. Raises RuntimeError (`failure` and what `said()` returns) when it does not answer
    within `timeout` seconds or exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(failure + said()) from None
            time.sleep(0.2)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
