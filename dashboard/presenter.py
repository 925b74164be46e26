"""Signals in words and links, written after the gate from the records it lets through (pure: no Streamlit)."""

from __future__ import annotations

from dashboard.gate import SUPPRESSED
from dashboard.metrics.catalogue import catalogue
from dashboard.metrics.signals import quarter_label
from dashboard.stats import SPC_RULES

# The page that explains a signal on a metric; funnel and completeness signals open the centre's own page.
PAGE_OF = {"itu_admission": "itu", "ta_outside": "nice-ta", "travel_exception": "exceptions",
           "carer_exception": "exceptions", "followup_d30_complete": "data-quality",
           "followup_d100_complete": "data-quality"}


def _count(value: int | None) -> str:
    return SUPPRESSED if value is None else f"{value:,}"


def signal_text(signal: dict) -> str:
    """One line a panel can read: who, what, how far, on what numbers (withheld counts as *)."""
    title = catalogue()[signal["metric"]].title
    kind = signal["kind"]
    if kind == "funnel":
        level = "99.8" if signal["severity"] == "alarm" else "95"
        if signal["ratio"] is not None:
            value = f"observed/expected {signal['ratio']:.2f}"
        elif signal["rate"] is not None and signal["target"] is not None:
            value = f"{signal['rate']:.1%} against {signal['target']:.1%}"
        else:
            value = "figures withheld"
        counts = f"{_count(signal['numerator'])} of {_count(signal['denominator'])}"
        return f"{signal['centre']}: {title}: beyond the {level}% limit ({value}, {counts})"
    if kind == "spc":
        return (f"{title}: {SPC_RULES[signal['rule']]} ({signal['side']}), {quarter_label(signal['period_start'])} "
                f"to {quarter_label(signal['period_end'])}")
    if kind == "completeness":
        rate = "withheld" if signal["rate"] is None else f"{signal['rate']:.0%}"
        return (f"{signal['centre']}: day-30 follow-up {signal['rule']} complete: outcomes not flagged ({rate}, "
                f"{_count(signal['numerator'])} of {_count(signal['denominator'])})")
    return f"{_count(signal['numerator'])} infusions outside their TA: {signal['reason']}"


def signal_link(signal: dict, query: dict[str, list[str]]) -> tuple[str, dict[str, list[str]]]:
    """The page and query that explain a signal, from the viewer's own query (centres already in their labels)."""
    base = {k: v for k, v in query.items() if k not in ("metric", "centre", "adjust")}
    if signal["kind"] == "funnel":
        return "centres", {**base, "centre": [signal["centre"]], "metric": [signal["metric"]]}
    if signal["kind"] == "spc":
        keep_centre = {"centre": query["centre"]} if "centre" in query else {}
        return PAGE_OF.get(signal["metric"], "toxicity"), {**base, **keep_centre, "metric": [signal["metric"]]}
    return PAGE_OF[signal["metric"]], base
