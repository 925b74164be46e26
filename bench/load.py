"""Load: concurrent browser sessions of mixed roles, behind a trusted header, against one app server on loopback.

    python bench/load.py [--sessions 20] [--seconds 120] [--tier sample|registry] [--out FILE] [--think 0]

Seeds a store (sample: sample_data/ ingested into a temporary SQLite store; registry: bench/.data/registry.db,
generated once like bench/foundation.py does, copied so that the audit log written under load does not touch the
cached store), writes an access file (national panel members, leads of three centres, observers), starts one
`cartgov serve` in header mode on 127.0.0.1 and drives N sessions at once: one Chromium, one browser context per
session with the identity in its headers, all on one asyncio loop (Playwright's async API), so that no Playwright
object crosses a thread. One session (the fourth) is someone not on the access list.

Each session opens random pages (the eight, with URL filters and centre drill-downs its role may use) until the time
is up. A page's time is measured in the browser: from the start of its navigation to the first moment the script is
idle with the h1 shown. Then it is checked:
- errors: an stException, a dialog (page not found, connection lost), a JavaScript error, "Access denied" or the
  store-unavailable notice for someone on the list, a page not idle in time, and tracebacks in the server's log;
- leaks, on every byte the server sent to that session over its websocket (what the role was given, not only what is
  drawn: tables' Arrow data, charts' hover text, widget options): for a centre lead, no peer centre's code or name
  and no episode of another centre; for an observer, no episode at all, and the small-number notice and (exceptions
  page) the no-patient-rows notice shown; for everyone but national, no other person's identity (the audit log); for
  someone not on the list, "Access denied" and no centre, no episode; for everyone, the sidebar naming this
  session's own identity, never another's. As a check on the checks, a lead's are also run on every national page
  load (which shows every centre): a run where they never fire is an error.
The server's RSS (VmRSS of the `cartgov serve` process: it execs Streamlit, so that pid is the server) is sampled every
second. Exit 1 on any error or leak, or if RSS grew more than the threshold (see MEMORY_GROWTH) between the end of the
warm-up and the end of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from testkit.browser import IDLE, chromium_path, launch, websocket_bytes
from testkit.pages import PAGE_PATHS
from testkit.proxy import proxied
from testkit.served import serve

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
DATA = ROOT / "bench" / ".data"
HEADER = "X-Forwarded-Email"
SECRET = "load-test-secret"
# Idle (the script not running) with the h1 drawn: the time in the browser since the navigation started, in ms.
IDLE_JS = (
    "() => {\n"
    f"  if (!document.querySelector({json.dumps(IDLE)})) return false;\n"
    "  const h1 = document.querySelector('h1');\n"
    "  return h1 && h1.offsetParent !== null ? performance.now() : false;\n"
    "}"
)
CHARTS_DRAWN_JS = (
    "() => document.querySelectorAll('.stPlotlyChart').length === "
    "document.querySelectorAll('.stPlotlyChart .js-plotly-plot .plot-container').length"
)
SHOWN_JS = """() => ({
  text: document.body.innerText,
  h1: Array.from(document.querySelectorAll('h1')).map(h => h.innerText),
  exceptions: Array.from(document.querySelectorAll("[data-testid='stException']")).map(e => e.innerText),
  dialogs: Array.from(document.querySelectorAll("[role='dialog']")).map(e => e.innerText),
})"""
EPISODE = re.compile(rb"EP\d{7,}(?!\d)")
BDATA = re.compile(rb'"bdata":\s*"[A-Za-z0-9+/=]*"')
# RSS may grow this much between the end of the warm-up and the end of the run (MiB, or the fraction of the RSS at
# the end of the warm-up, whichever is larger). The app's caches are bounded (2 datasets, 64 signal lists, 512
# metric tables, a 30 s audit-log read) and still fill after the warm-up as new filter states come up, and the
# allocator keeps freed arenas; both level off. A leak of what a session holds grows with the sessions created: a
# run of 20 sessions for 2 minutes opens and closes about a thousand server sessions (one per page load), so 100 KiB
# kept per session is about 100 MiB, over the threshold, while the bounded caches stay under it.
MEMORY_GROWTH = (64.0, 0.20)


@dataclass(frozen=True)
class Person:
    identity: str
    role: str  # national, centre, observer, or "denied" for someone not on the access list
    centre: str | None = None


@dataclass
class World:
    """What the checks need to know about the store: centres, and each episode's centre."""

    centres: dict[str, str]  # code -> name
    episode_centre: dict[bytes, str]
    products: list[str]
    tas: list[str]


@dataclass
class Load:
    session: int
    identity: str
    role: str
    page: str
    url: str
    page_s: float | None = None
    received_bytes: int = 0
    canary: bool | None = None  # national loads: would the checks of a lead have fired on them (they must, often)
    errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)


# --- Data, people and the server ---


def _cli(*args: str, env: dict) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )
    if result.returncode not in (0, 1):  # 1: some rows quarantined, which a load test does not mind
        raise RuntimeError(f"cartgov {' '.join(args)} failed: {result.stdout[-500:]}{result.stderr[-2000:]}")


def prepare_store(tier: str, folder: Path) -> str:
    """A store of its own for this run (the run writes to its audit log); returns its URL."""
    database = folder / "store.db"
    env = {"CARTGOV_SNAPSHOT_DIR": str(folder / "snapshots")}
    if tier == "sample":
        _cli("ingest", str(SAMPLE), "--database-url", f"sqlite:///{database}", env=env)
    elif tier == "registry":  # as bench/foundation.py prepares it, cached in bench/.data
        cached, submission = DATA / "registry.db", DATA / "registry"
        if not cached.exists():
            if not (submission / "manifest.toml").exists():
                _cli("generate", "--out", str(submission), "--episodes", "100000", "--seed", "1", env=env)
            _cli(
                "ingest",
                str(submission),
                "--database-url",
                f"sqlite:///{cached}",
                env={"CARTGOV_SNAPSHOT_DIR": str(DATA / "snapshots")},
            )
        with sqlite3.connect(cached) as source, sqlite3.connect(database) as target:
            source.backup(target)  # a consistent copy, whatever WAL state the cached store is in
    else:
        raise ValueError(f"unknown tier {tier!r} (sample or registry)")
    return f"sqlite:///{database}"


def read_world(database_url: str) -> World:
    with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
        centres = dict(db.execute("SELECT centre_code, centre_name FROM centres ORDER BY centre_code"))
        episodes = {e.encode(): c for e, c in db.execute("SELECT episode_id, centre_code FROM infusions")}
        products = [p for (p,) in db.execute("SELECT product_code FROM products ORDER BY product_code")]
        tas = [t for (t,) in db.execute("SELECT ta_code FROM nice_ta ORDER BY ta_code")]
    return World(centres, episodes, products, tas)


def people(world: World) -> list[Person]:
    """Seven people on the access list across the three roles (leads of three centres), and one stranger."""
    codes = sorted(world.centres)
    leads = [codes[i] for i in (0, len(codes) // 3, 2 * len(codes) // 3)]
    listed = [
        Person("panel.one@example.nhs.uk", "national"),
        Person(f"lead.{leads[0].lower()}@example.nhs.uk", "centre", leads[0]),
        Person("board.one@example.nhs.uk", "observer"),
        Person(f"lead.{leads[1].lower()}@example.nhs.uk", "centre", leads[1]),
        Person("panel.two@example.nhs.uk", "national"),
        Person("board.two@example.nhs.uk", "observer"),
        Person(f"lead.{leads[2].lower()}@example.nhs.uk", "centre", leads[2]),
    ]
    return [*listed, Person("stranger@example.com", "denied")]


def person_for(session: int, everyone: list[Person]) -> Person:
    """Session 3 is the stranger; the others take the listed people in turn."""
    listed = [p for p in everyone if p.role != "denied"]
    if session == 3:
        return next(p for p in everyone if p.role == "denied")
    return listed[(session - (session > 3)) % len(listed)]


def access_file(everyone: list[Person]) -> str:
    lines = []
    for person in everyone:
        if person.role == "denied":
            continue
        lines += [f'[users."{person.identity}"]', f'role = "{person.role}"']
        lines += [f'centre = "{person.centre}"'] if person.centre else []
        lines.append("")
    return "\n".join(lines)


def server_pid(pid: int) -> int:
    """The process that runs Streamlit: `cartgov serve` execs it (same pid); a child if that ever changes."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    if b"dashboard.server" in cmdline or b"streamlit" in cmdline:
        return pid
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            if b"dashboard.server" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    return pid


def rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), None)
    return None if kib is None else round(kib / 1024, 1)


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14 and 15)


def descendants_cpu_seconds(root: int, exclude: int) -> float:
    """CPU time of a process's descendants (Playwright's driver and Chromium here), the `exclude` subtree apart,
    including their children that have exited and been waited for."""
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in map(int, children.read_text().split()):
                    if child != exclude:
                        todo.append(child)
                        with contextlib.suppress(OSError, IndexError):
                            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


class RssSampler(threading.Thread):
    """VmRSS of a process every second, as (time.monotonic(), MiB)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples = pid, []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            value = rss_mib(self.pid)
            if value is not None:
                self.samples.append((time.monotonic(), value))
            self._halt.wait(1.0)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


# --- What a session opens ---

FILTERS = [
    {"start": "2024-01-01", "product": "axi-cel"},
    {"age": "adults"},
    {"start": "2023-01-01", "end": "2024-12-31"},
    {"product": "tisa-cel", "age": "children"},
    {"ta": "TA872"},
    {"age": "tya"},
]
PAGE_STATE = {
    "toxicity": [{"metric": m} for m in ("icans_severe", "crs_severe", "crs_any", "icans_any")]
    + [{"metric": "icans_severe", "adjust": "crude"}],
    "itu": [{}, {"adjust": "crude"}],
    "products": [{}, {"product": "axi-cel"}, {"product": "tisa-cel"}, {"product": "liso-cel"}],
}


def centre_labels(person: Person, world: World) -> list[str]:
    """The centre values this person's URLs may carry: codes, or for a lead its own label and peers' pseudonyms."""
    if person.role == "centre":
        letters = [chr(65 + i) for i in range(len(world.centres) - 1)]
        return ["Your centre", *(f"Peer {letter}" for letter in letters)]
    return list(world.centres)


def pick_url(person: Person, world: World, rng: random.Random) -> tuple[str, str]:
    page = rng.choice(PAGE_PATHS)
    query: dict[str, str] = {}
    if rng.random() < 0.4:
        query.update(rng.choice(FILTERS))
    query.update(rng.choice(PAGE_STATE.get(page, [{}])))
    if (page == "centres" and rng.random() < 0.75) or rng.random() < 0.1:
        query["centre"] = rng.choice(centre_labels(person, world))
    return page, page + ("?" + urlencode(query) if query else "")


# --- Checks ---


class Forbidden:
    """What a person may not be sent: compiled once per person."""

    def __init__(self, person: Person, world: World, everyone: list[Person]):
        self.person = person
        codes = [c for c in world.centres if person.role in ("centre", "denied") and c != person.centre]
        names = [world.centres[c] for c in codes]
        # Not \b: an Arrow string column is its values end to end ("MID01MID02"); a code is not part of a longer
        # word or number, though.
        self.codes = (
            re.compile(rb"(?<![A-Za-z])(" + b"|".join(re.escape(c.encode()) for c in codes) + rb")(?!\d)")
            if codes
            else None
        )
        self.names = re.compile(b"|".join(re.escape(n.encode()) for n in names)) if names else None
        others = [p.identity for p in everyone if p.identity != person.identity]
        self.identities = (
            re.compile("|".join(re.escape(i) for i in others).encode(), re.IGNORECASE)
            if person.role != "national"
            else None
        )
        self.episodes = person.role in ("centre", "observer", "denied")
        self.episode_centre = world.episode_centre

    def leaks(self, received: bytes) -> list[str]:
        found = []
        received = BDATA.sub(b"", received)  # Plotly's base64 arrays: random letters and digits, not text
        for label, pattern in (
            ("peer centre code", self.codes),
            ("peer centre name", self.names),
            ("another person's identity", self.identities),
        ):
            match = pattern.search(received) if pattern else None
            if match:
                found.append(
                    f"{label} {match.group().decode(errors='replace')!r} sent: ...{_context(received, match)}..."
                )
        if self.episodes:
            for match in EPISODE.finditer(received):
                centre = self.episode_centre.get(match.group())
                if self.person.role != "centre" or centre != self.person.centre:
                    found.append(
                        f"episode {match.group().decode()} (centre {centre}) sent to a "
                        f"{self.person.role}: ...{_context(received, match)}..."
                    )
                    break
        return found


def _context(data: bytes, match: re.Match) -> str:
    snippet = data[max(0, match.start() - 40) : match.end() + 80]
    return re.sub(rb"[^\x20-\x7e]+", b".", snippet).decode("ascii")


def check_shown(person: Person, page: str, shown: dict) -> tuple[list[str], list[str]]:
    """Errors and leaks in what the page shows."""
    errors, leaks = [], []
    text = shown["text"]
    denied = "Access denied" in shown["h1"]
    errors += [f"stException: {e[:500]}" for e in shown["exceptions"]]
    errors += [f"dialog: {d[:300]}" for d in shown["dialogs"]]
    if "The data store is unavailable" in text:
        errors.append("the data store is unavailable")
    if person.role == "denied":
        if not denied:
            leaks.append(f"someone not on the access list was let in: h1 {shown['h1']}")
        return errors, leaks
    if denied:
        errors.append("Access denied for someone on the access list: " + text[:300].replace("\n", " "))
        return errors, leaks
    signed_in = re.search(r"Signed in as (\S+)", text)
    if not signed_in:
        errors.append("no 'Signed in as' in the sidebar")
    elif signed_in.group(1).lower() != person.identity:
        leaks.append(f"the sidebar says signed in as {signed_in.group(1)}, this session is {person.identity}")
    if person.role != "national" and re.search(r"^Audit log$", text, re.MULTILINE):
        leaks.append(f"the audit log shown to a {person.role}")
    if person.role == "observer":
        if "Small numbers: counts of 1-7 are hidden" not in text:
            leaks.append("an observer's page without small-number suppression")
        if page == "exceptions" and "Patient-level rows are not shown to your role." not in text:
            leaks.append("an observer's exceptions page without the patient-rows notice")
    return errors, leaks


# --- The sessions ---


async def _open(page, url: str, timeout_s: float) -> float:
    await page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
    handle = await page.wait_for_function(IDLE_JS, polling=50, timeout=timeout_s * 1000)
    return float(await handle.json_value()) / 1000


async def session(
    index: int,
    person: Person,
    browser,
    base: str,
    world: World,
    forbidden: Forbidden,
    canary: Forbidden,
    deadline: float,
    think: float,
    timeout_s: float,
    seed: int,
    loads: list[Load],
) -> None:
    rng = random.Random(seed * 1000 + index)
    context = await browser.new_context(
        extra_http_headers={HEADER: person.identity}, viewport={"width": 1400, "height": 1000}
    )
    received: list[bytes] = []
    js_errors: list[str] = []

    async def new_page():
        page = await context.new_page()
        websocket_bytes(page, into=received)
        page.on("pageerror", lambda error: js_errors.append(str(error)[:300]))
        return page

    page = await new_page()
    while time.monotonic() < deadline:
        name, path = pick_url(person, world, rng)
        load = Load(index, person.identity, person.role, name, path)
        received.clear()
        js_errors.clear()
        try:
            load.page_s = round(await _open(page, f"{base}/{path}", timeout_s), 3)
            with contextlib.suppress(Exception):  # a chart not drawn is not an error; its data are in the frames
                await page.wait_for_function(CHARTS_DRAWN_JS, polling=100, timeout=min(timeout_s, 30) * 1000)
            shown = await page.evaluate(SHOWN_JS)
            errors, leaks = check_shown(person, name, shown)
            load.errors += errors + [f"JavaScript error: {e}" for e in js_errors]
            sent = b"\n".join(received)
            load.received_bytes = len(sent)
            load.leaks += leaks + forbidden.leaks(sent)
            if person.role == "national":
                load.canary = bool(canary.leaks(sent))
        except Exception as error:  # any failure of a load is an error of the run, not of this script
            load.errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:300]}")
            with contextlib.suppress(Exception):
                await page.close()
            page = await new_page()
        loads.append(load)
        if think:
            await asyncio.sleep(rng.uniform(0, 2 * think))
    await context.close()


def _cast(sessions: int, world: World, everyone: list[Person]) -> tuple[list[Person], dict, Forbidden]:
    """Who each session is, what each may not be sent, and the canary: a lead's checks, run on national loads."""
    persons = [person_for(i, everyone) for i in range(sessions)]
    forbidden = {p.identity: Forbidden(p, world, everyone) for p in set(persons)}
    canary = Forbidden(next(p for p in everyone if p.role == "centre"), world, everyone)
    return persons, forbidden, canary


async def drive(
    base: str,
    sessions: int,
    seconds: float,
    world: World,
    everyone: list[Person],
    think: float,
    timeout_s: float,
    seed: int,
    chromium: str,
    on_start,
    server: int,
) -> tuple[list[Load], dict]:
    from playwright.async_api import async_playwright

    loads: list[Load] = []
    async with async_playwright() as playwright:
        browser = await launch(playwright, chromium, many_sessions=True)
        # One untimed visit first: the server loads the dataset once, as it would have long before a busy hour.
        warm = await browser.new_context(extra_http_headers={HEADER: everyone[0].identity})
        first = await _open(await warm.new_page(), f"{base}/overview", 300)
        await warm.close()
        start = on_start()
        deadline = start + seconds
        persons, forbidden, canary = _cast(sessions, world, everyone)
        await asyncio.gather(
            *(
                session(
                    i, p, browser, base, world, forbidden[p.identity], canary, deadline, think, timeout_s, seed, loads
                )
                for i, p in enumerate(persons)
            )
        )
        elapsed = time.monotonic() - start
        browser_cpu = descendants_cpu_seconds(os.getpid(), exclude=server)
        await browser.close()
    return loads, {
        "first_page_s": round(first, 3),
        "elapsed_s": round(elapsed, 1),
        "browser_cpu_s": round(browser_cpu, 1),
    }


def protocol_shown(frames: list[bytes]) -> dict:
    """What a page showed, from the ForwardMsgs alone (no browser): its text, headings, exceptions, missing page."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from testkit.wire import decode

    h1, exceptions, dialogs = [], [], []
    for frame in frames:
        message = ForwardMsg()
        message.ParseFromString(frame)
        kind = message.WhichOneof("type")
        if kind == "page_not_found":
            dialogs.append(f"page not found: {message.page_not_found.page_name}")
        if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            if element.WhichOneof("type") == "heading" and element.heading.tag == "h1":
                h1.append(element.heading.body)
            if element.WhichOneof("type") == "exception":
                exceptions.append(f"{element.exception.type}: {element.exception.message}")
    text = "\n".join(decode(frames).texts).replace("**", "")
    return {"text": text, "h1": h1, "exceptions": exceptions, "dialogs": dialogs}


async def protocol_session(
    index: int,
    person: Person,
    base: str,
    world: World,
    forbidden: Forbidden,
    canary: Forbidden,
    deadline: float,
    think: tuple[float, float],
    timeout_s: float,
    seed: int,
    loads: list[Load],
) -> None:
    """A person reading pages over the app's websocket, one page every `think` seconds (uniform between the two)."""
    from testkit.protocol import Session

    rng = random.Random(seed * 1000 + index)
    await asyncio.sleep(rng.uniform(0, think[1]))  # people do not all arrive in the same second
    async with Session(base, {HEADER: person.identity}, timeout=timeout_s) as connection:
        while time.monotonic() < deadline:
            name, path = pick_url(person, world, rng)
            load = Load(index, person.identity, person.role, name, path)
            try:
                run = await connection.run(name, path.partition("?")[2])
                load.page_s = round(run.seconds, 3)
                if run.status != "FINISHED_SUCCESSFULLY":
                    load.errors.append(f"the run ended {run.status}")
                errors, leaks = check_shown(person, name, protocol_shown(run.frames))
                sent = b"\n".join(run.frames)
                load.received_bytes = len(sent)
                load.errors += errors
                load.leaks += leaks + forbidden.leaks(sent)
                if person.role == "national":
                    load.canary = bool(canary.leaks(sent))
            except Exception as error:
                load.errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:300]}")
            loads.append(load)
            await asyncio.sleep(rng.uniform(*think))


async def drive_protocol(
    base: str,
    sessions: int,
    seconds: float,
    world: World,
    everyone: list[Person],
    think: tuple[float, float],
    timeout_s: float,
    seed: int,
    on_start,
) -> tuple[list[Load], dict]:
    from testkit.protocol import Session

    loads: list[Load] = []
    started = time.monotonic()
    async with Session(base, {HEADER: everyone[0].identity}, timeout=300) as first:  # untimed: the data load
        await first.run("overview")
    first_s = time.monotonic() - started
    start = on_start()
    deadline = start + seconds
    persons, forbidden, canary = _cast(sessions, world, everyone)
    await asyncio.gather(
        *(
            protocol_session(i, p, base, world, forbidden[p.identity], canary, deadline, think, timeout_s, seed, loads)
            for i, p in enumerate(persons)
        )
    )
    elapsed = time.monotonic() - start
    return loads, {"first_page_s": round(first_s, 3), "elapsed_s": round(elapsed, 1), "browser_cpu_s": 0.0}


# --- The run and its report ---


def _stats(samples: list[float]) -> dict:
    if not samples:
        return {"loads": 0}
    ordered = sorted(samples)
    return {
        "loads": len(ordered),
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max_s": ordered[-1],
    }


def _server_log_errors(log: Path) -> list[str]:
    text = log.read_text(errors="replace")
    return [
        f"server log: {line.strip()[:300]}"
        for line in text.splitlines()
        if line.startswith("Traceback") or " ERROR " in line or line.startswith(("Exception", "Error"))
    ]


def run(
    sessions: int = 20,
    seconds: float = 120,
    tier: str = "sample",
    think: float = 0.0,
    warmup: float = 30.0,
    timeout_s: float = 120.0,
    seed: int = 1,
    workdir: Path | None = None,
    chromium: str | None = None,
    client: str = "browser",
    reading: tuple[float, float] = (5.0, 15.0),
    replicas: int = 1,
) -> dict:
    """Everything: store, access file, server, sessions; returns the report (a dict, JSON-ready). `client` is
    "browser" (a Chromium context per session) or "protocol" (the websocket alone, a page every `reading` s).
    With `replicas` above 1, that many servers on the one store behind nginx (deploy/nginx-cartgov.conf); memory is
    the first replica's, CPU all of theirs."""
    chromium = chromium or chromium_path() if client == "browser" else None
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cartgov-load-")))
        folder.mkdir(parents=True, exist_ok=True)
        database_url = prepare_store(tier, folder)
        world = read_world(database_url)
        everyone = people(world)
        (folder / "access.toml").write_text(access_file(everyone))
        env = {
            "CARTGOV_AUTH_MODE": "header",
            "CARTGOV_AUTH_HEADER": HEADER,
            "CARTGOV_ACCESS_FILE": str(folder / "access.toml"),
            "CARTGOV_PSEUDONYM_SECRET": SECRET,
        }
        logs = [folder / f"serve-{i}.log" for i in range(replicas)]
        servers = [
            stack.enter_context(serve(database_url, folder / f"snapshots-{i}", log, env)) for i, log in enumerate(logs)
        ]
        pids = [server_pid(pid) for _, pid in servers]
        pid = pids[0]
        base = (
            servers[0][0] if replicas == 1 else stack.enter_context(proxied([u for u, _ in servers], folder / "nginx"))
        )
        rss_start = rss_mib(pid)
        origin: dict[str, float] = {}

        def on_start() -> float:
            origin["t"] = time.monotonic()
            return origin["t"]

        sampler = RssSampler(pid)
        sampler.start()
        cpu_before = sum(cpu_seconds(p) or 0.0 for p in pids)
        try:
            if client == "protocol":
                loads, timing = asyncio.run(
                    drive_protocol(base, sessions, seconds, world, everyone, reading, timeout_s, seed, on_start)
                )
            else:
                loads, timing = asyncio.run(
                    drive(base, sessions, seconds, world, everyone, think, timeout_s, seed, chromium, on_start, pid)
                )
        finally:
            sampler.stop()
        cpu = sum(cpu_seconds(p) or 0.0 for p in pids) - cpu_before
        log_errors = [error for log in logs for error in _server_log_errors(log)]
    start = origin.get("t", float("inf"))
    samples = [(round(t - start, 1), v) for t, v in sampler.samples if t >= start]  # from the sessions' start
    rss_before_load = samples[0][1] if samples else None
    during = [(t, v) for t, v in samples if t <= seconds]
    warm_at = min(warmup, seconds / 2)
    # RSS swings by a few tens of MiB from one second to the next (pages built and dropped): each figure is the
    # median of the 10 s of samples after the warm-up and of the last 10 s of the run.
    after_warmup = _median([v for t, v in during if warm_at <= t < warm_at + 10])
    end = _median([v for t, v in during if t > seconds - 10])
    growth = round(end - after_warmup, 1) if end is not None and after_warmup is not None else None
    limit = round(max(MEMORY_GROWTH[0], MEMORY_GROWTH[1] * (after_warmup or 0)), 1)
    judged = seconds >= 2 * warmup  # a run shorter than two warm-ups says nothing about a plateau
    memory_ok = (not judged) or (growth is not None and growth <= limit)

    timed = [x for x in loads if x.page_s is not None and x.role != "denied"]
    per_page = {p: _stats([x.page_s for x in timed if x.page == p]) for p in PAGE_PATHS}
    per_role = {r: _stats([x.page_s for x in timed if x.role == r]) for r in ("national", "centre", "observer")}
    errors = [{**_brief(x), "error": e} for x in loads for e in x.errors] + [{"error": e} for e in log_errors]
    national = [x for x in loads if x.canary is not None]
    canaries = sum(bool(x.canary) for x in national)
    if national and not canaries:
        errors.append(
            {
                "error": f"the leak checks are blind: they found no peer centre in any of {len(national)} "
                "national page loads, which show every centre"
            }
        )
    leaks = [{**_brief(x), "leak": e} for x in loads for e in x.leaks]
    per_session = {}
    for x in loads:
        per_session[x.session] = per_session.get(x.session, 0) + 1
    report = {
        "sessions": sessions,
        "seconds": seconds,
        "tier": tier,
        "client": client,
        "replicas": replicas,
        "think_s": think if client == "browser" else list(reading),
        "seed": seed,
        "people": [asdict(person_for(i, everyone)) for i in range(sessions)],
        "elapsed_s": timing["elapsed_s"],
        "first_page_s": timing["first_page_s"],
        "page_loads": len(loads),
        "loads_per_session": [per_session.get(i, 0) for i in range(sessions)],
        "denied_loads": sum(x.role == "denied" for x in loads),
        "received_mib": round(sum(x.received_bytes for x in loads) / 2**20, 1),
        "canary": {"national_loads": len(national), "would_have_been_leaks": canaries},
        "errors": errors,
        "leaks": leaks,
        "page_time": _stats([x.page_s for x in timed]),
        "per_page": per_page,
        "per_role": per_role,
        "memory": {
            "pid": pid,
            "rss_idle_mib": rss_start,
            "rss_at_load_start_mib": rss_before_load,
            "warmup_s": warm_at,
            "rss_after_warmup_mib": after_warmup,
            "rss_end_mib": end,
            "rss_max_mib": max((v for _, v in samples), default=None),
            "growth_after_warmup_mib": growth,
            "growth_limit_mib": limit,
            "judged": judged,
            "ok": memory_ok,
            "samples": samples,
        },
        "server_cpu_s": round(cpu, 1),
        "server_cores_busy": round(cpu / timing["elapsed_s"], 2),
        "browser_cpu_s": timing["browser_cpu_s"],
        "browser_cores_busy": round(timing["browser_cpu_s"] / timing["elapsed_s"], 2),
        "load_average": _loadavg(),
    }
    report["verdict"] = "pass" if not errors and not leaks and memory_ok else "fail"
    return report


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _brief(load: Load) -> dict:
    return {"session": load.session, "identity": load.identity, "role": load.role, "url": load.url}


def _loadavg() -> list[float] | None:
    with contextlib.suppress(OSError):
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    return None


def render(report: dict) -> str:
    t, m = report["page_time"], report["memory"]
    lines = [
        f"{report['sessions']} sessions for {report['seconds']:g} s on the {report['tier']} tier"
        f"{' across ' + str(report['replicas']) + ' replicas behind nginx' if report.get('replicas', 1) > 1 else ''} "
        f"(elapsed {report['elapsed_s']} s, first page of a cold server {report['first_page_s']} s): "
        f"{report['page_loads']} page loads ({report['denied_loads']} by someone not on the list), "
        f"per session {min(report['loads_per_session'])}-{max(report['loads_per_session'])}",
        (
            "page run (request to script finished, over the websocket)"
            if report.get("client") == "protocol"
            else "page time (navigation start to idle with its h1)"
        )
        + f", listed people: p50 {t.get('p50_s')} s, "
        f"p95 {t.get('p95_s')} s, max {t.get('max_s')} s",
        f"checked {report['received_mib']} MiB sent over the websockets; the checks of a lead would have fired on "
        f"{report['canary']['would_have_been_leaks']} of {report['canary']['national_loads']} national loads "
        "(they see every centre: the checks are not blind)",
        "",
        "| page | loads | p50 (s) | p95 (s) | max (s) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, s in [*report["per_page"].items(), *((f"role {r}", s) for r, s in report["per_role"].items())]:
        lines.append(
            f"| {name} | {s['loads']} | {s.get('p50_s', '-')} | {s.get('p95_s', '-')} | {s.get('max_s', '-')} |"
        )
    lines += [
        "",
        f"server RSS (MiB): idle {m['rss_idle_mib']}, load start {m['rss_at_load_start_mib']}, "
        f"after the {m['warmup_s']:g} s warm-up {m['rss_after_warmup_mib']}, end {m['rss_end_mib']} (medians "
        f"of 10 s), max {m['rss_max_mib']}; growth after the warm-up {m['growth_after_warmup_mib']} "
        f"(limit {m['growth_limit_mib']}"
        f"{'' if m['judged'] else ', not judged: run shorter than two warm-ups'})",
        f"server CPU {report['server_cpu_s']} s (includes the untimed first page): "
        f"{report['server_cores_busy']} cores busy on average; Chromium and Playwright "
        f"{report['browser_cpu_s']} s ({report['browser_cores_busy']} cores); load average at the end: "
        f"{report['load_average']} on {os.cpu_count()} cores",
        f"errors: {len(report['errors'])}, leaks: {len(report['leaks'])}",
    ]
    for item in (report["errors"] + report["leaks"])[:20]:
        lines.append(f"  - {json.dumps(item)[:600]}")
    lines.append(f"verdict: {report['verdict'].upper()}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--tier", choices=["sample", "registry"], default="sample")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between a session's pages (s)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the memory baseline")
    parser.add_argument("--timeout", type=float, default=120.0, help="a page not idle within this is an error (s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--client",
        choices=["browser", "protocol"],
        default="browser",
        help="protocol: sessions over the app's websocket without a browser, each reading a page for 5-15 s",
    )
    parser.add_argument("--replicas", type=int, default=1, help="servers behind nginx (deploy/nginx-cartgov.conf)")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    parser.add_argument("--workdir", type=Path, help="keep the store, access file and server log here")
    args = parser.parse_args()
    report = run(
        args.sessions,
        args.seconds,
        args.tier,
        args.think,
        args.warmup,
        args.timeout,
        args.seed,
        args.workdir,
        client=args.client,
        replicas=args.replicas,
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report), end="")
    sys.exit(0 if report["verdict"] == "pass" else 1)


if __name__ == "__main__":
    main()
