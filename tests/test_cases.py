"""Outlier cases and meetings on SQLite and PostgreSQL: the HQIP process and its due dates, who may do what (in the
core, through the gate and on the command line), the agenda on a fixture, and the minutes in the pack."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dashboard import access, audit, cases, meetings, report, store
from dashboard.access import OWN_CENTRE, Viewer
from dashboard.cli import main
from dashboard.gate import Gate
from tests import fixtures
from tests.conftest import run_cli

NATIONAL = Viewer("panel@example.nhs.uk", "national")
LEAD = Viewer("lead@example.nhs.uk", "centre", "MID02")
OTHER_LEAD = Viewer("other@example.nhs.uk", "centre", "LDN01")
OBSERVER = Viewer("board@example.nhs.uk", "observer")
CENTRES = ["LDN01", "MID02", "NWE01"]
MONDAY = dt.date(2026, 10, 5)


def opened(engine, centre="MID02", metric="icans_severe", level="alarm", viewer=NATIONAL, today=MONDAY) -> int:
    return cases.open_case(
        engine,
        viewer,
        centre,
        metric,
        level,
        "ICANS worse than expected",
        f"centres?centre={centre}&metric={metric}",
        7,
        today,
    )


def events(engine) -> pl.DataFrame:
    return cases.history(engine)


def test_a_case_from_signal_to_decision_keeps_its_history_and_reopens_with_it(store_url):
    engine = store.engine_for(store_url)
    case_id = opened(engine)
    case = cases.cases(engine).row(0, named=True)
    assert (case["status"], case["owner"], case["opened_on"]) == ("new", NATIONAL.identity, MONDAY)
    assert case["due_on"] == dt.date(2026, 10, 19)  # 10 working days: two weeks from a Monday
    assert (case["evidence_version"], case["evidence_link"]) == (7, "centres?centre=MID02&metric=icans_severe")
    assert opened(engine) == case_id  # the signal persists: the same case, nothing new
    assert cases.cases(engine).height == 1 and events(engine).height == 1

    cases.move(engine, NATIONAL, case_id, "data_check_requested", "Please check ICANS grading", today=MONDAY)
    assert cases.cases(engine)["due_on"][0] == dt.date(2026, 11, 9)  # 25 working days for the centre's answer
    cases.move(
        engine, LEAD, case_id, "centre_responded", "Two grades corrected", resubmission="MID02-2026-10", today=MONDAY
    )
    with pytest.raises(cases.NotAllowed, match="decision"):
        cases.move(engine, NATIONAL, case_id, "closed", "done")
    cases.move(engine, NATIONAL, case_id, "closed", "Plan agreed", decision="action_plan_agreed", today=MONDAY)
    closed = cases.cases(engine).row(0, named=True)
    assert (closed["status"], closed["decision"], closed["closed_on"], closed["due_on"]) == (
        "closed",
        "action_plan_agreed",
        MONDAY,
        None,
    )
    with pytest.raises(cases.NotAllowed, match="closed"):
        cases.move(engine, NATIONAL, case_id, "new")

    assert opened(engine, today=MONDAY + dt.timedelta(days=30)) == case_id  # the signal returns: reopened
    again = cases.cases(engine).row(0, named=True)
    assert (again["status"], again["decision"], again["closed_on"]) == ("new", None, None)
    log = events(engine)
    assert log["kind"].to_list() == ["opened", "moved", "response", "moved", "reopened"]
    assert log["resubmission"].to_list()[2] == "MID02-2026-10"
    assert log["who"].to_list()[2] == LEAD.identity
    # Every change is in the audit log too, each in the transaction that made it.
    logged = audit.entries(engine).filter(pl.col("action") == "case")
    assert logged.height == 5 and set(logged["who"]) == {NATIONAL.identity, LEAD.identity}


def test_who_may_do_what_and_a_refusal_writes_nothing(store_url):
    engine = store.engine_for(store_url)
    for viewer in (LEAD, OBSERVER):
        with pytest.raises(cases.NotAllowed):
            opened(engine, viewer=viewer)
    case_id = opened(engine)
    before = (events(engine).height, audit.entries(engine).height)
    refused = [
        lambda: cases.move(engine, OTHER_LEAD, case_id, "centre_responded", "not mine"),  # another centre's lead
        lambda: cases.note(engine, OTHER_LEAD, case_id, "not mine"),
        lambda: cases.move(engine, LEAD, case_id, "closed", "mine", decision="no_concern"),  # a lead only answers
        lambda: cases.move(engine, LEAD, case_id, "under_panel_review"),
        lambda: cases.assign(engine, LEAD, case_id, "lead"),
        lambda: cases.move(engine, OBSERVER, case_id, "centre_responded", "x"),
        lambda: cases.note(engine, OBSERVER, case_id, "x"),
        lambda: cases.move(engine, LEAD, case_id, "centre_responded", "   "),  # an answer needs its text
        lambda: cases.move(engine, NATIONAL, 999, "closed", decision="no_concern"),
    ]
    for attempt in refused:
        with pytest.raises(cases.NotAllowed):
            attempt()
    assert (events(engine).height, audit.entries(engine).height) == before
    assert cases.cases(engine)["status"][0] == "new"
    cases.note(engine, LEAD, case_id, "We are looking at it")  # the centre's own lead may note and answer
    cases.assign(engine, NATIONAL, case_id, "chair@example.nhs.uk")
    assert cases.cases(engine)["owner"][0] == "chair@example.nhs.uk"


def test_due_dates_skip_weekends_and_follow_the_configured_timelines(tmp_path, monkeypatch):
    friday = dt.date(2026, 10, 9)
    assert cases.due("new", friday) == dt.date(2026, 10, 23)
    assert cases.due("data_check_requested", friday) == dt.date(2026, 11, 13)
    assert cases.due("closed", friday) is None
    assert cases.due("new", dt.date(2026, 10, 10)) == dt.date(2026, 10, 26)  # opened on a Saturday: from Monday
    custom = tmp_path / "timelines.toml"
    custom.write_text("data_check_requested = 5\n")
    monkeypatch.setenv("CARTGOV_CASE_TIMELINES", str(custom))
    assert cases.due("data_check_requested", friday) == dt.date(2026, 10, 16)
    assert cases.due("new", friday) == dt.date(2026, 10, 23)  # the others keep their defaults
    custom.write_text("data_check = 5\n")
    with pytest.raises(ValueError, match="timelines"):
        cases.due("new", friday)


def test_the_gate_shows_a_lead_their_own_cases_under_their_labels_and_an_observer_counts(sqlite_url):
    engine = store.engine_for(sqlite_url)
    mine, theirs = opened(engine), opened(engine, centre="LDN01", metric="crs_severe", level="alert")
    cases.move(engine, NATIONAL, theirs, "closed", decision="no_concern")
    every = cases.cases(engine)
    lead = Gate(access.Policy.for_viewer(LEAD, CENTRES, "secret"))
    shown = lead.cases(every)
    assert shown["case_id"].to_list() == [mine]
    assert shown["centre_code"].to_list() == [OWN_CENTRE]
    assert shown["evidence_link"][0] == "centres?centre=Your+centre&metric=icans_severe"
    assert "LDN01" not in json.dumps(shown.to_dicts(), default=str) and "MID02" not in json.dumps(
        shown.to_dicts(), default=str
    )
    observer = Gate(access.Policy.for_viewer(OBSERVER, CENTRES, "secret"))
    assert observer.cases(every).height == 0
    counts = observer.case_counts(every)
    assert counts.columns == ["status", "decision", "cases"]
    assert sorted(counts.rows()) == [("closed", "no_concern", 1), ("new", None, 1)]
    national = Gate(access.Policy.for_viewer(NATIONAL, CENTRES, "secret"))
    assert national.cases(every).equals(every)


def signal(centre: str, metric: str, severity: str, kind: str = "funnel") -> dict:
    return {
        "severity": severity,
        "kind": kind,
        "metric": metric,
        "centre": centre,
        "rule": "above_99.8" if severity == "alarm" else "above_95",
        "side": "high",
        "numerator": 12,
        "denominator": 40,
        "rate": 0.3,
        "target": 0.15,
        "expected": 6.0,
        "ratio": 2.0,
        "p_value": 0.0004,
        "reason": None,
        "period_start": dt.date(2026, 4, 1) if kind == "cusum" else None,
        "period_end": dt.date(2026, 8, 14) if kind == "cusum" else None,
    }


def test_the_agenda_for_a_date_lists_exactly_the_expected_items(sqlite_url):
    from dashboard.metrics.signals import SIGNAL_SCHEMA

    engine = store.engine_for(sqlite_url)
    last_meeting = dt.date(2026, 9, 1)
    on = dt.date(2026, 10, 20)
    # Cases: due (opened 2026-10-05, due 2026-10-19), not yet due (opened 2026-10-19), signal cleared (no longer
    # raised), decided after the last meeting, decided before it.
    due = opened(engine, "MID02", "icans_severe", "alarm", today=MONDAY)
    later = opened(engine, "LDN01", "itu_admission", "alert", today=dt.date(2026, 10, 19))
    cleared = opened(engine, "NWE01", "crs_severe", "alert", today=dt.date(2026, 10, 19))
    decided = opened(engine, "NWE01", "icans_severe", "alarm", today=dt.date(2026, 8, 3))
    cases.move(engine, NATIONAL, decided, "closed", decision="no_concern", today=dt.date(2026, 9, 14))
    old = opened(engine, "LDN01", "crs_severe", "alarm", today=dt.date(2026, 6, 1))
    cases.move(engine, NATIONAL, old, "closed", decision="escalated", today=dt.date(2026, 8, 20))
    # The previous meeting's agenda had LDN01's CRS alert as a new signal: the panel saw it and opened no case.
    items = meetings.agenda(
        last_meeting,
        pl.DataFrame([signal("LDN01", "crs_severe", "alert")], schema=SIGNAL_SCHEMA),
        pl.DataFrame(schema=cases.CASE_COLUMNS),
        None,
        {},
    )
    meeting_id = meetings.start(engine, NATIONAL, last_meeting, items)
    raised = pl.DataFrame(
        [
            signal("MID02", "icans_severe", "alarm"),  # has an open case (due)
            signal("LDN01", "itu_admission", "alert", "cusum"),  # has an open case (not yet due)
            signal("LDN01", "crs_severe", "alert"),  # on the last agenda already
            signal("MID02", "crs_severe", "alert", "cusum"),  # new
            signal("NWE01", "icans_severe", "alarm"),  # new: its case was closed (it returns)
            {**signal(None, "ta_outside", "alert", "outside_ta"), "reason": "x"},  # not about one centre
        ],
        schema=SIGNAL_SCHEMA,
    )
    period = {"start": ["2023-10-01"], "end": ["2026-09-30"]}
    agenda = meetings.agenda(on, raised, cases.cases(engine), meetings.last_before(engine, on), period)
    assert [
        (r["kind"], r["case_id"], r["centre_code"], r["metric"], r["level"]) for r in agenda.iter_rows(named=True)
    ] == [
        ("new_signal", None, "NWE01", "icans_severe", "alarm"),  # alarms first
        ("new_signal", None, "MID02", "crs_severe", "alert"),
        ("due", due, "MID02", "icans_severe", "alarm"),
        ("cleared", cleared, "NWE01", "crs_severe", "alert"),
        ("decided", decided, "NWE01", "icans_severe", "alarm"),
    ]
    assert agenda["position"].to_list() == [1, 2, 3, 4, 5]
    assert later not in agenda["case_id"].to_list()
    assert agenda["link"][1] == "centres?start=2023-10-01&end=2026-09-30&centre=MID02&metric=crs_severe"
    assert "CUSUM crossed its threshold in August 2026" in agenda["detail"][1]
    assert "MID02" not in agenda["detail"][1]  # the centre is named as each reader knows it, not in the words
    assert agenda["detail"][2].endswith("next step due 2026-10-19 (overdue)")
    assert agenda["detail"][4] == f"Case {decided}, ICANS, grade 3 or more (alarm): Closed: no concern on 2026-09-14"
    assert meetings.minutes(engine, meeting_id).items.height == 1
    # Without a previous meeting, LDN01's CRS alert is new, and both decided cases are listed.
    first = meetings.agenda(on, raised, cases.cases(engine), None, period)
    assert ("new_signal", "LDN01") in [(r["kind"], r["centre_code"]) for r in first.iter_rows(named=True)]
    assert first.filter(pl.col("kind") == "decided")["case_id"].to_list() == [old, decided]


def test_the_minutes_open_the_pack_each_reader_seeing_what_their_role_may(sqlite_url):
    engine = store.engine_for(sqlite_url)
    data = fixtures.generated(3000, 2026)
    centres = list(data["centres"]["centre_code"])
    mine = opened(engine, "MID02", "icans_severe", "alarm")
    theirs = opened(engine, "LDN01", "crs_severe", "alert")
    cases.move(engine, NATIONAL, mine, "closed", "Audit of grading agreed", decision="action_plan_agreed")
    on = dt.date.today()
    agenda = meetings.agenda(on, _no_signals(), cases.cases(engine), None, {})
    meeting_id = meetings.start(engine, NATIONAL, on, agenda)
    decided = agenda.filter(pl.col("case_id") == mine)["position"][0]
    meetings.record(
        engine,
        NATIONAL,
        meeting_id,
        decided,
        "Noted: action plan agreed with MID02",
        [{"action": "Re-audit ICANS grading", "owner": "MID02 lead", "due": "2026-12-31"}],
    )
    meetings.attend(engine, NATIONAL, meeting_id, "Dr A (chair), Dr B, Ms C")
    with pytest.raises(cases.NotAllowed):
        meetings.record(engine, LEAD, meeting_id, decided, "mine", [])
    minutes = meetings.minutes(engine, meeting_id)

    def pack(viewer: Viewer) -> str:
        policy = access.Policy.for_viewer(viewer, centres, access.DEFAULT_SECRET, shared_export=True)
        return report.build(
            data, fixtures_filters(data), Gate(policy), minutes=minutes, base_url="https://cartgov.example"
        )

    national = pack(NATIONAL)
    assert national.index("Minutes of the governance meeting") < national.index("<h2>Overview</h2>")
    assert "Dr A (chair), Dr B, Ms C" in national
    assert (
        "Noted: action plan agreed with MID02" in national
        and "Re-audit ICANS grading (MID02 lead, by 2026-12-31)" in national
    )
    assert "Closed: action plan agreed" in national
    assert "href='https://cartgov.example/centres?centre=MID02&amp;metric=icans_severe'" in national
    assert f"Case {theirs}" in national
    lead = pack(LEAD)
    assert "Re-audit ICANS grading" in lead and f"Case {theirs}" not in lead
    assert "centre=Your+centre" in lead
    observer = pack(OBSERVER)
    minutes_part = observer[observer.index("Minutes of") : observer.index("<h2>Overview</h2>")]
    for named in ("Re-audit", f"Case {mine},", f"Case {theirs},", "MID02", "LDN01", "Your centre"):
        assert named not in minutes_part, named
    assert "Decided since the last meeting: 1" in minutes_part


def _no_signals() -> pl.DataFrame:
    from dashboard.metrics.signals import SIGNAL_SCHEMA

    return pl.DataFrame(schema=SIGNAL_SCHEMA)


def fixtures_filters(data):
    from dashboard.filters import Filters

    return Filters().dated(data.extract_date)


def test_the_command_line_keeps_a_lead_to_their_own_centres_cases(seeded_sqlite, tmp_path):
    access_file = tmp_path / "access.toml"
    access_file.write_text(
        '[users."panel@example.nhs.uk"]\nrole = "national"\n'
        '[users."lead@example.nhs.uk"]\nrole = "centre"\ncentre = "MID02"\n'
        '[users."other@example.nhs.uk"]\nrole = "centre"\ncentre = "LDN01"\n'
        '[users."board@example.nhs.uk"]\nrole = "observer"\n'
    )
    env = {"CARTGOV_ACCESS_FILE": str(access_file)}

    def cli(*args: str, who: str = "panel@example.nhs.uk"):
        """`cartgov` in this process (the imports paid once): exit code, stdout and stderr as a user sees them."""
        return CliRunner().invoke(main, [*args, "--as", who, "--database-url", seeded_sqlite], env=env)

    # The sample's MID02 ICANS alarm, opened from the signal raised now, by the command as a user runs it.
    made = run_cli(
        "cases",
        "open",
        "--centre",
        "MID02",
        "--metric",
        "icans_severe",
        "--level",
        "alarm",
        "--as",
        "panel@example.nhs.uk",
        "--database-url",
        seeded_sqlite,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    case_id = int(made.stdout.split()[1].rstrip(":"))
    refused = cli("cases", "open", "--centre", "MID02", "--metric", "crs_any", "--level", "alarm")
    assert refused.exit_code == 2 and "a case is opened from a signal" in refused.stderr
    assert cli("cases", "move", str(case_id), "data_check_requested", "--note", "Check grades").exit_code == 0

    other = cli("cases", "show", str(case_id), who="other@example.nhs.uk")
    assert other.exit_code == 2 and "no case" in other.stderr and "MID02" not in other.stdout + other.stderr
    listed = cli("cases", "list", "--format", "json", who="other@example.nhs.uk")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    moved = cli("cases", "move", str(case_id), "centre_responded", "--note", "mine now", who="other@example.nhs.uk")
    assert moved.exit_code == 2 and "may not" in moved.stderr
    assert cli("cases", "note", str(case_id), "hello", who="other@example.nhs.uk").exit_code == 2
    assert cli("cases", "list", who="stranger@example.nhs.uk").exit_code == 2

    answer = cli(
        "cases",
        "move",
        str(case_id),
        "centre_responded",
        "--note",
        "Two grades corrected",
        "--resubmission",
        "R1",
        who="lead@example.nhs.uk",
    )
    assert answer.exit_code == 0, answer.stderr
    own = json.loads(cli("cases", "show", str(case_id), "--format", "json", who="lead@example.nhs.uk").stdout)
    assert own["centre_code"] == OWN_CENTRE and own["status"] == "centre_responded"
    assert [e["kind"] for e in own["history"]] == ["opened", "moved", "response"]
    assert "MID02" not in json.dumps(own)
    counts = json.loads(cli("cases", "list", "--format", "json", who="board@example.nhs.uk").stdout)
    assert counts == [{"status": "centre_responded", "decision": None, "cases": 1}]

    agenda = json.loads(cli("meeting", "agenda", "--date", "2026-10-20", "--format", "json").stdout)
    assert ("due", case_id) not in [(i["kind"], i["case_id"]) for i in agenda]  # answered: not due until 2026-11
    assert any(i["kind"] == "new_signal" for i in agenda)
    lead_agenda = json.loads(
        cli("meeting", "agenda", "--date", "2026-10-20", "--format", "json", who="lead@example.nhs.uk").stdout
    )
    assert {i["centre_code"] for i in lead_agenda} <= {OWN_CENTRE}
    engine = store.engine_for(seeded_sqlite)
    with engine.connect() as connection:
        logged = connection.execute(sa.select(store.audit_log.c.who, store.audit_log.c.action)).all()
    assert any(who.startswith("cli:other@example.nhs.uk") and action == "view cases" for who, action in logged)
