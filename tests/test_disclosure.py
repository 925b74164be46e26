"""Disclosure held against attack: an observer's pages and pack yield no exact count, and nothing a lead is sent
or given names a peer, in Chromium behind a trusted header (tests/attack.py holds the attacks)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import polars as pl
import pytest

from dashboard import access, metrics, store
from dashboard.access import Policy, Viewer
from dashboard.filters import Filters
from dashboard.gate import Gate
from dashboard.ingest import ingest
from dashboard.loaders import load_dataset
from testkit.browser import IDLE, websocket_bytes
from testkit.pages import PAGE_PATHS
from testkit.wire import Sent, decode, decode_pack
from tests import attack
from tests.conftest import SAMPLE, run_cli, serve

SECRET = "a-disclosure-test-secret"
CENTRES = pl.read_csv(SAMPLE / "centres.csv")
CODES = CENTRES["centre_code"].to_list()
NAMES = CENTRES["centre_name"].to_list()
LEAD_CENTRE = "MID02"
PEOPLE = {"observer": "board@example.nhs.uk", "centre": "lead@example.nhs.uk"}
ACCESS = f"""
[users."{PEOPLE["observer"]}"]
role = "observer"

[users."{PEOPLE["centre"]}"]
role = "centre"
centre = "{LEAD_CENTRE}"
"""
SMALLEST = pl.read_csv(SAMPLE / "infusions.csv")["centre_code"].value_counts().sort("count")["centre_code"][0]
OBSERVER_LABELS = access.peer_pseudonyms(CODES, SECRET)
LEAD_LABELS = access.peer_pseudonyms(CODES, SECRET, LEAD_CENTRE)
# Narrow views where small cells abound: the smallest centre in one age band, one product in one band over two months.
STATES = {
    "default": "",
    "small centre, children": f"centre={quote(OBSERVER_LABELS[SMALLEST])}&age=children",
    "tisa-cel, TYA, two months": "product=tisa-cel&age=tya&start=2026-08-01&end=2026-09-30",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("disclosure")
    (folder / "access.toml").write_text(ACCESS)
    url = f"sqlite:///{folder / 'store.db'}"
    ingest(store.engine_for(url), [SAMPLE])
    env = {
        "CARTGOV_AUTH_MODE": "header",
        "CARTGOV_ACCESS_FILE": str(folder / "access.toml"),
        "CARTGOV_PSEUDONYM_SECRET": SECRET,
    }
    with serve(url, folder / "snapshots", folder / "serve.log", env) as served:
        yield served


def open_page(browser, app, role: str, path: str):
    context = browser.new_context(
        extra_http_headers={"X-Forwarded-Email": PEOPLE[role]},
        accept_downloads=True,
        viewport={"width": 1400, "height": 2400},
    )
    page = context.new_page()
    frames = websocket_bytes(page)
    page.goto(f"{app.url}/{path}")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.locator("h1").first.wait_for(timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)  # the run that drew the heading has finished sending
    return page, frames


def pack_of(page) -> str:
    with page.expect_download(timeout=60_000) as done:
        page.locator(".st-key-pack_download button").first.click()
    return done.value.path().read_text(encoding="utf-8")


@pytest.mark.browser
@pytest.mark.parametrize("state", list(STATES))
def test_an_observer_is_sent_nothing_from_which_a_count_can_be_worked_back(app, browser, state):
    """Every page under a narrow view, and the pack made from it: Wilson bounds back-solved, ratio x expected,
    funnel positions, SPC limits, hover data, heatmap cells, bars and 'x of n' text all give multiples of 5."""
    query = STATES[state]
    found: dict[str, list[str]] = {}
    one_centre = "" if "centre=" in query else f"centre={quote(OBSERVER_LABELS[SMALLEST])}"
    paths = [
        *PAGE_PATHS,
        f"centres?{one_centre}",
        "toxicity?adjust=crude&metric=icans_severe",
        "toxicity?metric=nrm_d100",
    ]
    decoded = 0
    for path in paths:
        joined = f"{path}{'&' if '?' in path else '?'}{query}" if query else path
        page, frames = open_page(browser, app, "observer", joined)
        sent = decode(frames)
        assert sent.texts, f"nothing decoded from {joined}"
        decoded += len(sent.tables) + len(sent.figures)
        if path == "overview":
            pack = decode_pack(pack_of(page))
            found["pack"] = attack.recovered(pack)
            assert pack.figures, "the pack's charts were not found"
        page.context.close()
        found[joined] = attack.recovered(sent)
    assert decoded > 2 * len(paths)  # tables and charts were there to attack
    assert {where: leaks for where, leaks in found.items() if leaks} == {}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    engine = store.engine_for(f"sqlite:///{tmp_path_factory.mktemp('sample') / 'store.db'}")
    ingest(engine, [SAMPLE])
    return load_dataset(engine)


def test_the_attacks_find_exact_counts_where_they_are_sent(data):
    """The attacks themselves: given a national view's exact figures they recover counts (else they prove
    nothing)."""
    national = Gate(Policy.for_viewer(Viewer("n", "national"), CODES, SECRET))
    table = national.metric(metrics.compute(data, "icans_severe", by="centre"))
    sent = Sent(tables=[table.rows.to_arrow()])
    leaks = attack.from_tables(sent)
    assert any("ci_low/ci_high" in leak for leak in leaks) and any("ratio x expected" in leak for leak in leaks)
    observer = Gate(Policy.for_viewer(Viewer("o", "observer"), CODES, SECRET))
    assert (
        attack.from_tables(
            Sent(tables=[observer.metric(metrics.compute(data, "icans_severe", by="centre")).rows.to_arrow()])
        )
        == []
    )


def test_peers_stay_anonymous_when_a_lead_joins_figures_with_an_observers(data):
    """A lead matches its exact per-peer counts, rounded, with an observer's rounded counts on three metrics: the
    join pairs pseudonyms with pseudonyms, never with a real code or name."""
    lead = Gate(Policy.for_viewer(Viewer("l", "centre", LEAD_CENTRE), CODES, SECRET))
    observer = Gate(Policy.for_viewer(Viewer("o", "observer"), CODES, SECRET))
    keys = []
    for metric_id in ("itu_admission", "icans_severe", "crs_severe"):
        mine = lead.metric(metrics.compute(data, metric_id, by="centre")).rows.select(
            "group", pl.col("numerator").alias(f"{metric_id}_n"), pl.col("denominator").alias(f"{metric_id}_d")
        )
        theirs = observer.metric(metrics.compute(data, metric_id, by="centre")).rows.select(
            "group", pl.col("numerator").alias(f"{metric_id}_n"), pl.col("denominator").alias(f"{metric_id}_d")
        )
        keys.append((mine, theirs))
    lead_side = keys[0][0].join(keys[1][0], on="group").join(keys[2][0], on="group")
    observer_side = keys[0][1].join(keys[1][1], on="group").join(keys[2][1], on="group")
    rounded = lead_side.with_columns(
        pl.when(pl.col(c) == 0)
        .then(0)
        .when(pl.col(c) < 8)
        .then(None)
        .otherwise((pl.col(c) / 5).round(0) * 5)
        .cast(pl.Int64)
        .alias(c)
        for c in lead_side.columns
        if c != "group"
    )
    matched = rounded.join(observer_side, on=[c for c in rounded.columns if c != "group"], suffix="_observer")
    assert matched.height > 0  # the join works: figures do match ...
    learned = set(matched["group_observer"].to_list())
    assert learned <= set(OBSERVER_LABELS.values())  # ... but only to pseudonyms
    assert not learned & (set(CODES) | set(NAMES))


def test_observers_see_pseudonyms_unless_the_deployment_names_centres(monkeypatch):
    viewer = Viewer("o", "observer")
    monkeypatch.setenv("CARTGOV_PSEUDONYM_SECRET", SECRET)
    assert set(access.policy_for(viewer, CODES, False).labels.values()) == set(OBSERVER_LABELS.values())
    monkeypatch.setenv("CARTGOV_OBSERVER_NAMES", "true")
    assert access.policy_for(viewer, CODES, False).labels == {c: c for c in CODES}
    monkeypatch.delenv("CARTGOV_OBSERVER_NAMES")
    monkeypatch.delenv("CARTGOV_PSEUDONYM_SECRET")
    with pytest.raises(access.AccessConfigError, match="not configured for observers"):
        access.policy_for(viewer, CODES, False)  # real data, no secret: no safe pseudonyms, nobody let in


def _peers_in(text: str) -> list[str]:
    peers = [c for c in CODES if c != LEAD_CENTRE]
    names = [n for c, n in zip(CODES, NAMES, strict=True) if c != LEAD_CENTRE]
    return [c for c in peers if re.search(rf"\b{c}\b", text)] + [n for n in names if n in text]


@pytest.mark.browser
def test_a_leads_pack_made_with_a_peer_filter_names_no_peer(app, browser):
    peer = next(label for code, label in LEAD_LABELS.items() if code != LEAD_CENTRE)
    page, frames = open_page(browser, app, "centre", f"overview?centre={quote(peer)}")
    pack = pack_of(page)
    page.context.close()
    assert f"centre={peer}" in pack  # the filter line names the peer as the lead knows it
    assert _peers_in(pack) == []
    assert _peers_in(b"".join(frames).decode("utf-8", "replace")) == []


def test_a_leads_pack_from_the_command_line_names_no_peer(seeded_sqlite, tmp_path):
    peer = "LDN01" if LEAD_CENTRE != "LDN01" else "MID01"
    out = tmp_path / "lead.html"
    result = run_cli(
        "report",
        "--out",
        str(out),
        "--role",
        "centre",
        "--lead-centre",
        LEAD_CENTRE,
        "--centre",
        peer,
        "--database-url",
        seeded_sqlite,
        env={"CARTGOV_PSEUDONYM_SECRET": SECRET},
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert f"centre={LEAD_LABELS[peer]}" in text
    assert _peers_in(text + result.stdout) == []


@pytest.mark.parametrize("adjust", ["product_mix", "crude"])
def test_no_metric_table_under_any_grouping_yields_a_count_to_the_attacks(data, adjust):
    """Every proportion metric, by centre, product, quarter, age and for England, under narrow filters: the tables
    an observer is given (limits, expected and ratios included) give the table attacks nothing."""
    observer = Gate(Policy.for_viewer(Viewer("o", "observer"), CODES, SECRET))
    views = [
        Filters(),
        Filters(centre=(SMALLEST,), age=("children",)),
        Filters(product=("tisa-cel",), age=("tya",), start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 30)),
    ]
    found = []
    for metric_id in metrics.proportions():
        for by in ("centre", "product", "quarter", "age", None):
            for filters in views:
                table = observer.metric(metrics.compute(data, metric_id, by=by, filters=filters, adjust=adjust))
                sent = Sent(tables=[table.rows.to_arrow()])
                found += [f"{metric_id} by {by}: {leak}" for leak in attack.from_tables(sent)]
                if adjust == "crude" and table.target is not None:  # England's rate, from England's rounded counts
                    england, patients = table.national
                    assert england % 5 == 0 and patients % 5 == 0 and table.target == england / patients
    assert found == []
