"""Hostile input: markup in submitted text shown as text, hostile URLs, demo mode and access files that fail safe."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import time
import uuid

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard import store
from dashboard.ingest import ingest
from tests.conftest import BAD_SUBMISSION, IDLE, PAGE_PATHS, SAMPLE, run_cli, serve, websocket_bytes
from tests.test_app import run_app

HOSTILE_NAME = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>[link](javascript:alert(1))"


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
    read = {name: pl.read_csv(SAMPLE / f"{name}.csv", infer_schema=False)
            for name in ("centres", "products", "infusions", "followup")}
    _replace(read["centres"], "centre_code", "NEY04", "centre_name", HOSTILE_NAME).write_csv(folder / "centres.csv")
    _replace(read["products"], "product_code", "axi-cel", "brand", HOSTILE_BRAND).write_csv(folder / "products.csv")
    infusions = _replace(read["infusions"], "episode_id", "EP0002995", "episode_id", HOSTILE_EPISODE)
    _replace(infusions, "episode_id", "EP0002960", "sex", HOSTILE_CELL).write_csv(folder / "infusions.csv")
    _replace(read["followup"], "episode_id", "EP0002995", "episode_id", HOSTILE_EPISODE).write_csv(
        folder / "followup.csv")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    report = ingest(store.engine_for(url), [folder])
    held = {f.table: f.quarantined for f in report.files}
    assert (report.exit_code, held["infusions"], held["followup"]) == (1, 1, 0)  # the broken row (no follow-up yet)
    return url


@pytest.mark.browser
def test_markup_in_submitted_text_is_shown_as_text_never_run(hostile_store, browser, tmp_path):
    with serve(hostile_store, tmp_path / "snapshots", tmp_path / "serve.log") as app:
        page = browser.new_context(viewport={"width": 1400, "height": 2400}).new_page()
        dialogs, sent = [], websocket_bytes(page)
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for path, shown in (("data-quality", HOSTILE_NAME), ("centres?centre=NEY04", HOSTILE_NAME),
                            ("exceptions?centre=SWE02", None), ("products?product=axi-cel", HOSTILE_BRAND),
                            ("nice-ta", None), ("overview", None)):
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


@pytest.mark.parametrize("query", [
    {"centre": ["' OR 1=1; DROP TABLE infusions; --"]},
    {"product": ["axi-cel' UNION SELECT * FROM audit_log --"]},
    {"start": ["2020-01-01'; DELETE FROM followup; --"]},
    {"centre": ["A" * 100_000]},
    {"ta": [f"TA{i}" for i in range(500)]},
    {"age": ["\x00\x1b[31m<svg onload=alert(1)>"]},
])
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
    people = {"panel@example.nhs.uk": ("national", ""), "lead@example.nhs.uk": ("centre", 'centre = "MID02"'),
              "board@example.nhs.uk": ("observer", "")}
    (tmp_path / "access.toml").write_text("".join(f'[users."{who}"]\nrole = "{role}"\n{extra}\n'
                                                  for who, (role, extra) in people.items()))
    env = {"CARTGOV_AUTH_MODE": "header", "CARTGOV_ACCESS_FILE": str(tmp_path / "access.toml"),
           "CARTGOV_PSEUDONYM_SECRET": secret, "CARTGOV_VERSION_CHECK_SECONDS": "1"}
    seen = []
    with serve(private_postgres.url, tmp_path / "snapshots", tmp_path / "serve.log", env) as app:
        for who, paths in (("lead@example.nhs.uk", PAGE_PATHS), ("panel@example.nhs.uk", ["overview", "data-quality"]),
                           ("board@example.nhs.uk", ["centres"])):
            context = browser.new_context(extra_http_headers={"X-Forwarded-Email": who},
                                          viewport={"width": 1400, "height": 2000})
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
    for command in (["metrics", "--metric", "crs_severe", "--by", "centre", "--format", "json"],
                    ["quarantine", "list"], ["ingest", str(BAD_SUBMISSION)],
                    ["report", "--out", str(tmp_path / "pack.html"), "--role", "centre", "--centre", "MID02"]):
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
        connection.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n\r\n").encode())
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
            result = runner.invoke(main, ["metrics", "--metric", "crs_severe", option, value,
                                          "--database-url", seeded_sqlite])
            assert result.exit_code == 2, result.output
            assert "invalid filter" in result.output or f"Invalid value for '{option}'" in result.output
        held = runner.invoke(main, ["quarantine", "list", "--centre", value, "--format", "json",
                                    "--database-url", seeded_sqlite])
        assert (held.exit_code, json.loads(held.output)) == (0, [])  # matched as a value, nothing matched
    assert store.row_counts(store.engine_for(seeded_sqlite)) == before


def test_sql_in_submitted_text_is_stored_as_text(store_url, tmp_path):
    """Submitted values are bound parameters on SQLite and PostgreSQL: SQL in a cell is data, never a statement."""
    folder = tmp_path / "submission"
    folder.mkdir()
    for path in SAMPLE.glob("*.*"):
        (folder / path.name).write_bytes(path.read_bytes())
    centres = pl.read_csv(SAMPLE / "centres.csv", infer_schema=False)
    names = dict(zip(centres["centre_code"][:len(INJECTIONS)], INJECTIONS, strict=True))
    centres.with_columns(pl.col("centre_code").replace_strict(names, default=pl.col("centre_name"))
                         .alias("centre_name")).write_csv(folder / "centres.csv")
    engine = store.engine_for(store_url)
    assert ingest(engine, [folder]).exit_code == 0
    with engine.connect() as connection:
        stored = dict(connection.execute(sa.select(store.DATA_TABLES["centres"].c.centre_code,
                                                   store.DATA_TABLES["centres"].c.centre_name)).all())
    assert {code: stored[code] for code in names} == names
    assert store.row_counts(engine)["infusions"] == 3000 and store.row_counts(engine)["followup"] == 2891
