"""A case's whole life in Chromium, on SQLite and PostgreSQL: a national member and the MID02 lead, each signed in
in their own browser, take the sample's MID02 ICANS alarm from signal to a decision, and the decision reaches the next
meeting's pack; a lead cannot see or change another centre's case by page or URL."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboard import store
from dashboard.ingest import ingest
from testkit.browser import IDLE, websocket_bytes
from tests.conftest import SAMPLE, serve

pytestmark = pytest.mark.browser

PEOPLE = {
    "national": "panel@example.nhs.uk",
    "lead": "lead@example.nhs.uk",
    "peer": "peer@example.nhs.uk",
    "observer": "board@example.nhs.uk",
}
ACCESS = """
[users."panel@example.nhs.uk"]
role = "national"

[users."lead@example.nhs.uk"]
role = "centre"
centre = "MID02"

[users."peer@example.nhs.uk"]
role = "centre"
centre = "LDN01"

[users."board@example.nhs.uk"]
role = "observer"
"""
CENTRES = pl.read_csv(SAMPLE / "centres.csv")
PEER_NAMES = CENTRES.filter(pl.col("centre_code") != "MID02")["centre_name"].to_list()


@pytest.fixture
def case_app(store_url, tmp_path):
    (tmp_path / "access.toml").write_text(ACCESS)
    ingest(store.engine_for(store_url), [SAMPLE])
    env = {
        "CARTGOV_AUTH_MODE": "header",
        "CARTGOV_ACCESS_FILE": str(tmp_path / "access.toml"),
        "CARTGOV_PSEUDONYM_SECRET": "a-test-secret",
        "CARTGOV_VERSION_CHECK_SECONDS": "2",
    }
    with serve(store_url, tmp_path / "snapshots", tmp_path / "serve.log", env) as served:
        yield served


def signed_in(browser, app, who: str, path: str, sent: list[bytes] | None = None):
    """A browser of this person's own (their own context, cookies and header), at a page, settled; every websocket
    message the server sends it kept in `sent`."""
    context = browser.new_context(
        extra_http_headers={"X-Forwarded-Email": PEOPLE[who]}, viewport={"width": 1400, "height": 1600}
    )
    page = context.new_page()
    if sent is not None:
        websocket_bytes(page, sent)
    page.goto(f"{app.url}/{path}")
    page.locator("h1").first.wait_for(timeout=60_000)
    settle(page)
    return page


def settle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=60_000)


def choose(page, label: str, option: str) -> None:
    """Pick an option of a select box by its label. (A rerun that lands just after the click closes the list: open
    it again.)"""
    wanted = page.get_by_role("option", name=option)
    for _ in range(5):
        page.get_by_role("combobox", name=label, exact=True).click()
        try:
            wanted.wait_for(timeout=3_000)
            break
        except PlaywrightTimeout:
            settle(page)
    wanted.click()
    settle(page)


def in_table(page, text: str) -> None:
    """Text in a table (drawn on a canvas; its cells are in the page for screen readers)."""
    page.get_by_text(text, exact=True).first.wait_for(state="attached")


def submit(page, button: str, fields: dict[str, str]) -> None:
    """Fill a form's text fields (by label) and press its button; wait for the rerun and the one after it."""
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name=button))
    for label, value in fields.items():
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_role("button", name=button).click()
    settle(page)
    settle(page)


def test_the_mid02_icans_alarm_from_signal_to_decision_into_the_next_meetings_pack(case_app, browser, tmp_path):
    national = signed_in(browser, case_app, "national", "cases")
    alarm = national.get_by_test_id("stHorizontalBlock").filter(
        has_text=re.compile(r"ALARM MID02: ICANS, grade 3 or more: worse than expected \(99\.8%\)")
    )
    alarm.get_by_role("button", name="Open a case").click()
    settle(national)
    national.get_by_text("Case opened for MID02").wait_for()
    choose(national, "Case", "Case 1: MID02, ICANS, grade 3 or more (alarm)")
    national.get_by_text("Evidence (data version 1)").wait_for()
    choose(national, "Move to", "Data check requested")
    submit(national, "Move the case", {"Note for the history": "Please check the ICANS grades of 2026"})
    national.get_by_text("Case 1: Data check requested.").wait_for()

    lead = signed_in(browser, case_app, "lead", "cases?case=1")
    lead.get_by_role("heading", name="Your centre's cases").wait_for()
    lead.get_by_text("Case 1: Your centre, ICANS, grade 3 or more (alarm)").first.wait_for()
    in_table(lead, "Please check the ICANS grades of 2026")  # the panel's request, in the case's history
    submit(
        lead,
        "Send the answer",
        {
            "Your answer": "Two patients were graded 3 in error; corrected and resubmitted",
            "Resubmission reference": "MID02-2026-11",
        },
    )
    lead.get_by_text("Case 1: your answer is recorded.").wait_for()
    assert lead.get_by_role("button", name="Close with this decision").count() == 0  # a lead answers, never decides

    national.goto(f"{case_app.url}/cases?case=1")
    national.locator("h1").first.wait_for()
    settle(national)
    in_table(national, "Two patients were graded 3 in error; corrected and resubmitted (resubmission MID02-2026-11)")
    choose(national, "Decision", "Action plan agreed")
    submit(national, "Close with this decision", {"The panel's reasons": "Re-audit of ICANS grading in 3 months"})
    national.get_by_text("Case 1 closed: action plan agreed.").wait_for()

    today = dt.date.today().isoformat()
    national.goto(f"{case_app.url}/meetings?meeting_date={today}")
    national.locator("h1").first.wait_for()
    settle(national)
    national.get_by_text("Decided since the last meeting", exact=True).wait_for()
    national.get_by_text(re.compile(r"Case 1, ICANS, grade 3 or more \(alarm\): Closed: action plan agreed")).wait_for()
    national.get_by_role("button", name="Start the minutes of this meeting").click()
    settle(national)
    national.get_by_text(f"Minutes of {today} started.").wait_for()
    submit(national, "Save the attendance", {"Attendance": "Dr A (chair), Dr B, Ms C"})
    decided = national.get_by_test_id("stExpander").filter(has_text="Decided since the last meeting: MID02")
    form = decided.locator("[data-testid='stForm']")
    form.get_by_label("Decision").fill("Noted: the re-audit reports to the March meeting")
    form.get_by_role("button", name="Record the decision and actions").click()
    settle(national)
    settle(national)
    national.get_by_text(re.compile(r"Item \d+ recorded\.")).wait_for()

    with national.expect_download() as done:
        national.locator(".st-key-pack_download button").first.click()
    pack = done.value.path().read_text(encoding="utf-8")
    minutes = pack[pack.index("Minutes of the governance meeting") : pack.index("<h2>Overview</h2>")]
    assert f"Minutes of the governance meeting on {today}" in minutes
    assert "Dr A (chair), Dr B, Ms C" in minutes
    assert "Closed: action plan agreed" in minutes
    assert "Noted: the re-audit reports to the March meeting" in minutes
    assert re.search(r"href='http://127\.0\.0\.1:\d+/centres\?[^']*centre=MID02", minutes)


def test_a_lead_cannot_see_or_change_another_centres_case(case_app, browser):
    national = signed_in(browser, case_app, "national", "cases")
    peer_signal = national.get_by_test_id("stHorizontalBlock").filter(has_text=re.compile(r"^ALERT (?!MID02)"))
    peer_signal.first.get_by_role("button", name="Open a case").click()
    settle(national)
    national.get_by_text("Case opened for").wait_for()

    sent: list[bytes] = []
    lead = signed_in(browser, case_app, "lead", "cases?case=1", sent)
    lead.get_by_text("There is no case 1 that you may see.").wait_for()
    lead.get_by_text("No open cases.").wait_for()
    assert lead.get_by_role("button", name="Send the answer").count() == 0
    assert lead.get_by_role("button", name="Add the note").count() == 0
    shown = lead.content() + b"".join(sent).decode("utf-8", "replace")
    for name in PEER_NAMES:
        assert name not in shown, name
    assert not re.search(r"\b(LDN|NWE|NEY|SWE|SEA|EOE)0\d\b", shown)
    meetings = signed_in(browser, case_app, "lead", "meetings")
    meetings.get_by_text("Meetings are recorded by national members").wait_for()
    assert meetings.get_by_role("button", name="Start the minutes of this meeting").count() == 0


def test_an_observer_is_sent_no_case_only_counts_by_status(case_app, browser):
    national = signed_in(browser, case_app, "national", "cases")
    alarm = national.get_by_test_id("stHorizontalBlock").filter(has_text=re.compile(r"ALARM MID02: ICANS"))
    alarm.get_by_role("button", name="Open a case").click()
    settle(national)
    national.get_by_text("Case opened for MID02").wait_for()

    sent: list[bytes] = []
    observer = signed_in(browser, case_app, "observer", "cases?case=1", sent)
    observer.get_by_text("your role is told how many there are").wait_for()
    meetings = signed_in(browser, case_app, "observer", "meetings", sent)
    meetings.get_by_text("the number of items of each kind").wait_for()
    shown = observer.content() + meetings.content() + b"".join(sent).decode("utf-8", "replace")
    for code, name in CENTRES.select("centre_code", "centre_name").iter_rows():
        assert code not in shown and name not in shown, code
    assert "ICANS, grade 3 or more: worse" not in shown  # not the evidence, not the signal behind the case
