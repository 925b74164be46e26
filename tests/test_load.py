"""Load, the short version of bench/load.py: six browser sessions of mixed roles behind a trusted header at once.

The long run (20 sessions for 2 minutes, with the server's memory judged) is `python bench/load.py`, on demand.
"""

from __future__ import annotations

import pytest

from bench import load
from tests.conftest import chromium_path

pytestmark = pytest.mark.browser


def test_concurrent_sessions_of_mixed_roles_see_only_what_they_may(tmp_path):
    report = load.run(sessions=6, seconds=15, tier="sample", timeout_s=120, workdir=tmp_path, chromium=chromium_path())
    assert {p["role"] for p in report["people"]} == {"national", "centre", "observer", "denied"}
    assert report["errors"] == [], load.render(report)
    assert report["leaks"] == [], load.render(report)
    assert min(report["loads_per_session"]) >= 1, report["loads_per_session"]  # every session got pages
    # The checks looked at what the server sent and would have caught a peer centre shown to a lead.
    assert report["canary"]["would_have_been_leaks"] >= 1


def test_sessions_over_the_websocket_alone_see_only_what_they_may(tmp_path):
    """The load client without a browser (testkit/protocol.py): the same people, checks and canary."""
    report = load.run(
        sessions=6, seconds=12, tier="sample", timeout_s=120, workdir=tmp_path, client="protocol", reading=(0.5, 1.5)
    )
    assert {p["role"] for p in report["people"]} == {"national", "centre", "observer", "denied"}
    assert report["errors"] == [], load.render(report)
    assert report["leaks"] == [], load.render(report)
    assert min(report["loads_per_session"]) >= 2, report["loads_per_session"]
    assert report["canary"]["would_have_been_leaks"] >= 1
    assert report["page_time"]["p50_s"] < 10
