"""Everything a panel should look at for the current filters, in one list: funnel outliers, SPC signals,
completeness failures and outside-TA infusions."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics import pathway, rates
from dashboard.metrics.catalogue import proportions

PAGE_OF = {"itu_admission": "itu", "ta_outside": "nice-ta", "travel_exception": "exceptions",
           "carer_exception": "exceptions", "followup_d30_complete": "data-quality",
           "followup_d100_complete": "data-quality"}
SEVERITY_ORDER = {"alarm": 0, "alert": 1, "info": 2}
SIGNAL_SCHEMA = {"severity": pl.Utf8, "kind": pl.Utf8, "metric": pl.Utf8, "centre": pl.Utf8, "detail": pl.Utf8,
                 "value": pl.Utf8, "numerator": pl.Int64, "denominator": pl.Int64, "page": pl.Utf8,
                 "query": pl.Object}


def signals(dataset: Dataset, filters: Filters | None = None, as_of: dt.date | None = None) -> pl.DataFrame:
    """One row per signal: severity, kind, metric, centre, what was seen, and the page and query that explain it."""
    filters = filters or Filters()
    found: list[dict] = []
    base_query = {k: v for k, v in filters.as_query().items() if k not in ("metric", "centre")}
    for metric in proportions().values():
        if metric.id.startswith("followup_"):
            continue
        table = rates.compute(dataset, metric.id, by="centre", filters=filters, as_of=as_of)
        for row in table.rows.iter_rows(named=True):
            severity = metric.concern(row["flag"])
            if severity:
                value = (f"observed/expected {row['ratio']:.2f}" if table.adjust == "product_mix"
                         else f"{row['rate']:.1%} against {table.target:.1%}")
                found.append({
                    "severity": severity, "kind": "funnel", "metric": metric.id, "centre": row["group"],
                    "detail": f"{metric.title}: beyond the {'99.8' if severity == 'alarm' else '95'}% limit",
                    "value": value, "numerator": row["numerator"], "denominator": row["denominator"],
                    "page": "centres", "query": {**base_query, "centre": [row["group"]], "metric": [metric.id]},
                })
        if metric.is_outcome:
            _, spc = rates.quarterly(dataset, metric.id, filters, as_of)
            for s in spc:
                worse = (s["direction"] == "high") == metric.higher_is_worse
                found.append({
                    "severity": "alert" if worse else "info", "kind": "spc", "metric": metric.id, "centre": None,
                    "detail": f"{metric.title}: {s['description']} ({s['direction']}), "
                              f"{quarter_label(s['from'])} to {quarter_label(s['to'])}",
                    "value": None, "numerator": None, "denominator": None,
                    "page": PAGE_OF.get(metric.id, "toxicity"), "query": {**base_query, "metric": [metric.id]},
                })
    completeness = rates.compute(dataset, "followup_d30_complete", by="centre", filters=filters, as_of=as_of)
    for row in completeness.rows.filter(pl.col("rate") < rates.COMPLETENESS_THRESHOLD).iter_rows(named=True):
        found.append({
            "severity": "alert", "kind": "completeness", "metric": "followup_d30_complete", "centre": row["group"],
            "detail": f"day-30 follow-up under {rates.COMPLETENESS_THRESHOLD:.0%} complete: outcomes not flagged",
            "value": f"{row['rate']:.0%}", "numerator": row["numerator"], "denominator": row["denominator"],
            "page": "data-quality", "query": base_query,
        })
    for row in pathway.ta_outside_by_reason(dataset, filters).filter(pl.col("infusions") > 0).iter_rows(named=True):
        found.append({
            "severity": "alert", "kind": "outside_ta", "metric": "ta_outside", "centre": None,
            "detail": f"infusions outside their TA: {row['reason']}", "value": None, "numerator": row["infusions"],
            "denominator": None, "page": "nice-ta", "query": base_query,
        })
    frame = pl.DataFrame(found, schema=SIGNAL_SCHEMA) if found else pl.DataFrame(schema=SIGNAL_SCHEMA)
    return frame.sort(pl.col("severity").replace_strict(SEVERITY_ORDER, return_dtype=pl.Int8), "kind", "metric",
                      "centre", nulls_last=True)


def quarter_label(day: dt.date) -> str:
    """2024-04-01 -> "2024 Q2"."""
    return f"{day.year} Q{(day.month - 1) // 3 + 1}"
