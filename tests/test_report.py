"""The governance pack reads without a glossary: labelled columns, flags in words, numbers formatted."""

from __future__ import annotations

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
