"""The governance pack: one self-contained HTML file (Plotly inlined, no external request), through the access policy
with small-number suppression, and a PDF printed from it by headless Chromium where one is installed."""

from __future__ import annotations

import datetime as dt
import html
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import plotly.io as pio
import polars as pl

from dashboard import charts, meetings, metrics, presenter, stats, wording
from dashboard.filters import Filters, View
from dashboard.gate import Gate
from dashboard.loaders import Dataset
from dashboard.meetings import Minutes
from dashboard.metrics.headline import periods

MARKING = "OFFICIAL-SENSITIVE"
STYLE = """
body { font-family: Arial, Helvetica, sans-serif; color: #0B0C0C; margin: 2em auto; max-width: 1100px; }
.marking { text-align: center; font-weight: bold; letter-spacing: .1em; border: 2px solid #0B0C0C; padding: .3em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #AEB7BD; padding: 3px 7px; text-align: left; }
th { background: #E8EDEE; }
h1 { color: #005EB8; } h2 { border-bottom: 2px solid #005EB8; padding-bottom: .2em; margin-top: 1.6em; }
.meta td:first-child { font-weight: bold; }
"""


def _cell(column: str, value: object, percent: tuple[str, ...]) -> str:
    """A value as the screen shows it: rates to one decimal of a percent, ratios to 2 places, counts as integers."""
    if isinstance(value, float):
        if column in percent:
            return f"{value:.1%}"
        if column == "ratio":
            return f"{value:.2f}"
        if column == "expected":
            return f"{value:.1f}"
        return f"{value:,.0f}" if value.is_integer() else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def _table(frame: pl.DataFrame, gate: Gate, percent: tuple[str, ...] = (), nice_ta: pl.DataFrame | None = None) -> str:
    frame = gate.as_text(wording.readable(frame, nice_ta))
    head = "".join(f"<th>{html.escape(wording.COLUMN_LABELS.get(c, c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.iter_rows(named=True):
        cells = []
        for column, value in row.items():
            cells.append(f"<td>{html.escape(_cell(column, value, percent))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _headlines(heads: pl.DataFrame) -> str:
    """The overview's headline figures in words: each measure, its value, interval and the period before."""
    rows = []
    for row in heads.iter_rows(named=True):
        counted = row["id"] in ("infusions", "centres")

        def shown(value: float | None, counted: bool = counted) -> str:
            if value is None:
                return "withheld (small numbers)"
            return f"{value:,.0f}" if counted else f"{value:.1%}"

        interval = "" if counted or row["ci_low"] is None else f"{row['ci_low']:.1%} to {row['ci_high']:.1%}"
        cells = (row["title"], shown(row["value"]), interval, shown(row["previous"]))
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{c}</th>" for c in ("Measure", "This period", "95% CI", "The period before"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _minutes(minutes: Minutes, gate: Gate, base_url: str) -> list[str]:
    """The minutes as the pack's first section: attendance, then each item with its decision, actions and a link to
    its view; a lead's pack has their own centre's items only, an observer's the number of items of each kind."""
    parts = [
        f"<h2>Minutes of the governance meeting on {minutes.held_on}</h2>",
        f"<p><b>Attendance</b>: {html.escape(minutes.attendance or 'not recorded')}</p>",
    ]
    if gate.policy.viewer.role == "observer":
        counts = gate.item_counts(minutes.items)
        lines = "".join(f"<li>{html.escape(meetings.ITEM_WORDS[k])}: {n}</li>" for k, n in counts.iter_rows())
        return [*parts, f"<p>Items discussed (no centre is named to your role):</p><ul>{lines or '<li>None</li>'}</ul>"]
    items = gate.cases(minutes.items)
    head = "".join(f"<th>{c}</th>" for c in ("Item", "", "Centre", "What", "Decision", "Actions", "View"))
    rows = []
    for item in items.iter_rows(named=True):
        href = f"{base_url.rstrip('/')}/{item['link']}" if base_url and item["link"] else item["link"] or ""
        cells = (
            str(item["position"]),
            meetings.ITEM_WORDS[item["kind"]],
            item["centre_code"],
            item["detail"],
            item["decision"] or "",
            meetings.actions_text(item["actions"]),
        )
        view = f"<a href='{html.escape(href, quote=True)}'>open</a>" if href else ""
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + f"<td>{view}</td></tr>")
    body = "".join(rows) or "<tr><td colspan='7'>No items</td></tr>"
    return [*parts, f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"]


def build(
    data: Dataset,
    filters: Filters,
    gate: Gate,
    generated: dt.datetime | None = None,
    adjust: str | None = None,
    minutes: Minutes | None = None,
    base_url: str = "",
) -> str:
    """The pack as one HTML document: every figure through the viewer's gate, with suppression (a pack is made to
    be shared); a meeting's minutes first when given (each item's view linked from `base_url`, the app's address)."""
    generated = generated or dt.datetime.now(dt.UTC)
    shared = Gate(replace(gate.policy, suppress=True))
    viewer = shared.policy.viewer
    role = viewer.role + (f" ({shared.labels[viewer.centre]}: {viewer.centre})" if viewer.centre else "")
    parts = [f"<div class='marking'>{MARKING}</div>", "<h1>CAR-T governance pack</h1>"]
    filters, before = periods(filters, data.extract_date or dt.date.today())  # every figure over a stated period
    meta = {
        "Period": f"infusions from {filters.start} to {filters.end}; compared with {before.start} to {before.end}",
        "Filters": shared.describe(filters, View(adjust=adjust)),
        "Role": role,
        "Extract date": str(data.extract_date),
        "Data version": str(data.data_version),
        "Generated": generated.strftime("%Y-%m-%d %H:%M UTC"),
        "Small numbers": "counts of 1-7 shown as *, other counts rounded to the nearest 5 (NHS Digital rule); "
        "every rate, interval, limit and flag computed from the rounded counts",
    }
    if data.synthetic:
        meta["Data"] = "SYNTHETIC: invented centres and patients, for demonstration only"
    parts.append(
        "<table class='meta'>"
        + "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in meta.items())
        + "</table>"
    )

    if minutes is not None:
        parts += _minutes(minutes, shared, base_url)
    heads = shared.headlines(metrics.headlines(data, filters))
    parts += ["<h2>Overview</h2>", _headlines(heads)]
    found = shared.signals(metrics.signals(data, filters, disclose=shared.disclose, adjust=adjust))
    parts.append(
        "<h2>Signals</h2><ul>"
        + "".join(
            f"<li><b>{html.escape(s['severity'].upper())}</b>: {html.escape(presenter.signal_text(s))}</li>"
            for s in found.iter_rows(named=True)
        )
        + "</ul>"
    )
    earlier = shared.signals(metrics.signals(data, before, disclose=shared.disclose, adjust=adjust))
    parts.append(f"<h2>Since the previous period ({before.start} to {before.end})</h2>")
    for heading, lines in presenter.since(found, earlier).items():
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines) or "<li>None</li>"
        parts.append(f"<h3>{heading}</h3><ul>{items}</ul>")

    section = "Toxicity and ITU funnels (product-mix adjusted: observed / expected)"
    parts.append(f"<h2>{section}</h2>")
    for index, metric_id in enumerate(("crs_severe", "icans_severe", "itu_admission")):
        table = shared.metric(metrics.compute(data, metric_id, by="centre", filters=filters, adjust=adjust))
        parts.append(f"<h3>{html.escape(table.metric.title)}</h3>")
        parts.append(
            pio.to_html(
                charts.funnel(table),
                include_plotlyjs=index == 0,
                full_html=False,
                config={"displaylogo": False, "responsive": True},
            )
        )
        rows = presenter.metric_rows(table).filter(
            table.rows["flag"].is_in(list(stats.FLAGS)) & (table.rows["flag"] != "within")
        )
        parts.append(
            _table(
                rows.select("group", "numerator", "denominator", "expected", "ratio", "p_value", "flag", "low_numbers"),
                shared,
            )
            if rows.height
            else "<p>Every centre as expected (no exact one-sided tail probability under 2.5%).</p>"
        )

    reasons = shared.frame(metrics.ta_outside_by_reason(data, filters))
    by_ta = shared.frame(metrics.infusions_by(data, filters, "ta_code"))
    parts += [
        "<h2>NICE TAs</h2>",
        "<h3>Infusions by TA</h3>",
        _table(by_ta, shared, nice_ta=data["nice_ta"]),
        "<h3>Outside their TA, by reason</h3>",
        _table(reasons.select("reason", "infusions"), shared),
    ]
    parts.append("<h2>Carer and travel exceptions</h2>")
    for metric_id in ("travel_exception", "carer_exception"):
        table = shared.metric(metrics.compute(data, metric_id, by="centre", filters=filters, adjust=adjust))
        england = "withheld" if table.target is None else f"{table.target:.1%}"
        parts += [
            f"<h3>{html.escape(table.metric.title)} (England {england})</h3>",
            _table(
                presenter.metric_rows(table).select(
                    "group", "numerator", "denominator", "rate", "p_value", "flag", "low_numbers"
                ),
                shared,
                percent=("rate",),
            ),
        ]
    parts.append(f"<div class='marking'>{MARKING}</div>")
    body = "\n".join(parts)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>CAR-T governance pack</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def write(html_text: str, out: Path) -> Path:
    """Write the pack as HTML, or as PDF printed by headless Chromium (RuntimeError when there is none)."""
    if out.suffix.lower() == ".html":
        out.write_text(html_text, encoding="utf-8")
        return out
    if out.suffix.lower() != ".pdf":
        raise ValueError(f"{out}: the pack is written as .html or .pdf")
    out.write_bytes(pdf(html_text))
    return out


def pdf(html_text: str) -> bytes:
    """The pack printed to PDF by headless Chromium (RuntimeError when there is none)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise RuntimeError(
            "no Chromium found to print the PDF: install Debian's chromium, or write .html and print it from a browser"
        )
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "pack.html", Path(folder) / "pack.pdf"
        source.write_text(html_text, encoding="utf-8")
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-pdf-header-footer",
                f"--print-to-pdf={out.resolve()}",
                source.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        return out.read_bytes()
