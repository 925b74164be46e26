"""Roles end to end in Chromium behind a trusted header: several people at once, each seeing only what they may."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import polars as pl
import pytest

from dashboard import store
from dashboard.ingest import ingest
from testkit.browser import IDLE, websocket_bytes
from testkit.pages import PAGE_PATHS
from tests.conftest import SAMPLE, run_cli, serve

pytestmark = pytest.mark.browser

CENTRES = pl.read_csv(SAMPLE / "centres.csv")
LEAD_CENTRE = "MID02"
PEER_CODES = [c for c in CENTRES["centre_code"] if c != LEAD_CENTRE]
PEER_NAMES = CENTRES.filter(pl.col("centre_code") != LEAD_CENTRE)["centre_name"].to_list()
PEOPLE = {"national": "panel@example.nhs.uk", "centre": "lead@example.nhs.uk", "observer": "board@example.nhs.uk"}
ACCESS = f"""
[users."{PEOPLE["national"]}"]
role = "national"

[users."{PEOPLE["centre"]}"]
role = "centre"
centre = "{LEAD_CENTRE}"

[users."{PEOPLE["observer"]}"]
role = "observer"
"""


@pytest.fixture(scope="module")
def header_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roles")
    (folder / "access.toml").write_text(ACCESS)
    url = f"sqlite:///{folder / 'store.db'}"
    ingest(store.engine_for(url), [SAMPLE])
    env = {
        "CARTGOV_AUTH_MODE": "header",
        "CARTGOV_ACCESS_FILE": str(folder / "access.toml"),
        "CARTGOV_PSEUDONYM_SECRET": "a-test-secret",
    }
    with serve(url, folder / "snapshots", folder / "serve.log", env) as served:
        yield served


def visit(browser, app, role: str | None, path: str, identity: str | None = None):
    headers = {"X-Forwarded-Email": identity or PEOPLE[role]} if (role or identity) else {}
    page = browser.new_context(extra_http_headers=headers, viewport={"width": 1400, "height": 2400}).new_page()
    page.goto(f"{app.url}/{path}")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.locator("h1").first.wait_for()
    return page


def everything_shown(page) -> str:
    """The page's HTML and the data behind every chart (hover text included)."""
    charts = page.evaluate(
        "JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => plot.data))"
    )
    return page.content() + charts


def download(page, key: str) -> list[dict]:
    with page.expect_download() as done:
        page.locator(f".st-key-{key} button").first.click()
    return list(csv.DictReader(io.StringIO(done.value.path().read_text(encoding="utf-8-sig"))))


def test_a_centre_lead_sees_peers_only_as_pseudonyms(header_app, browser):
    page = visit(browser, header_app, "centre", "toxicity?metric=icans_severe")
    page.locator(".st-key-funnel .js-plotly-plot").wait_for()
    shown = everything_shown(page)
    assert "Your centre" in shown and "Peer A" in shown
    assert [c for c in PEER_CODES if re.search(rf"\b{c}\b", shown)] == []
    assert [n for n in PEER_NAMES if n in shown] == []
    exported = download(page, "funnel_table_download")
    assert {row["group"] for row in exported} == {"Your centre"} | {f"Peer {chr(65 + i)}" for i in range(22)}
    assert not any(c in json.dumps(exported) for c in PEER_CODES)


PLOTLY_ARRAYS = re.compile(rb'"bdata":\s*"[A-Za-z0-9+/=]*"')  # base64 numbers: any letters, no text


def test_nothing_sent_to_a_lead_names_a_peer_on_any_page(header_app, browser):
    """Every byte of every page sent over the websocket, not only what is drawn: a name behind a null in a table's
    Arrow data would reach the browser's developer tools (it did, on three pages, before access.relabel was fixed)."""
    context = browser.new_context(extra_http_headers={"X-Forwarded-Email": PEOPLE["centre"]})
    page = context.new_page()
    sent = websocket_bytes(page)
    for path in PAGE_PATHS:
        page.goto(f"{header_app.url}/{path}")
        page.wait_for_selector(IDLE, timeout=60_000)
        page.locator("h1").first.wait_for()
    received = PLOTLY_ARRAYS.sub(b"", b"".join(sent))
    assert len(received) > 100_000  # every page's tables and charts
    assert CENTRES.filter(pl.col("centre_code") == LEAD_CENTRE)["centre_name"][0].encode() in received
    assert [n for n in PEER_NAMES if n.encode() in received] == []
    codes = re.compile(rb"(?<![A-Za-z])(" + b"|".join(c.encode() for c in PEER_CODES) + rb")(?!\d)")
    assert codes.findall(received) == []
    infusions = pl.read_csv(SAMPLE / "infusions.csv")
    sent_episodes = {e.decode() for e in re.findall(rb"EP\d{7}", received)}
    assert sent_episodes & set(infusions.filter(pl.col("centre_code") == LEAD_CENTRE)["episode_id"])  # own patients
    assert sent_episodes & set(infusions.filter(pl.col("centre_code") != LEAD_CENTRE)["episode_id"]) == set()


def test_nothing_sent_to_an_observer_names_a_centre_on_any_page(header_app, browser):
    """Observers see every centre under the leads' keyed pseudonyms (a lead could otherwise re-identify peers by
    matching figures with theirs): no code or name in any byte sent."""
    page = browser.new_context(extra_http_headers={"X-Forwarded-Email": PEOPLE["observer"]}).new_page()
    sent = websocket_bytes(page)
    for path in PAGE_PATHS:
        page.goto(f"{header_app.url}/{path}")
        page.wait_for_selector(IDLE, timeout=60_000)
        page.locator("h1").first.wait_for()
    received = PLOTLY_ARRAYS.sub(b"", b"".join(sent))
    assert len(received) > 100_000 and b"Peer A" in received
    assert [n for n in CENTRES["centre_name"] if n.encode() in received] == []
    codes = re.compile(rb"(?<![A-Za-z])(" + b"|".join(c.encode() for c in CENTRES["centre_code"]) + rb")(?!\d)")
    assert codes.findall(received) == []


def test_a_lead_typing_another_centre_into_the_url_learns_nothing(header_app, browser):
    page = visit(browser, header_app, "centre", "centres?centre=LDN01")
    page.get_by_text("centre: 'LDN01' is not a known value").wait_for()
    shown = everything_shown(page)
    assert "Riverside Crown Hospitals" not in shown  # LDN01's name
    page.get_by_text("Pick one centre").wait_for()  # no centre opened: the picker is shown
    peer = visit(browser, header_app, "centre", "centres?centre=Peer%20A")
    peer.get_by_role("heading", name="Peer A").wait_for()  # a pseudonym opens that peer's aggregate profile
    assert [n for n in PEER_NAMES if n in everything_shown(peer)] == []


def test_an_observer_sees_no_small_counts_and_no_patient_rows(header_app, browser):
    page = visit(browser, header_app, "observer", "toxicity?metric=icans_severe")
    rows = download(page, "funnel_table_download")
    for row in rows:
        for column in ("numerator", "denominator"):
            assert row[column] == "*" or int(row[column]) % 5 == 0, row
    exceptions = visit(browser, header_app, "observer", "exceptions")
    exceptions.get_by_text("Patient-level rows are not shown to your role.").wait_for()


def test_someone_not_on_the_access_list_is_denied_and_sees_no_centre(header_app, browser):
    for identity in ("stranger@example.com", None):
        page = browser.new_context(extra_http_headers={"X-Forwarded-Email": identity} if identity else {}).new_page()
        page.goto(f"{header_app.url}/overview")
        page.wait_for_selector(IDLE, timeout=60_000)
        page.get_by_role("heading", name="Access denied").wait_for()
        assert [c for c in CENTRES["centre_code"] if c in page.content()] == []


def test_views_of_patient_rows_and_exports_are_in_the_audit_log(header_app, browser):
    lead = visit(browser, header_app, "centre", "exceptions")
    lead.locator(".st-key-exception_episodes_download").wait_for()
    download(lead, "exception_episodes_download")
    national = visit(browser, header_app, "national", "data-quality")
    national.get_by_role("heading", name="Audit log").wait_for()
    with national.expect_download() as done:
        national.locator(".st-key-audit_table_download button").first.click()
    log = list(csv.DictReader(io.StringIO(done.value.path().read_text(encoding="utf-8-sig"))))
    seen = {(row["who"], row["action"]) for row in log}
    assert (PEOPLE["centre"], "view patient rows") in seen
    assert (PEOPLE["centre"], "export") in seen
    assert all(
        row["role"] == {v: k for k, v in PEOPLE.items()}[row["who"]] for row in log if row["who"] in PEOPLE.values()
    )


class _Cells(HTMLParser):
    """Count cells of the pack's tables, by column header."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._text = [], None, ""

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell, self._text = tag, ""

    def handle_data(self, data):
        if self._cell:
            self._text += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(self._text)
            self._cell = None


def test_an_observers_pack_has_no_small_count_and_opens_offline(header_app, browser, tmp_path):
    out = tmp_path / "pack.html"
    result = run_cli(
        "report",
        "--out",
        str(out),
        "--role",
        "observer",
        "--database-url",
        header_app.database_url,
        env={"CARTGOV_SNAPSHOT_DIR": str(tmp_path / "snapshots")},
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.count("OFFICIAL-SENSITIVE") >= 2 and "Role</td><td>observer" in text
    parser = _Cells()
    parser.feed(text)
    checked = 0
    for table in parser.tables:
        header = table[0]
        for column in ("Events", "Patients", "Infusions"):  # the counts, as the pack labels them
            if column in header and "Filters" not in header:
                index = header.index(column)
                for row in table[1:]:
                    cell = row[index]
                    if cell and cell != "*":
                        checked += 1
                        assert not 0 < int(cell.replace(",", "")) < 8, (header, row)
    assert checked > 50
    page = browser.new_context(offline=True).new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(out.as_uri())
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.locator(".js-plotly-plot").count() == 3
    assert [url for url in requests if not url.startswith(("file:", "data:", "blob:"))] == []


@pytest.mark.parametrize(
    ("path", "chart"), [("toxicity", "funnel"), ("itu", "itu_funnel"), ("products?product=axi-cel", "product_funnel")]
)
def test_a_lead_finds_their_own_centre_named_on_every_funnel(header_app, browser, path, chart):
    page = visit(browser, header_app, "centre", path)
    page.wait_for_selector(f".st-key-{chart} .js-plotly-plot .plot-container", timeout=30_000)
    traces = page.evaluate(f"document.querySelector('.st-key-{chart} .js-plotly-plot').data")
    ringed = [t for t in traces if t.get("name") == "Your centre"]
    assert len(ringed) == 1 and ringed[0]["text"] == ["Your centre"]
    # Drawn where the lead's own point is: on a point of one of the centre traces.
    points = {(x, y) for t in traces if t.get("customdata") for x, y in zip(t["x"], t["y"], strict=True)}
    assert (ringed[0]["x"][0], ringed[0]["y"][0]) in points
