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
