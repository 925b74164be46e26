"""`cartgov`: the command line of docs/design.md, Commands; a failure prints what went wrong and exits 2."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click
import polars as pl

from dashboard import access as access_module
from dashboard import cases as case_model
from dashboard import ingest as ingest_module
from dashboard import quarantine as quarantine_module
from dashboard import store
from dashboard.access import ROLES
from dashboard.dimensions import GROUPS
from dashboard.filters import ADJUSTMENTS, AGE_BANDS, Link
from dashboard.gate import Gate
from data_contracts.submission import Limits

if TYPE_CHECKING:
    import sqlalchemy as sa

    from dashboard.loaders import Dataset

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = PROJECT_ROOT / "sample_data"


def _fail(message: str) -> NoReturn:
    click.echo(f"cartgov: {message}", err=True)
    sys.exit(2)


def command(fn: Callable[P, R]) -> Callable[P, R]:
    """Every command: a --database-url option, and errors reported in one line with exit code 2."""

    @click.option(
        "--database-url",
        envvar="CARTGOV_DATABASE_URL",
        default=store.DEFAULT_DATABASE_URL,
        show_default=True,
        help="SQLAlchemy URL of the store.",
    )
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ingest_module.UsageError as error:
            _fail(str(error))
        except Exception as error:  # noqa: BLE001 - the promise is: a message, never a traceback
            _fail(f"{error.__class__.__name__}: {error}".splitlines()[0])

    return wrapper


iso_date = click.DateTime(formats=["%Y-%m-%d"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """CAR-T clinical-governance dashboard: data contracts, ingest, metrics and the app."""


@main.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write the tables to.")
@click.option("--episodes", type=click.IntRange(1), required=True, help="Number of infusions.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--as-of", type=iso_date, default="2026-09-30", show_default=True, help="Extract date.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option(
    "--double-toxicity",
    metavar="CENTRE",
    help="Double the odds of every toxicity at this centre in the three months to the extract date.",
)
@command
def generate(
    out: Path,
    episodes: int,
    seed: int,
    as_of: dt.datetime,
    fmt: str,
    double_toxicity: str | None,
    database_url: str,  # noqa: ARG001 - every command takes --database-url; generate writes files, not the store
) -> None:
    """Write a synthetic submission of N infusions (all six tables), deterministic for a seed."""
    from dashboard.synthetic import generate as write

    paths = write(out, episodes, seed, as_of.date(), fmt, double_toxicity)
    worse = f"; toxicity doubled at {double_toxicity} in its last quarter" if double_toxicity else ""
    click.echo(f"wrote {len(paths)} tables for {episodes} infusions to {out} (extract date {as_of.date()}{worse})")


def _report(report: ingest_module.BatchReport, fmt: str, verb: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), default=str))
    else:
        for f in report.files:
            if f.refused:
                click.echo(f"REFUSED {f.message}")
                continue
            click.echo(
                f"{f.path} ({f.table}): {f.rows_read} read, {f.accepted} {verb}, {f.quarantined} quarantined"
                + (f" - {f.message}" if f.message else "")
            )
            for p in f.problems:
                click.echo(f"  row {p['row']}, column {p['column']}: breaks {p['rule']} (value: {p['value']!r})")
        if report.batch_id:
            click.echo(f"batch {report.batch_id}, data version {report.data_version}")
    sys.exit(report.exit_code)


def submission_options(fn: F) -> F:
    """What validate and ingest are told about a submission: its extract date and the limits of each file."""
    defaults = Limits()
    options = [
        click.option(
            "--extract-date",
            type=iso_date,
            help="Extract date; required unless every folder's manifest.toml gives one.",
        ),
        click.option(
            "--max-file-bytes",
            type=click.IntRange(1),
            help="Refuse a file bigger than this (for Parquet, uncompressed too) "
            f"[env CARTGOV_MAX_FILE_BYTES; default: {defaults.max_file_bytes}]",
        ),
        click.option(
            "--max-cell-chars",
            type=click.IntRange(1),
            help="Hold a row with a longer cell, storing only a preview "
            f"[env CARTGOV_MAX_CELL_CHARS; default: {defaults.max_cell_chars}]",
        ),
        click.option(
            "--max-quarantined-rows",
            type=click.IntRange(0),
            help="Refuse a file with more rows to hold than this "
            f"[env CARTGOV_MAX_QUARANTINED_ROWS; default: {defaults.max_quarantined_rows}]",
        ),
        click.option(
            "--max-quarantined-bytes",
            type=click.IntRange(0),
            help="Refuse a file whose rows to hold take more bytes than this (values and reasons) "
            f"[env CARTGOV_MAX_QUARANTINED_BYTES; default: {defaults.max_quarantined_bytes}]",
        ),
        click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@submission_options
@command
def validate(
    paths: tuple[Path, ...], extract_date: dt.datetime | None, fmt: str, database_url: str, **given: int | None
) -> None:
    """Check submission files against the contracts; write nothing. Exit 0 valid, 1 some rows invalid, 2 unreadable."""
    limits = ingest_module.limits_from_environment(**given)
    engine = store.engine_for(database_url)
    report = ingest_module.validate(engine, list(paths), extract_date and extract_date.date(), limits)
    _report(report, fmt, "valid")


def _prepare_snapshot(engine: sa.Engine) -> None:
    """Write the new version's snapshot so that the dashboard finds it ready; the ingest stands even when it fails."""
    from dashboard.loaders import SnapshotError, write_snapshot

    try:
        write_snapshot(engine)
    except SnapshotError as error:
        click.echo(
            f"cartgov: warning: the data is stored, but {error}; the dashboard keeps showing the previous "
            "version until the snapshot can be written",
            err=True,
        )


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@submission_options
@command
def ingest(
    paths: tuple[Path, ...], extract_date: dt.datetime | None, fmt: str, database_url: str, **given: int | None
) -> None:
    """Validate and load: valid rows committed, invalid rows quarantined. Exit 0, 1 some quarantined, 2 none read."""
    limits = ingest_module.limits_from_environment(**given)
    engine = store.engine_for(database_url)
    report = ingest_module.ingest(engine, list(paths), extract_date and extract_date.date(), limits)
    _prepare_snapshot(engine)
    _report(report, fmt, "accepted")


@main.command()
@click.option("--path", type=click.Path(path_type=Path, exists=True), default=SAMPLE_DATA, show_default=True)
@command
def seed(path: Path, database_url: str) -> None:
    """Load the bundled synthetic sample into the store (idempotent; refused on a store with real data)."""
    engine = store.engine_for(database_url)
    with engine.connect() as connection:
        current = store.read_dataset(connection)
    if current["data_version"] and not current["synthetic"]:
        _fail("the store holds real (non-synthetic) data; the sample is never mixed into it")
    report = ingest_module.ingest(engine, [path])
    _prepare_snapshot(engine)
    counts = store.row_counts(engine)
    click.echo("seeded: " + ", ".join(f"{t} {n}" for t, n in counts.items()) + f" (data version {report.data_version})")
    if report.exit_code:
        _fail("the sample did not load cleanly; run `cartgov validate sample_data` to see why")


@main.command()
@click.option("--port", type=int, default=8501, show_default=True)
@click.option("--address", default="localhost", show_default=True)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    envvar="CARTGOV_ALLOWED_HOSTS",
    help="A host name the app answers to (repeatable; env: comma-separated; `*.` wildcards). Browsers "
    "arriving under any other Host are refused (DNS rebinding). Default: any.",
)
@command
def serve(port: int, address: str, allowed_hosts: tuple[str, ...], database_url: str) -> None:
    """Start the dashboard."""
    os.environ["CARTGOV_DATABASE_URL"] = database_url
    os.chdir(PROJECT_ROOT)
    hosts = [host.strip() for entry in allowed_hosts for host in entry.split(",") if host.strip()]
    options = [argument for host in hosts for argument in ("--server.allowedHosts", host)]
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "dashboard.server", "--server.port", str(port), "--server.address", address, *options],
    )


@main.group()
def quarantine() -> None:
    """See and export the rows held back by ingest, with every reason."""


AS_OPTION = click.option(
    "--as",
    "as_name",
    metavar="NAME",
    help="Who is running this, for the audit log (default: the operating-system account, which is recorded as well).",
)


def _audit(
    database_url: str, as_name: str | None, action: str, page: str, detail: str, centre: tuple[str, ...] = ()
) -> None:
    """An audit_log row for a command that shows or writes held rows. The command line reads every centre, as the
    national role does; who is the operating-system account (never $USER, which may be missing or set to anything)."""
    from dashboard import access, audit
    from dashboard.filters import Filters
    from dashboard.identity import command_line_user

    audit.record(
        store.engine_for(database_url),
        access.Viewer(command_line_user(as_name), "national"),
        action,
        page,
        Filters(centre=centre),
        detail,
    )


def _held_rows(database_url: str, include_released: bool, centre: tuple[str, ...]) -> pl.DataFrame:
    return quarantine_module.held_reasons(store.engine_for(database_url), include_released, centre)


@quarantine.command("list")
@click.option(
    "--all", "include_released", is_flag=True, help="Include rows released since (parent arrived, resubmitted)."
)
@click.option("--centre", multiple=True, help="Only rows of this centre (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@AS_OPTION
@command
def quarantine_list(
    include_released: bool, centre: tuple[str, ...], fmt: str, as_name: str | None, database_url: str
) -> None:
    """One line per reason a row is held: id, centre, file, row, column, rule, value."""
    reasons = _held_rows(database_url, include_released, centre)
    _audit(
        database_url,
        as_name,
        "view held rows",
        "quarantine list",
        f"{reasons.height} reasons" + (", released rows included" if include_released else ""),
        centre,
    )
    if fmt == "json":
        click.echo(json.dumps(reasons.to_dicts(), default=str))
        return
    if reasons.height == 0:
        click.echo("no rows are held in quarantine")
    for r in reasons.iter_rows(named=True):
        click.echo(
            f"{r['quarantine_id']:>6}  {r['centre_code'] or '-':6} {r['path']} row {r['row_number']}: "
            f"{r['column']} breaks {r['rule']} (value: {r['value']!r})"
            + (f" [{r['resolution']}]" if r["resolution"] else "")
        )


@quarantine.command("show")
@click.argument("quarantine_id", type=int)
@AS_OPTION
@command
def quarantine_show(quarantine_id: int, as_name: str | None, database_url: str) -> None:
    """A held row as it was sent, with every reason."""
    row = quarantine_module.held_row(store.engine_for(database_url), quarantine_id)
    if row is None:
        _fail(f"no quarantined row with id {quarantine_id}")
    _audit(database_url, as_name, "view held rows", "quarantine show", f"row {quarantine_id} of {row['path']}")
    click.echo(
        f"{row['path']} row {row['row_number']} ({row['table_name']}), held since {row['quarantined_at']}"
        + (f", released {row['released_at']} ({row['resolution']})" if row["released_at"] else "")
    )
    click.echo("values as sent:")
    for column, value in row["original_values"].items():
        click.echo(f"  {column}: {value if value is not None else '(empty)'}")
    click.echo("reasons:")
    for reason in row["reasons"]:
        click.echo(f"  {reason['column']}: breaks {reason['rule']} (value: {reason['value']!r})")


@quarantine.command("export")
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--all", "include_released", is_flag=True, help="Include rows released since.")
@click.option("--centre", multiple=True, help="Only rows of this centre (repeatable), e.g. to send back to it.")
@AS_OPTION
@command
def quarantine_export(
    out: Path, include_released: bool, centre: tuple[str, ...], as_name: str | None, database_url: str
) -> None:
    """Write the held rows and their reasons to a CSV file, ready to send back to the centre."""
    reasons = _held_rows(database_url, include_released, centre)
    _audit(database_url, as_name, "export", "quarantine export", f"{out.name}: {reasons.height} reasons", centre)
    quarantine_module.export(reasons, out)
    click.echo(f"wrote {reasons.height} reasons for {reasons['quarantine_id'].n_unique()} rows to {out}")


def filter_options(fn: F) -> F:
    """The filters of docs/design.md, Filters and shareable URLs, under the same names as in the URL."""
    options = [
        click.option(
            "--start", type=iso_date, help="First infusion date (inclusive; default: three years before --end)."
        ),
        click.option("--end", type=iso_date, help="Last infusion date (inclusive; default: the extract date)."),
        click.option("--centre", multiple=True, help="Centre code (repeatable)."),
        click.option("--product", multiple=True, help="Product code (repeatable)."),
        click.option("--ta", multiple=True, help="NICE TA code (repeatable)."),
        click.option("--age", multiple=True, type=click.Choice(list(AGE_BANDS)), help="Age band."),
        click.option(
            "--adjust",
            type=click.Choice(ADJUSTMENTS),
            help="Funnel adjustment (default: the metric's own).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _filters(
    dataset: Dataset,
    start: dt.datetime | None,
    end: dt.datetime | None,
    centre: tuple[str, ...],
    product: tuple[str, ...],
    ta: tuple[str, ...],
    age: tuple[str, ...],
    adjust: str | None,
) -> Link:
    from dashboard.filters import Choices, parse

    choices = Choices(
        frozenset(dataset["centres"]["centre_code"]),
        frozenset(dataset["products"]["product_code"]),
        frozenset(dataset["nice_ta"]["ta_code"]),
        frozenset(),
        dataset.extract_date,
    )
    query = {
        "start": start and start.date().isoformat(),
        "end": end and end.date().isoformat(),
        "centre": centre,
        "product": product,
        "ta": ta,
        "age": age,
        "adjust": adjust,
    }
    chosen = parse({k: v for k, v in query.items() if v}, choices)
    if chosen.notes:
        _fail("invalid filter: " + "; ".join(chosen.notes))
    return chosen


@main.command()
@click.option("--metric", "metric_id", help="Metric id (see --list).")
@click.option("--list", "list_catalogue", is_flag=True, help="List the metric catalogue and exit.")
@click.option(
    "--by",
    type=click.Choice(list(GROUPS)),
    help="Group by (default: England as a whole).",
)
@filter_options
@click.option("--as-of", type=iso_date, help="Date the follow-up is judged at (default: the extract date).")
@click.option("--overdispersion", is_flag=True, help="Widen the funnel limits for overdispersion (DerSimonian-Laird).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@command
def metrics(
    metric_id: str | None,
    list_catalogue: bool,
    by: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    centre: tuple[str, ...],
    product: tuple[str, ...],
    ta: tuple[str, ...],
    age: tuple[str, ...],
    adjust: str | None,
    as_of: dt.datetime | None,
    overdispersion: bool,
    fmt: str,
    database_url: str,
) -> None:
    """A metric table: group, numerator, denominator, rate, Wilson 95% interval; with --by centre, funnel limits."""
    from dashboard import metrics as metric_engine
    from dashboard.loaders import load_dataset

    if list_catalogue:
        entries = [vars(m) for m in metric_engine.catalogue().values()]
        if fmt == "json":
            click.echo(json.dumps(entries))
        else:
            click.echo(pl.DataFrame(entries).write_csv(), nl=False)
        return
    if not metric_id:
        _fail("--metric ID is required (cartgov metrics --list shows the catalogue)")
    if metric_id not in metric_engine.proportions():
        known = ", ".join(metric_engine.proportions())
        _fail(f"unknown or summary metric {metric_id!r}; proportion metrics: {known}")
    dataset = load_dataset(store.engine_for(database_url))
    chosen = _filters(dataset, start, end, centre, product, ta, age, adjust)
    table = metric_engine.compute(
        dataset,
        metric_id,
        by=by,
        filters=chosen.filters,
        as_of=as_of and as_of.date(),
        adjust=chosen.view.adjust,
        overdispersion=overdispersion,
    )
    if fmt == "json":
        click.echo(json.dumps(table.as_json()))
    else:
        # The JSON's rows (6 decimals; p to 6 significant figures; direction) with the low-numbers mark.
        rows = pl.DataFrame(table.as_json()["rows"], infer_schema_length=None)
        click.echo(rows.with_columns(table.rows["low_numbers"]).write_csv(), nl=False)


@main.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="FILE.html or FILE.pdf")
@filter_options
@click.option("--role", type=click.Choice(ROLES), default="national", show_default=True)
@click.option("--lead-centre", "lead_centre", help="With --role centre: the lead's own centre code.")
@AS_OPTION
@command
def report(
    out: Path,
    start: dt.datetime | None,
    end: dt.datetime | None,
    centre: tuple[str, ...],
    product: tuple[str, ...],
    ta: tuple[str, ...],
    age: tuple[str, ...],
    adjust: str | None,
    role: str,
    lead_centre: str | None,
    as_name: str | None,
    database_url: str,
) -> None:
    """The governance pack for a filtered view: self-contained HTML (or PDF), small numbers suppressed."""
    import datetime as dt

    from dashboard import access, audit, sample
    from dashboard import report as pack
    from dashboard.gate import Gate
    from dashboard.identity import command_line_user
    from dashboard.loaders import load_dataset

    if role == "centre" and not lead_centre and len(centre) == 1:
        lead_centre, centre = centre[0], ()  # `--role centre --centre CODE` names the lead's own centre
    if role == "centre" and not lead_centre:
        _fail("--role centre needs the lead's centre: --centre CODE")
    engine = store.engine_for(database_url)
    dataset = load_dataset(engine)
    viewer = access.Viewer(command_line_user(as_name), role, lead_centre)
    try:
        policy = access.policy_for(
            viewer, list(dataset["centres"]["centre_code"]), sample.holds_only_the_sample(dataset), shared_export=True
        )
    except access.AccessConfigError as error:
        _fail(str(error))
    chosen = _filters(dataset, start, end, centre, product, ta, age, adjust)
    try:
        written = pack.write(
            pack.build(dataset, chosen.filters, Gate(policy), dt.datetime.now(dt.UTC), chosen.view.adjust), out
        )
    except RuntimeError as error:
        _fail(str(error))
    audit.record(engine, viewer, "export", "report", chosen.filters, f"governance pack {written.name}", chosen.view)
    click.echo(f"wrote {written} ({written.stat().st_size // 1024} KiB, {pack.MARKING})")


# --- Outlier cases and meetings: the same rules (dashboard/cases, dashboard/meetings) and gate as the app ---

CASE_AS = click.option(
    "--as",
    "as_name",
    metavar="IDENTITY",
    help="Who is running this, as the access file (CARTGOV_ACCESS_FILE) names them; default: the operating-system "
    "account. The audit log records the account as well.",
)
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


def _case_viewer(as_name: str | None) -> access_module.Viewer:
    """The person behind a cases or meeting command, with the role the access file gives them; anyone not on the
    list is refused, as in the app."""
    from dashboard.identity import command_line_user, operating_system_user

    settings = access_module.settings()
    claimed = (as_name or operating_system_user()).strip().lower()
    try:
        listed = access_module.viewer_for(claimed, access_module.load_access_file(settings["access_file"]))
    except access_module.AccessConfigError as error:
        _fail(str(error))
    if listed is None:
        _fail(f"{claimed} is not on the access list ({settings['access_file']}): nothing is shown")
    return access_module.Viewer(command_line_user(claimed), listed.role, listed.centre)


def _case_gate(dataset: Dataset, viewer: access_module.Viewer) -> Gate:
    from dashboard import sample
    from dashboard.gate import Gate

    try:
        return Gate(
            access_module.policy_for(
                viewer, list(dataset["centres"]["centre_code"]), sample.holds_only_the_sample(dataset)
            )
        )
    except access_module.AccessConfigError as error:
        _fail(str(error))


def _echo_frame(frame: pl.DataFrame, fmt: str, empty: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(frame.to_dicts(), default=str))
    elif frame.height == 0:
        click.echo(empty)
    else:
        with pl.Config(
            tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=120, tbl_hide_dataframe_shape=True
        ):
            click.echo(frame)


@main.group()
def cases() -> None:
    """Outlier cases: a signal taken through the HQIP outlier process to a decision."""


@cases.command("list")
@click.option(
    "--status",
    default="open",
    show_default=True,
    help="open, closed, all, or one status: " + ", ".join(case_model.STATUSES) + ".",
)
@FORMAT
@CASE_AS
@command
def cases_list(status: str, fmt: str, as_name: str | None, database_url: str) -> None:
    """The cases you may see: every one for a national member, your own centre's for a lead, counts by status for
    an observer."""
    from dashboard import audit
    from dashboard.loaders import load_dataset

    viewer = _case_viewer(as_name)
    engine = store.engine_for(database_url)
    gate = _case_gate(load_dataset(engine), viewer)
    every = case_model.cases(engine)
    audit.record(engine, viewer, "view cases", "cases list", None, f"cases list --status {status}")
    if viewer.role == "observer":
        _echo_frame(gate.case_counts(every), fmt, "no cases")
        return
    shown = gate.cases(every)
    if status == "open":
        shown = shown.filter(pl.col("status") != "closed")
    elif status != "all":
        if status not in (*case_model.STATUSES, "closed"):
            _fail(f"--status {status}: use open, closed, all or one of {', '.join(case_model.STATUSES)}")
        shown = shown.filter(pl.col("status") == status)
    columns = ["case_id", "centre_code", "metric", "level", "status", "decision", "owner", "opened_on", "due_on"]
    _echo_frame(shown.select(columns), fmt, "no cases")


@cases.command("show")
@click.argument("case_id", type=int)
@FORMAT
@CASE_AS
@command
def cases_show(case_id: int, fmt: str, as_name: str | None, database_url: str) -> None:
    """A case with its evidence and its whole history."""
    from dashboard import audit
    from dashboard.loaders import load_dataset

    viewer = _case_viewer(as_name)
    engine = store.engine_for(database_url)
    gate = _case_gate(load_dataset(engine), viewer)
    shown = gate.cases(case_model.cases(engine).filter(pl.col("case_id") == case_id))
    audit.record(
        engine, viewer, "view cases", "cases show", None, f"case {case_id}" + ("" if shown.height else " refused")
    )
    if shown.height == 0:
        _fail(f"no case {case_id} that you may see")
    events = case_model.history(engine).filter(pl.col("case_id") == case_id).drop("case_id")
    if fmt == "json":
        click.echo(json.dumps({**shown.to_dicts()[0], "history": events.to_dicts()}, default=str))
        return
    case = shown.row(0, named=True)
    click.echo(
        f"case {case_id}: {case['centre_code']}, {case['metric']} ({case['level']}), "
        f"{case_model.status_words(case['status'], case['decision'])}; owner {case['owner']}; "
        f"opened {case['opened_on']}; next step due {case['due_on'] or '-'}"
    )
    click.echo(f"evidence (data version {case['evidence_version']}): {case['evidence']}")
    click.echo(f"view: {case['evidence_link']}")
    for event in events.iter_rows(named=True):
        extra = f" [resubmission {event['resubmission']}]" if event["resubmission"] else ""
        click.echo(
            f"  {event['at']:%Y-%m-%d %H:%M} {event['who']} ({event['role']}): {event['kind']} -> {event['status']}"
            + (f": {event['text']}" if event["text"] else "")
            + extra
        )


def _raised(dataset: Dataset) -> tuple[pl.DataFrame, dict[str, list[str]]]:
    """England's signals for the default period (what a case is opened from), and that period's query."""
    from dashboard import metrics as metric_engine
    from dashboard.filters import Filters
    from dashboard.meetings import signal_keys

    view = Filters().dated(dataset.extract_date)
    return signal_keys(metric_engine.signals(dataset, view)), view.as_query()


@cases.command("open")
@click.option("--centre", required=True, help="Centre code.")
@click.option("--metric", "metric_id", required=True, help="Metric id.")
@click.option("--level", type=click.Choice(case_model.LEVELS), required=True)
@CASE_AS
@command
def cases_open(centre: str, metric_id: str, level: str, as_name: str | None, database_url: str) -> None:
    """Open the case of a signal raised now (default period): its evidence is the signal as read today."""
    from dashboard import presenter
    from dashboard.loaders import load_dataset
    from dashboard.meetings import link

    viewer = _case_viewer(as_name)
    engine = store.engine_for(database_url)
    dataset = load_dataset(engine)
    raised, period = _raised(dataset)
    match = raised.filter((pl.col("centre") == centre) & (pl.col("metric") == metric_id) & (pl.col("level") == level))
    if match.height == 0:
        _fail(f"no {level} is raised for {centre} on {metric_id} in the default period: a case is opened from a signal")
    signal = match.row(0, named=True)
    try:
        case_id = case_model.open_case(
            engine,
            viewer,
            centre,
            metric_id,
            level,
            presenter.signal_detail(signal),
            link(presenter.signal_link(signal, period)),
            dataset.data_version,
        )
    except case_model.NotAllowed as error:
        _fail(str(error))
    click.echo(f"case {case_id}: {centre}, {metric_id} ({level})")


@cases.command("move")
@click.argument("case_id", type=int)
@click.argument("status", type=click.Choice(case_model.STATUSES))
@click.option("--decision", type=click.Choice(case_model.DECISIONS), help="With closed: the panel's decision.")
@click.option("--note", "text", help="What was done or decided, for the case's history.")
@click.option("--resubmission", help="A centre's answer that corrected its data: the resubmission's reference.")
@CASE_AS
@command
def cases_move(
    case_id: int,
    status: str,
    decision: str | None,
    text: str | None,
    resubmission: str | None,
    as_name: str | None,
    database_url: str,
) -> None:
    """Move a case on (a lead's only move is centre_responded, with the answer in --note)."""
    viewer = _case_viewer(as_name)
    try:
        case_model.move(store.engine_for(database_url), viewer, case_id, status, text, decision, resubmission)
    except case_model.NotAllowed as error:
        _fail(str(error))
    click.echo(f"case {case_id}: {case_model.status_words(status, decision)}")


@cases.command("note")
@click.argument("case_id", type=int)
@click.argument("text")
@CASE_AS
@command
def cases_note(case_id: int, text: str, as_name: str | None, database_url: str) -> None:
    """Add a note to a case's history."""
    viewer = _case_viewer(as_name)
    try:
        case_model.note(store.engine_for(database_url), viewer, case_id, text)
    except case_model.NotAllowed as error:
        _fail(str(error))
    click.echo(f"case {case_id}: note added")


@main.group()
def meeting() -> None:
    """Governance meetings: the agenda for a date."""


@meeting.command("agenda")
@click.option("--date", "on", type=iso_date, required=True, help="The meeting's date.")
@FORMAT
@CASE_AS
@command
def meeting_agenda(on: dt.datetime, fmt: str, as_name: str | None, database_url: str) -> None:
    """New signals since the last meeting, cases due or overdue, cases whose signal has cleared, cases decided."""
    from dashboard import audit, meetings
    from dashboard.loaders import load_dataset

    viewer = _case_viewer(as_name)
    engine = store.engine_for(database_url)
    dataset = load_dataset(engine)
    gate = _case_gate(dataset, viewer)
    raised, period = _raised(dataset)
    items = meetings.agenda(
        on.date(), raised, case_model.cases(engine), meetings.last_before(engine, on.date()), period
    )
    audit.record(engine, viewer, "view cases", "meeting agenda", None, f"agenda for {on.date()}: {items.height} items")
    if viewer.role == "observer":
        _echo_frame(gate.item_counts(items), fmt, "nothing on the agenda")
        return
    shown = gate.cases(items)
    if fmt == "json":
        click.echo(json.dumps(shown.to_dicts(), default=str))
        return
    if shown.height == 0:
        click.echo("nothing on the agenda")
    for item in shown.iter_rows(named=True):
        click.echo(
            f"{item['position']:>3}. {meetings.ITEM_WORDS[item['kind']]}: {item['centre_code']}: {item['detail']}"
        )
        click.echo(f"     view: {item['link']}")
