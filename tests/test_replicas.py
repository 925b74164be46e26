"""Two `cartgov serve` replicas on one PostgreSQL behind Debian's nginx, configured by deploy/nginx-cartgov.conf."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from urllib.parse import urlsplit

from dashboard import store
from dashboard.ingest import ingest
from dashboard.loaders import COMPLETE, META
from testkit.protocol import Session
from testkit.proxy import NginxMissing, nginx_path, proxied, requests_by_route
from testkit.wire import decode
from tests.conftest import BAD_SUBMISSION, NATIONAL, SAMPLE, missing, national_env, run_cli, serve


async def _overview(url: str) -> int:
    """A new browser's overview: the data version it was shown."""
    async with Session(url, NATIONAL) as session:
        run = await session.run("overview")
    assert run.status == "FINISHED_SUCCESSFULLY", run.status
    shown = re.search(r"data version (\d+)", " ".join(decode(run.frames).texts))
    assert shown, "the overview states no data version"
    return int(shown.group(1))


def _sockets(by_route: dict[str, list[tuple[str, str]]]) -> int:
    """How many routes opened a websocket (each session opens one, after fetching its page)."""
    return sum(any("/_stcore/stream" in request for request, _ in requests) for requests in by_route.values())


def _snapshot_versions(folder) -> set[int]:
    """The data versions with a complete snapshot in a replica's own folder."""
    return {json.loads((m.parent / META).read_text())["data_version"] for m in folder.rglob(COMPLETE)}


def test_two_replicas_behind_nginx_keep_each_browser_on_one_and_show_an_ingest_on_both(postgres_url, tmp_path):
    try:
        nginx_path()
    except NginxMissing as error:
        missing(str(error))
    engine = store.engine_for(postgres_url)
    ingest(engine, [SAMPLE])
    env = {**national_env(tmp_path), "CARTGOV_VERSION_CHECK_SECONDS": "1"}
    with contextlib.ExitStack() as stack:
        replicas = [
            stack.enter_context(serve(postgres_url, tmp_path / f"snapshots-{i}", tmp_path / f"serve-{i}.log", env))
            for i in (1, 2)
        ]
        proxy = stack.enter_context(proxied([r.url for r in replicas], tmp_path / "nginx"))

        # New sessions are spread over both replicas; each keeps its page fetch and its websocket on one.
        sessions = 16  # all on one replica by chance: 1 in 32,768
        (before,) = {asyncio.run(_overview(proxy)) for _ in range(sessions)}
        log = tmp_path / "nginx" / "cartgov.access.log"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _sockets(requests_by_route(log)) < sessions:
            time.sleep(0.2)  # nginx logs a websocket when it closes
        by_route = requests_by_route(log)
        assert _sockets(by_route) == sessions and len(by_route) == sessions, by_route
        assert all(len({replica for _, replica in requests}) == 1 for requests in by_route.values()), by_route
        assert {replica for requests in by_route.values() for _, replica in requests} == {
            urlsplit(r.url).netloc for r in replicas
        }

        # An ingest commits a new data version; every replica shows it soon after its version check.
        result = run_cli("ingest", str(BAD_SUBMISSION), "--database-url", postgres_url)
        with engine.connect() as connection:
            after = store.read_dataset(connection)["data_version"]
        assert after > before, result.stderr
        deadline = time.monotonic() + 90
        shown = {}
        while time.monotonic() < deadline and set(shown.values()) != {after}:
            time.sleep(1)
            shown = {r.url: asyncio.run(_overview(r.url)) for r in replicas}
        assert shown == {r.url: after for r in replicas}

        # Each replica wrote the snapshot it reads into its own folder; none wrote into another's.
        assert _snapshot_versions(tmp_path / "snapshots-1") == _snapshot_versions(tmp_path / "snapshots-2")
        assert after in _snapshot_versions(tmp_path / "snapshots-1")
