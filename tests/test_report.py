"""The governance pack reads without a glossary: labelled columns, flags in words, numbers formatted."""

from __future__ import annotations

import datetime as dt
import re

from dashboard import access, report, store
from dashboard.filters import Filters
from dashboard.gate import Gate
from dashboard.loaders import load_dataset

RAW = (
    "numerator",
    "denominator",
    "ci_low",
    "ci_high",
    "p_value",
    "low_numbers",
    "above_95",
    "below_99.8",
    "product_mix",
    "icans_severe",
    "ta_code",
    "group",
)


def visible_text(html: str) -> str:
    """What a reader sees: the document without scripts (Plotly's inlined library and figure data) and tags."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    html = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_pack_speaks_in_words_and_formats_its_numbers(seeded_sqlite):
    data = load_dataset(store.engine_for(seeded_sqlite))
    viewer = access.Viewer("panel@example.nhs.uk", "national")
    policy = access.policy_for(viewer, data["centres"]["centre_code"].to_list(), True, shared_export=True)
    text = visible_text(report.build(data, Filters(), Gate(policy)))
    assert [word for word in RAW if re.search(rf"\b{re.escape(word)}\b", text)] == []
    assert not re.search(r"\b\d+\.000\b", text)  # counts as integers, never 480.000
    assert "Worse than expected (99.8%)" in text and "Exact p (one-sided)" in text


def test_the_pack_says_what_changed_since_the_previous_period(seeded_sqlite):
    from dashboard.metrics import catalogue, signals

    data = load_dataset(store.engine_for(seeded_sqlite))
    viewer = access.Viewer("panel@example.nhs.uk", "national")
    policy = access.policy_for(viewer, data["centres"]["centre_code"].to_list(), True, shared_export=True)
    text = visible_text(report.build(data, Filters(), Gate(policy)))
    # The default period (the three years to 2026-09-30) against the three years before, stated and compared.
    assert "infusions from 2023-10-01 to 2026-09-30; compared with 2020-10-01 to 2023-09-30" in text
    section = text[text.index("Since the previous period (2020-10-01 to 2023-09-30)") :]
    # Which centre-metric funnel signals are new, still raised or gone: from the two periods' signals, by set.
    shared = Gate(policy)
    periods = {
        name: shared.signals(signals(data, Filters(start=start, end=end), disclose=shared.disclose))
        for name, (start, end) in (
            ("now", (dt.date(2023, 10, 1), dt.date(2026, 9, 30))),
            ("before", (dt.date(2020, 10, 1), dt.date(2023, 9, 30))),
        )
    }
    funnels = {
        name: {(s["centre"], s["metric"]) for s in frame.iter_rows(named=True) if s["kind"] == "funnel"}
        for name, frame in periods.items()
    }
    parts = {heading: section.split(heading, 1)[1] for heading in ("New", "Still raised", "No longer raised")}
    new = parts["New"].split("Still raised")[0]
    still = parts["Still raised"].split("No longer raised")[0]
    gone = parts["No longer raised"].split("Toxicity and ITU funnels")[0]
    titles = {m.id: m.title for m in catalogue().values()}
    for (centre, metric), where in [
        *((k, new) for k in funnels["now"] - funnels["before"]),
        *((k, still) for k in funnels["now"] & funnels["before"]),
        *((k, gone) for k in funnels["before"] - funnels["now"]),
    ]:
        assert f"{centre}: {titles[metric]}:" in where, (centre, metric)
    assert funnels["now"] and funnels["before"] - funnels["now"]  # the sample has both kinds
