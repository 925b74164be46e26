"""The served app against a hostile client: downloads, the identity header, shared caches and internal endpoints."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

from dashboard import store
from dashboard.ingest import ingest
from testkit.browser import IDLE
from tests.conftest import SAMPLE, serve

PANEL, LEAD, STRANGER = "panel@example.nhs.uk", "lead@example.nhs.uk", "stranger@example.com"
HEADER = "X-Forwarded-Email"
ACCESS = f'[users."{PANEL}"]\nrole = "national"\n\n[users."{LEAD}"]\nrole = "centre"\ncentre = "MID02"\n'


class Session:
    """A client of the app's own websocket protocol (Streamlit's protobufs), as a browser's page speaks it."""

    def __init__(self, app_url: str, headers: list[tuple[str, str]] = ()):
        self.url, self.headers = app_url.replace("http://", "ws://") + "/_stcore/stream", list(headers)

    def __enter__(self) -> Session:
        self.connection = connect(
            self.url, subprotocols=["streamlit"], additional_headers=self.headers, open_timeout=30, max_size=None
        )
        self.socket = self.connection.__enter__()
        return self

    def __exit__(self, *error) -> None:
        self.connection.__exit__(*error)

    def send(self, message: BackMsg) -> None:
        self.socket.send(message.SerializeToString())

    def receive_until(self, done, timeout: float = 120) -> list[tuple[bytes, ForwardMsg]]:
        """Every message sent back, raw and parsed, up to the first for which done(message) is true."""
        received, deadline = [], time.monotonic() + timeout
        while True:
            raw = self.socket.recv(timeout=max(deadline - time.monotonic(), 0.1))
            message = ForwardMsg()
            message.ParseFromString(raw)
            received.append((raw, message))
            if done(message):
                return received

    def run(self) -> bytes:
        """Ask for a run of the default page (the overview); every byte sent back until the run has finished."""
        message = BackMsg()
        message.rerun_script.query_string = ""
        message.rerun_script.page_name = ""
        self.send(message)
        self.messages = self.receive_until(  # FINISHED_SUCCESSFULLY
            lambda sent: sent.WhichOneof("type") == "script_finished" and sent.script_finished == 0
        )
        self.id = next(
            sent.new_session.initialize.session_id
            for _, sent in self.messages
            if sent.WhichOneof("type") == "new_session"
        )
        return b"".join(raw for raw, _ in self.messages)


def status(url: str, headers: dict | None = None) -> int:
    """The HTTP status a client with no browser, cookie or session gets."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def header_app(tmp_path_factory):
    """The sample behind a trusted header, with internal endpoints as a deployment has them (the defaults)."""
    folder = tmp_path_factory.mktemp("header")
    (folder / "access.toml").write_text(ACCESS)
    url = f"sqlite:///{folder / 'store.db'}"
    ingest(store.engine_for(url), [SAMPLE])
    env = {
        "CARTGOV_AUTH_MODE": "header",
        "CARTGOV_ACCESS_FILE": str(folder / "access.toml"),
        "CARTGOV_PSEUDONYM_SECRET": "a-test-secret",
        "CARTGOV_DOWNLOAD_SECONDS": "15",
    }
    with serve(url, folder / "snapshots", folder / "serve.log", env) as served:
        yield served


# --- Finding 6: exactly one identity ---


def test_two_values_of_the_identity_header_are_refused(header_app):
    """Behind a proxy that appends its header to the client's instead of replacing it, the client's own value would
    come first: it must not choose who the client is."""
    with Session(header_app.url, [(HEADER, PANEL)]) as alone:
        shown = alone.run()
    assert b"Access denied" not in shown and b"Signed in as" in shown
    for headers in (
        [(HEADER, PANEL), (HEADER, STRANGER)],
        [(HEADER, STRANGER), (HEADER, PANEL)],
        [(HEADER, f"{PANEL}, {STRANGER}")],
    ):
        with Session(header_app.url, headers) as twice:
            shown = twice.run()
        assert b"Access denied" in shown, headers
        assert b"Signed in as" not in shown and b"MID02" not in shown


# --- Finding 8: shared caches and internal endpoints ---


def test_internal_metrics_are_not_served_by_default(header_app):
    assert status(f"{header_app.url}/_stcore/metrics") == 404
    assert status(f"{header_app.url}/_stcore/metrics", {"Accept": "application/x-protobuf"}) == 404
    assert status(f"{header_app.url}/_stcore/health") == 200  # what a load balancer needs stays


def _dataset_loads(app_url: str) -> int:
    """How many times the server has loaded a dataset into its shared cache (a miss of ui.session._dataset)."""
    metrics = urllib.request.urlopen(f"{app_url}/_stcore/metrics", timeout=30).read().decode()
    found = re.search(
        r'cache_lookups_total\{cache="dashboard\.ui\.session\._dataset",[^}]*result="miss"\} (\d+)', metrics
    )
    return int(found.group(1))


def test_a_browser_cannot_clear_the_shared_caches(tmp_path):
    """Even someone denied at sign-in can send Streamlit's clear_cache message; everyone would then pay the reload."""
    (tmp_path / "access.toml").write_text(ACCESS)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    ingest(store.engine_for(url), [SAMPLE])
    env = {
        "CARTGOV_AUTH_MODE": "header",
        "CARTGOV_ACCESS_FILE": str(tmp_path / "access.toml"),
        "CARTGOV_SERVE_METRICS": "true",
    }
    with serve(url, tmp_path / "snapshots", tmp_path / "serve.log", env) as app:
        with Session(app.url) as stranger:  # no identity: denied
            assert b"Access denied" in stranger.run()
            loads = _dataset_loads(app.url)
            assert loads == 1
            clear = BackMsg()
            clear.clear_cache = True
            stranger.send(clear)
            stranger.run()  # the same connection: handled after the clear_cache message
        with Session(app.url, [(HEADER, PANEL)]) as panel:
            assert b"Signed in as" in panel.run()
        assert _dataset_loads(app.url) == loads  # nobody paid for a reload


# --- Finding 5: downloads ---


def _ask_for_file(session: Session, file_id: str) -> ForwardMsg:
    """Click a deferred download button as the browser does: ask the server to make the file behind it."""
    request = BackMsg()
    request.backend_operation_request.request_id = "r1"
    request.backend_operation_request.session_id = session.id  # the asking session's own id, as a browser sends it
    request.backend_operation_request.deferred_file.file_id = file_id
    session.send(request)
    return session.receive_until(lambda sent: sent.WhichOneof("type") == "backend_operation_response")[-1][1]


def test_a_download_made_at_the_click_is_made_only_for_the_session_that_drew_its_button(header_app):
    """The governance pack is built at the click, with the access of the session that drew the button. Streamlit
    builds it for any session that names the button's id: a stranger denied at sign-in would get a lead's pack."""
    with Session(header_app.url, [(HEADER, LEAD)]) as lead, Session(header_app.url) as stranger:
        lead.run()
        buttons = [
            sent.delta.new_element.download_button
            for _, sent in lead.messages
            if sent.delta.new_element.WhichOneof("type") == "download_button"
        ]
        pack = next(b.deferred_file_id for b in buttons if b.label.startswith("Download the governance pack"))
        assert b"Access denied" in stranger.run()
        refused = _ask_for_file(stranger, pack).backend_operation_response
        assert refused.error_msg and not refused.deferred_file.url
        made = _ask_for_file(lead, pack).backend_operation_response
        assert not made.error_msg and made.deferred_file.url.startswith("/media/")


def _open(browser, app_url: str, headers: dict | None = None):
    context = browser.new_context(
        extra_http_headers=headers or {}, viewport={"width": 1400, "height": 2400}, accept_downloads=True
    )
    page = context.new_page()
    page.goto(f"{app_url}/overview")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.locator(".st-key-volume_table_download button").wait_for()
    return context, page


def _download_url(page, button) -> str:
    """Click a download button; the URL of the file the browser received."""
    with page.expect_download() as done:
        button.click()
    assert done.value.failure() is None  # the browser itself got the file
    return done.value.url


@pytest.mark.browser
def test_the_tables_own_csv_download_is_off(served_sample, browser):
    """Streamlit's table toolbar offers "Download as CSV" of whatever a table holds, unaudited: it must be off."""
    _, page = _open(browser, served_sample.url)
    table = page.locator("[data-testid='stDataFrame']").first
    table.scroll_into_view_if_needed()
    table.hover()
    toolbar = page.locator("[data-testid='stElementToolbar'] button")
    toolbar.first.wait_for()
    labels = [button.get_attribute("aria-label") for button in toolbar.all()]
    assert "Fullscreen" in labels and "Download as CSV" not in labels, labels


@pytest.mark.browser
def test_a_download_is_served_only_to_the_browser_session_that_made_it(served_sample, browser):
    """A table's CSV (made when the page is drawn) and the governance pack (made at the click), in demo mode: no
    identity, so a file is bound to the browser that opened the session (its XSRF cookie) and to that session."""
    mine, page = _open(browser, served_sample.url)
    other, _ = _open(browser, served_sample.url)  # another browser, with a session of its own
    urls = [
        _download_url(page, page.locator(".st-key-volume_table_download button")),
        _download_url(page, page.get_by_role("button", name="Download the governance pack (HTML)")),
    ]
    for url in urls:
        assert status(url) == 404, url  # no browser at all, e.g. a URL copied out of a history or a log
        assert other.request.get(url).status == 404, url
        assert mine.request.get(url).status == 200, url
    page.close()  # the browser closes its page: the session's files go with it
    deadline = time.monotonic() + 15
    while any(mine.request.get(url).status != 404 for url in urls):
        assert time.monotonic() < deadline, "a file outlived the page that made it"
        time.sleep(0.5)


@pytest.mark.browser
def test_a_download_needs_the_same_identity_and_expires(header_app, browser):
    """Behind the proxy, a request that carries an identity must carry the one of the session that made the file; and
    a file is served for CARTGOV_DOWNLOAD_SECONDS (15 here) after the page last drew it, then never again."""
    lead, page = _open(browser, header_app.url, {HEADER: LEAD})
    url = _download_url(page, page.locator(".st-key-volume_table_download button"))
    time.sleep(1)
    page.wait_for_selector(IDLE, timeout=60_000)  # the click's rerun has drawn the button again: its time restarts
    assert lead.request.get(url).status == 200
    assert lead.request.get(url, headers={HEADER: PANEL}).status == 404  # same browser, another person
    assert status(url, {HEADER: LEAD}) == 404  # the identity alone, from outside the session's browser
    time.sleep(16)
    assert lead.request.get(url).status == 404
