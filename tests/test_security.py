"""Hostile input and sign-in: markup as text, hostile URLs and SQL, secrets, demo mode by content, identities."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import time
import uuid

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard import store
from dashboard.ingest import ingest
from dashboard.ui import session
from testkit.browser import IDLE, websocket_bytes
from testkit.pages import PAGE_PATHS
from tests.conftest import BAD_SUBMISSION, SAMPLE, run_cli, serve
from tests.test_app import run_app

HOSTILE_NAME = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>[link](javascript:alert(1))'


HOSTILE_EPISODE = "<svg/onload=window.__xss=3>"  # an episode id may be any 1-32 characters without spaces
HOSTILE_CELL = "<script>window.__xss=4</script>"  # breaks its rule: shown back among the quarantined rows' values
HOSTILE_BRAND = "Yescarta<b onmouseover=window.__xss=5>x</b>"


def _replace(frame: pl.DataFrame, key: str, value: str, column: str, new: str) -> pl.DataFrame:
    return frame.with_columns(pl.when(pl.col(key) == value).then(pl.lit(new)).otherwise(pl.col(column)).alias(column))


@pytest.fixture
def hostile_store(tmp_path) -> str:
    """The sample, with markup and script in every kind of text a submission carries: a centre's name, a product's
    brand, an episode id (accepted, shown among exception episodes) and a cell that breaks its rule (quarantined,
    shown back on the data-quality page)."""
    folder = tmp_path / "submission"
    folder.mkdir()
    for path in SAMPLE.glob("*.*"):
        (folder / path.name).write_bytes(path.read_bytes())
    read = {
        name: pl.read_csv(SAMPLE / f"{name}.csv", infer_schema=False)
        for name in ("centres", "products", "infusions", "followup")
    }
    _replace(read["centres"], "centre_code", "NEY04", "centre_name", HOSTILE_NAME).write_csv(folder / "centres.csv")
    _replace(read["products"], "product_code", "axi-cel", "brand", HOSTILE_BRAND).write_csv(folder / "products.csv")
    infusions = _replace(read["infusions"], "episode_id", "EP0002995", "episode_id", HOSTILE_EPISODE)
    _replace(infusions, "episode_id", "EP0002960", "sex", HOSTILE_CELL).write_csv(folder / "infusions.csv")
    _replace(read["followup"], "episode_id", "EP0002995", "episode_id", HOSTILE_EPISODE).write_csv(
        folder / "followup.csv"
    )
    url = f"sqlite:///{tmp_path / 'store.db'}"
    report = ingest(store.engine_for(url), [folder])
    held = {f.table: f.quarantined for f in report.files}
    assert (report.exit_code, held["infusions"], held["followup"]) == (1, 1, 0)  # the broken row (no follow-up yet)
    return url


@pytest.mark.browser
def test_markup_in_submitted_text_is_shown_as_text_never_run(hostile_store, browser, tmp_path):
    # Not the bundled sample, so not in demo mode: a national panel member behind the trusted header.
    (tmp_path / "access.toml").write_text('[users."panel@example.nhs.uk"]\nrole = "national"\n')
    env = {"CARTGOV_AUTH_MODE": "header", "CARTGOV_ACCESS_FILE": str(tmp_path / "access.toml")}
    with serve(hostile_store, tmp_path / "snapshots", tmp_path / "serve.log", env) as app:
        page = browser.new_context(
            viewport={"width": 1400, "height": 2400}, extra_http_headers={"X-Forwarded-Email": "panel@example.nhs.uk"}
        ).new_page()
        dialogs, sent = [], websocket_bytes(page)
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for path, shown in (
            ("data-quality", HOSTILE_NAME),
            ("centres?centre=NEY04", HOSTILE_NAME),
            ("exceptions?centre=SWE02", None),
            ("products?product=axi-cel", HOSTILE_BRAND),
            ("nice-ta", None),
            ("overview", None),
        ):
            page.goto(f"{app.url}/{path}")
            page.wait_for_selector(IDLE, timeout=60_000)
            page.locator("h1").first.wait_for()
            if shown:  # drawn in the page's own text (tables are drawn on a canvas, where nothing can run)
                page.get_by_text(shown[:30], exact=False).first.wait_for()
            for chart in page.locator(".js-plotly-plot").all()[:4]:  # hover labels carry names too
                chart.scroll_into_view_if_needed()
                chart.hover()
            assert page.evaluate("window.__xss") is None, path
            assert page.locator("img[src='x'], svg[onload], b[onmouseover], script:text('__xss')").count() == 0
            assert page.locator("a[href^='javascript:']").count() == 0
        assert dialogs == []
        received = b"".join(sent)
        for value in (HOSTILE_EPISODE, HOSTILE_CELL):  # sent to the tables that show them, and run nowhere
            assert value.encode() in received


@pytest.mark.parametrize(
    "query",
    [
        {"centre": ["' OR 1=1; DROP TABLE infusions; --"]},
        {"product": ["axi-cel' UNION SELECT * FROM audit_log --"]},
        {"start": ["2020-01-01'; DELETE FROM followup; --"]},
        {"centre": ["A" * 100_000]},
        {"ta": [f"TA{i}" for i in range(500)]},
        {"age": ["\x00\x1b[31m<svg onload=alert(1)>"]},
    ],
)
def test_hostile_url_parameters_are_ignored_with_a_note(monkeypatch, seeded_sqlite, query):
    app = run_app(monkeypatch, seeded_sqlite, query=query)
    assert not app.exception
    note = " ".join(i.value for i in app.sidebar.info)
    assert "is not a known value" in note or "is not a date" in note
    assert len(note) < 5000  # an oversized value is echoed back cut short
    counts = store.row_counts(store.engine_for(seeded_sqlite))
    assert counts["infusions"] == 3000 and counts["followup"] == 2891  # nothing ran against the store


def test_demo_mode_is_refused_on_real_data(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'real.db'}"
    real = tmp_path / "real"
    real.mkdir()
    (real / "centres.csv").write_bytes((SAMPLE / "centres.csv").read_bytes())  # no manifest: not synthetic
    ingest(store.engine_for(url), [real], extract_date=dt.date(2026, 9, 30))
    monkeypatch.setenv("CARTGOV_AUTH_MODE", "demo")
    app = run_app(monkeypatch, url)
    assert [t.value for t in app.title] == ["Access denied"]
    assert "Demo mode shows only the bundled synthetic sample" in app.error[0].value
    assert not app.sidebar.selectbox  # no role picker


@pytest.mark.parametrize("access_file", ["missing", "broken"])
def test_a_missing_or_broken_access_file_lets_nobody_in(monkeypatch, seeded_sqlite, tmp_path, access_file):
    path = tmp_path / "access.toml"
    if access_file == "broken":
        path.write_text("[users.\n")
    monkeypatch.setenv("CARTGOV_AUTH_MODE", "header")
    monkeypatch.setenv("CARTGOV_ACCESS_FILE", str(path))
    app = run_app(monkeypatch, seeded_sqlite)
    assert [t.value for t in app.title] == ["Access denied"]
    assert "nobody is let in" in app.error[0].value
    assert not app.dataframe and not app.metric


@pytest.mark.browser
def test_secrets_are_never_shown_logged_or_exported(private_postgres, browser, tmp_path):
    """The store's password and the pseudonym secret appear on no page, in no share link, log, CLI output or pack,
    also when the store goes away and when a password is wrong."""
    secret = f"pseudonym-secret-{uuid.uuid4().hex}"
    ingest(store.engine_for(private_postgres.url), [SAMPLE])
    people = {
        "panel@example.nhs.uk": ("national", ""),
        "lead@example.nhs.uk": ("centre", 'centre = "MID02"'),
        "board@example.nhs.uk": ("observer", ""),
    }
    (tmp_path / "access.toml").write_text(
        "".join(f'[users."{who}"]\nrole = "{role}"\n{extra}\n' for who, (role, extra) in people.items())
    )
    env = {
        "CARTGOV_AUTH_MODE": "header",
        "CARTGOV_ACCESS_FILE": str(tmp_path / "access.toml"),
        "CARTGOV_PSEUDONYM_SECRET": secret,
        "CARTGOV_VERSION_CHECK_SECONDS": "1",
    }
    seen = []
    with serve(private_postgres.url, tmp_path / "snapshots", tmp_path / "serve.log", env) as app:
        for who, paths in (
            ("lead@example.nhs.uk", PAGE_PATHS),
            ("panel@example.nhs.uk", ["overview", "data-quality"]),
            ("board@example.nhs.uk", ["centres"]),
        ):
            context = browser.new_context(
                extra_http_headers={"X-Forwarded-Email": who}, viewport={"width": 1400, "height": 2000}
            )
            page = context.new_page()
            for path in paths:
                page.goto(f"{app.url}/{path}")
                page.wait_for_selector(IDLE, timeout=60_000)
                page.locator("h1").first.wait_for()
                seen.append(page.content())
            page.get_by_text("Share this view").click()
            seen.append(page.locator("[data-testid='stCode']").inner_text())
        private_postgres.stop()  # the driver's connection error must not carry the URL to the page or the log
        time.sleep(1.5)
        page.get_by_test_id("stSidebarUserContent").get_by_role("link", name="Overview", exact=True).click()
        page.get_by_text("The data store is unavailable").wait_for()
        seen.append(page.content())
        private_postgres.start()
    seen.append((tmp_path / "serve.log").read_text())
    cli_env = {"CARTGOV_DATABASE_URL": private_postgres.url, "CARTGOV_PSEUDONYM_SECRET": secret}
    for command in (
        ["metrics", "--metric", "crs_severe", "--by", "centre", "--format", "json"],
        ["quarantine", "list"],
        ["ingest", str(BAD_SUBMISSION)],
        ["report", "--out", str(tmp_path / "pack.html"), "--role", "centre", "--centre", "MID02"],
    ):
        result = run_cli(*command, env=cli_env)
        assert result.returncode in (0, 1), result.stderr
        seen += [result.stdout, result.stderr]
    seen.append((tmp_path / "pack.html").read_text())
    wrong = private_postgres.url.replace(private_postgres.password, "wrong-password-shown-nowhere")
    refused = run_cli("metrics", "--metric", "crs_severe", env={"CARTGOV_DATABASE_URL": wrong})
    assert refused.returncode == 2 and "password authentication failed" in refused.stderr
    seen += [refused.stdout, refused.stderr]
    everything = "\n".join(seen)
    assert not re.search(r"://[^/\s]+:[^/\s]+@", everything)  # no URL with credentials in it
    for hidden in (private_postgres.password, secret, "wrong-password-shown-nowhere"):
        assert hidden not in everything


def _websocket_status(url: str, host: str) -> int:
    """The HTTP status of a WebSocket handshake to the app, as a browser under `host` would make it."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            (
                f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n\r\n"
            ).encode()
        )
        return int(connection.recv(1024).split(b" ", 2)[1])


def test_allowed_hosts_refuse_a_browser_under_any_other_host_name(seeded_sqlite, tmp_path):
    """DNS rebinding: a page on evil.example whose name resolves to the app's address must not get a session."""
    env = {"CARTGOV_ALLOWED_HOSTS": "127.0.0.1, cart-governance.example.nhs.uk"}
    with serve(seeded_sqlite, tmp_path / "snapshots", tmp_path / "serve.log", env) as app:
        assert _websocket_status(app.url, "127.0.0.1") == 101
        assert _websocket_status(app.url, "cart-governance.example.nhs.uk") == 101
        assert _websocket_status(app.url, "evil.example") == 403
    with serve(seeded_sqlite, tmp_path / "snapshots", tmp_path / "serve-any.log") as app:
        assert _websocket_status(app.url, "evil.example") == 101  # unset: any host (documented default)


INJECTIONS = ["x'; DROP TABLE infusions; --", "' OR '1'='1", 'MID02" OR 1=1 --', "1); DELETE FROM followup; --"]


def test_sql_in_cli_filters_is_refused_and_never_reaches_the_store(seeded_sqlite):
    from click.testing import CliRunner

    from dashboard.cli import main

    before = store.row_counts(store.engine_for(seeded_sqlite))
    runner = CliRunner()
    for value in INJECTIONS:
        for option in ("--centre", "--product", "--ta", "--age", "--start"):
            result = runner.invoke(
                main, ["metrics", "--metric", "crs_severe", option, value, "--database-url", seeded_sqlite]
            )
            assert result.exit_code == 2, result.output
            assert "invalid filter" in result.output or f"Invalid value for '{option}'" in result.output
        held = runner.invoke(
            main, ["quarantine", "list", "--centre", value, "--format", "json", "--database-url", seeded_sqlite]
        )
        assert (held.exit_code, json.loads(held.output)) == (0, [])  # matched as a value, nothing matched
    assert store.row_counts(store.engine_for(seeded_sqlite)) == before


def test_sql_in_submitted_text_is_stored_as_text(store_url, tmp_path):
    """Submitted values are bound parameters on SQLite and PostgreSQL: SQL in a cell is data, never a statement."""
    folder = tmp_path / "submission"
    folder.mkdir()
    for path in SAMPLE.glob("*.*"):
        (folder / path.name).write_bytes(path.read_bytes())
    centres = pl.read_csv(SAMPLE / "centres.csv", infer_schema=False)
    names = dict(zip(centres["centre_code"][: len(INJECTIONS)], INJECTIONS, strict=True))
    centres.with_columns(
        pl.col("centre_code").replace_strict(names, default=pl.col("centre_name")).alias("centre_name")
    ).write_csv(folder / "centres.csv")
    engine = store.engine_for(store_url)
    assert ingest(engine, [folder]).exit_code == 0
    with engine.connect() as connection:
        stored = dict(
            connection.execute(
                sa.select(store.DATA_TABLES["centres"].c.centre_code, store.DATA_TABLES["centres"].c.centre_name)
            ).all()
        )
    assert {code: stored[code] for code in names} == names
    assert store.row_counts(engine)["infusions"] == 3000 and store.row_counts(engine)["followup"] == 2891


# --- Demo mode only on exactly the bundled sample, known by content (issue 12, finding 7) ---


def _submission(folder, files: dict[str, bytes]):
    """A submission folder whose manifest says it is synthetic, whatever it holds."""
    folder.mkdir()
    (folder / "manifest.toml").write_text('extract_date = "2026-09-30"\nsynthetic = true\n')
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def _demo_app(monkeypatch, url: str):
    import streamlit as st

    st.cache_data.clear()  # the data version is cached for 30 s in this process, across AppTest runs
    monkeypatch.setenv("CARTGOV_AUTH_MODE", "demo")
    return run_app(monkeypatch, url)


def _refused_in_demo_mode(app) -> bool:
    if [t.value for t in app.title] == ["Access denied"]:
        assert "Demo mode shows only the bundled synthetic sample" in app.error[0].value
        assert not app.sidebar.selectbox and not app.metric  # no role picker, no figure
        return True
    assert [s.label for s in app.sidebar.selectbox][:1] == ["Role"]
    return False


def test_demo_mode_refuses_generated_data_whose_manifest_says_synthetic(monkeypatch, tmp_path):
    from dashboard.synthetic import generate

    folder = tmp_path / "generated"
    generate(folder, 200, 9)  # invented, and not the sample: a store of anything could say the same
    assert "synthetic = true" in (folder / "manifest.toml").read_text()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    ingest(store.engine_for(url), [folder])
    assert _refused_in_demo_mode(_demo_app(monkeypatch, url))


def test_demo_mode_accepts_the_sample_and_refuses_it_with_one_file_more(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    ingest(store.engine_for(url), [SAMPLE])
    ingest(store.engine_for(url), [SAMPLE])  # the same files again change nothing
    assert not _refused_in_demo_mode(_demo_app(monkeypatch, url))
    centres = (SAMPLE / "centres.csv").read_text().replace("Don Valley Royal Hospital", "Don Valley Hospital")
    ingest(store.engine_for(url), [_submission(tmp_path / "extra", {"centres.csv": centres.encode()})])
    # The new version is prepared in the background; meanwhile the sample's version may still be shown, in demo
    # mode, as the sample it is. Once the new version is on show, demo mode is refused.
    meanwhile = _demo_app(monkeypatch, url)
    if not _refused_in_demo_mode(meanwhile):
        assert any("data version 1" in c.value for c in meanwhile.caption)
    deadline = time.monotonic() + 60
    while session._on_show().get(url) != 2:
        assert time.monotonic() < deadline, "the new version was never prepared"
        time.sleep(0.2)
    assert _refused_in_demo_mode(_demo_app(monkeypatch, url))


def test_demo_mode_on_an_empty_store_says_how_to_load_data(monkeypatch, sqlite_url):
    app = _demo_app(monkeypatch, sqlite_url)
    assert not _refused_in_demo_mode(app)
    assert "cartgov seed" in app.info[0].value


# --- Identity: the header and the OIDC claims (finding 6) ---


@pytest.mark.parametrize(
    ("values", "identity"),
    [
        (["panel@example.nhs.uk"], "panel@example.nhs.uk"),
        ([" Panel@Example.NHS.uk "], "Panel@Example.NHS.uk"),  # the access file's lookup ignores case and spaces
        ([], None),
        ([""], None),
        (["panel@example.nhs.uk", "stranger@example.com"], None),  # a proxy that appends: the client chose the first
        (["stranger@example.com", "panel@example.nhs.uk"], None),
        (["panel@example.nhs.uk", "panel@example.nhs.uk"], None),  # even the same value twice: the proxy is wrong
        (["panel@example.nhs.uk, stranger@example.com"], None),  # two values folded into one line (RFC 9110)
    ],
)
def test_the_identity_header_must_hold_exactly_one_value(values, identity):
    from dashboard import identity as identities

    found, refused = identities.from_header("X-Forwarded-Email", values)
    assert found == identity
    assert (refused is None) == (identity is not None)
    if len(values) > 1 or "," in "".join(values):
        assert "X-Forwarded-Email arrived with 2 values; exactly one is accepted" in refused


TENANT, OBJECT = "72f988bf-86f1-41af-91ab-2d7cd011db47", "00000000-0000-0000-66f3-3332eca7ea81"


@pytest.mark.parametrize(
    ("claims", "identity"),
    [
        ({"oid": OBJECT, "tid": TENANT, "email": "panel@example.nhs.uk"}, f"{TENANT}/{OBJECT}"),
        ({"oid": OBJECT.upper(), "tid": TENANT, "preferred_username": "panel@example.nhs.uk"}, f"{TENANT}/{OBJECT}"),
        ({"email": "panel@example.nhs.uk", "preferred_username": "panel@example.nhs.uk"}, None),  # mutable: never
        ({"oid": OBJECT, "email": "panel@example.nhs.uk"}, None),  # an object id means nothing without its tenant
        ({"tid": TENANT, "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"}, None),
        ({"oid": "", "tid": TENANT}, None),
    ],
)
def test_an_oidc_identity_is_the_tenant_and_object_id_never_the_email(claims, identity):
    from dashboard import access
    from dashboard import identity as identities

    found, refused = identities.from_claims(claims)
    assert found == identity and (refused is None) == (identity is not None)
    people = {
        f"{TENANT}/{OBJECT}": access.Viewer(f"{TENANT}/{OBJECT}", "national"),
        "panel@example.nhs.uk": access.Viewer("panel@example.nhs.uk", "national"),
    }
    viewer = access.viewer_for(found, people)
    assert (viewer.identity if viewer else None) == identity  # an e-mail key in the access file lets nobody in


# --- The command line's reads of held rows and its packs are audited with the operating-system user ---


def test_quarantine_reads_and_reports_are_audited_with_the_operating_system_user(seeded_sqlite, tmp_path):
    import pwd

    from click.testing import CliRunner

    from dashboard.audit import entries
    from dashboard.cli import main

    engine = store.engine_for(seeded_sqlite)
    ingest(engine, [BAD_SUBMISSION])
    account = pwd.getpwuid(os.geteuid()).pw_name
    env = {
        "USER": "mallory",
        "LOGNAME": "mallory",
        "CARTGOV_DATABASE_URL": seeded_sqlite,  # $USER is not who ran it
        "CARTGOV_PSEUDONYM_SECRET": "a-secret",
    }  # not the bundled sample any more: an observer's pack needs one
    runner = CliRunner(env=env)
    before = entries(engine).height
    first_id = json.loads(runner.invoke(main, ["quarantine", "list", "--format", "json"]).output)[0]["quarantine_id"]
    commands = [
        ["quarantine", "list"],
        ["quarantine", "show", str(first_id)],
        ["quarantine", "export", str(tmp_path / "held.csv"), "--centre", "NEY04"],
        ["report", "--out", str(tmp_path / "pack.html"), "--role", "observer"],
        ["quarantine", "list", "--as", "Dr A. Example"],
    ]
    for command in commands:
        result = runner.invoke(main, command)
        assert result.exit_code == 0, result.output
    log = entries(engine).sort("id")
    assert log.height == before + len(commands) + 1  # the JSON listing above was audited too
    rows = log.tail(len(commands)).to_dicts()
    assert [row["who"] for row in rows] == [f"cli:{account}"] * 4 + [f"cli:Dr A. Example (os user {account})"]
    assert [(row["page"], row["action"]) for row in rows] == [
        ("quarantine list", "view held rows"),
        ("quarantine show", "view held rows"),
        ("quarantine export", "export"),
        ("report", "export"),
        ("quarantine list", "view held rows"),
    ]
    assert f"row {first_id}" in rows[1]["detail"] and "held.csv" in rows[2]["detail"]
    assert "NEY04" in rows[2]["filters"]
    assert all("mallory" not in str(row) for row in rows)
