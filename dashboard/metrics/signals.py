"""Everything a panel should look at for the current filters, as records: funnel outliers, SPC signals,
completeness failures and outside-TA infusions. No words and no page routes: the gate relabels and suppresses the
records like any table, and a presenter after it writes the sentences and the links."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.filters import Filters
from dashboard.loaders import Dataset
from dashboard.metrics import early_warning, pathway, rates
from dashboard.metrics.catalogue import proportions
from dashboard.metrics.rates import Disclose, exact

SEVERITY_ORDER = {"alarm": 0, "alert": 1, "info": 2}
SIGNAL_SCHEMA = {
    "severity": pl.Utf8,  # alarm (beyond 99.8% on the worse side), alert, info (an SPC signal on the better side)
    "kind": pl.Utf8,  # funnel, spc, completeness, outside_ta, cusum (the early warning between meetings)
    "metric": pl.Utf8,
    "centre": pl.Utf8,  # a centre code (None for England)
    "rule": pl.Utf8,  # the funnel flag, the SPC rule, the completeness threshold or the outside-TA reason id
    "side": pl.Utf8,  # high or low
    "numerator": pl.Int64,  # cusum: the events of the climb that crossed the threshold
    "denominator": pl.Int64,  # as disclosed: None where withheld; cusum: the patients of that climb
    "rate": pl.Float64,
    "target": pl.Float64,
    "expected": pl.Float64,
    "ratio": pl.Float64,
    "p_value": pl.Float64,  # funnel: the exact one-sided tail probability the flag rests on
    "reason": pl.Utf8,  # for outside-TA infusions: the reason in words, from the TA compliance rules
    "period_start": pl.Date,
    "period_end": pl.Date,  # the infusions the signal rests on (None: from the first); cusum: the climb's
}


def signals(
    dataset: Dataset,
    filters: Filters | None = None,
    as_of: dt.date | None = None,
    disclose: Disclose = exact,
    adjust: str | None = None,
) -> pl.DataFrame:
    """One row per signal (SIGNAL_SCHEMA), found in the figures the view discloses, worst first. (Counts that are
    not a metric table's, such as outside-TA infusions by reason, are suppressed by the gate with the records.)"""
    filters = filters or Filters()
    as_of = as_of or dataset.extract_date or dt.date.today()
    # Every metric below reads the filter state's shared counts: one pass over the episodes for all of them.
    found: list[dict] = []
    period = {"period_start": filters.start, "period_end": filters.end}
    for metric in proportions().values():
        if metric.id.startswith("followup_"):
            continue
        table = disclose(
            rates.compute(dataset, metric.id, by="centre", filters=filters, as_of=as_of, adjust=adjust, curve=False)
        )
        for row in table.rows.iter_rows(named=True):
            severity = metric.concern(row["flag"])
            if severity:
                found.append(
                    {
                        "severity": severity,
                        "kind": "funnel",
                        "metric": metric.id,
                        "centre": row["group"],
                        "rule": row["flag"],
                        "side": row["flag"].split("_")[0].replace("above", "high").replace("below", "low"),
                        "numerator": row["numerator"],
                        "denominator": row["denominator"],
                        "rate": row["rate"],
                        "target": table.target,
                        "expected": row["expected"],
                        "ratio": row["ratio"],
                        "p_value": row["p_value"],
                        **period,
                    }
                )
        if metric.is_outcome:
            _, spc = rates.quarterly(dataset, metric.id, filters, as_of, disclose)
            for s in spc:
                worse = (s["direction"] == "high") == metric.higher_is_worse
                found.append(
                    {
                        "severity": "alert" if worse else "info",
                        "kind": "spc",
                        "metric": metric.id,
                        "rule": s["rule"],
                        "side": s["direction"],
                        "period_start": s["from"],
                        "period_end": _quarter_end(s["to"]),
                    }
                )
    completeness = disclose(
        rates.compute(
            dataset,
            "followup_d30_complete",
            by="centre",
            filters=filters,
            as_of=as_of,
            adjust=adjust,
            curve=False,
        )
    )
    under = completeness.rows.filter(pl.col("rate") < rates.COMPLETENESS_THRESHOLD)
    for row in under.iter_rows(named=True):
        found.append(
            {
                "severity": "alert",
                "kind": "completeness",
                "metric": "followup_d30_complete",
                "centre": row["group"],
                "rule": f"under {rates.COMPLETENESS_THRESHOLD:.0%}",
                "side": "low",
                "numerator": row["numerator"],
                "denominator": row["denominator"],
                "rate": row["rate"],
                "target": rates.COMPLETENESS_THRESHOLD,
                **period,
            }
        )
    if disclose is exact:  # a chart patient by patient has no suppressed form: an observer's view has no CUSUM
        # Like the funnels' flags, no warning for a centre under the follow-up completeness gate.
        gated = set(under["group"])
        for row in early_warning.recent_crossings(dataset, filters, as_of).iter_rows(named=True):
            if row["centre_code"] in gated:
                continue
            found.append(
                {
                    "severity": "alert",
                    "kind": "cusum",
                    "metric": row["metric"],
                    "centre": row["centre_code"],
                    "rule": "cusum",
                    "side": "high",
                    "numerator": row["observed"],
                    "denominator": row["patients"],
                    "expected": row["expected"],
                    "ratio": row["observed"] / row["expected"] if row["expected"] else None,
                    "period_start": row["climb_from"],
                    "period_end": row["crossed_on"],
                }
            )
    reasons = pathway.ta_outside_by_reason(dataset, filters).filter(pl.col("infusions") > 0)
    for row in reasons.iter_rows(named=True):
        found.append(
            {
                "severity": "alert",
                "kind": "outside_ta",
                "metric": "ta_outside",
                "rule": row["reason_id"],
                "side": "high",
                "numerator": row["infusions"],
                "reason": row["reason"],
                **period,
            }
        )
    frame = pl.DataFrame(found, schema=SIGNAL_SCHEMA) if found else pl.DataFrame(schema=SIGNAL_SCHEMA)
    return frame.sort(
        pl.col("severity").replace_strict(SEVERITY_ORDER, return_dtype=pl.Int8),
        "kind",
        "metric",
        "centre",
        nulls_last=True,
    )


def _quarter_end(start: dt.date) -> dt.date:
    month = start.month + 3
    first_of_next = dt.date(start.year + (month > 12), (month - 1) % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)
