"""Who sees what: pseudonyms, suppression, the access file, and each role on each page."""

from __future__ import annotations

import polars as pl
import pytest
from streamlit.dataframe_util import convert_anything_to_arrow_bytes

from dashboard import access
from dashboard.access import Policy, Viewer
from dashboard.gate import Gate
from tests.conftest import SAMPLE
from tests.test_app import PAGES, run_app

CENTRES = pl.read_csv(SAMPLE / "centres.csv")["centre_code"].to_list()
VOLUMES = pl.read_csv(SAMPLE / "infusions.csv")["centre_code"].value_counts().sort("count", descending=True)


def test_peer_pseudonyms_are_stable_keyed_and_unrelated_to_name_or_volume():
    first = access.peer_pseudonyms(CENTRES, "secret-1", own="MID02")
    assert first == access.peer_pseudonyms(list(reversed(CENTRES)), "secret-1", own="MID02")  # stable
    assert first["MID02"] == "Your centre"
    peers = {code: label for code, label in first.items() if code != "MID02"}
    assert sorted(peers.values()) == [f"Peer {chr(65 + i)}" for i in range(22)]
    by_label = [code for code, _ in sorted(peers.items(), key=lambda item: item[1])]
    assert by_label != sorted(peers)  # not alphabetical
    assert by_label != [c for c in VOLUMES["centre_code"].to_list() if c != "MID02"]  # not by volume
    assert access.peer_pseudonyms(CENTRES, "secret-2", own="MID02") != first  # rotating the secret relabels


def gate(role: str, centre: str | None = None, **options) -> Gate:
    return Gate(Policy.for_viewer(Viewer(role[0], role, centre), CENTRES, "s", **options))


@pytest.mark.parametrize(("count", "shown"), [(0, 0), (1, None), (7, None), (8, 10), (12, 10), (13, 15), (1001, 1000)])
def test_small_numbers_are_suppressed_and_rounded_to_5(count, shown):
    observer = gate("observer")
    frame = observer.frame(pl.DataFrame({"numerator": [count], "denominator": [1000]}))
    assert frame["numerator"][0] == shown
    assert observer.as_text(frame)["numerator"][0] == ("*" if shown is None else str(shown))


def test_rates_and_intervals_are_computed_from_the_rounded_counts_and_other_figures_are_withheld():
    frame = pl.DataFrame(
        {
            "group": ["A"],
            "numerator": [12],
            "denominator": [33],
            "rate": [12 / 33],
            "ci_low": [0.2],
            "ci_high": [0.5],
            "expected": [9.1],
            "some_new_figure": [3.0],
        }
    )
    shown = gate("observer").frame(frame).row(0, named=True)
    low, high = 0.16327, 0.45055  # Wilson 95% for 10 of 35, computed by hand from its formula
    assert (shown["numerator"], shown["denominator"], shown["rate"]) == (10, 35, 10 / 35)
    assert (round(shown["ci_low"], 5), round(shown["ci_high"], 5)) == (low, high)
    assert "expected" not in shown and "some_new_figure" not in shown  # undeclared figures are withheld
    assert gate("national").frame(frame).equals(frame)
    assert gate("national", shared_export=True).frame(frame)["numerator"][0] == 10


def test_a_leads_tables_list_their_own_centre_first_then_peers_in_pseudonym_order():
    lead = gate("centre", "MID02")
    frame = pl.DataFrame({"group": sorted(CENTRES), "centre_name": sorted(CENTRES)})
    shown = lead.relabel(frame, "group")
    # The lead's own centre first, then peers in pseudonym order (never in code order).
    groups = shown["group"].to_list()
    assert groups[0] == "Your centre" and groups[1:] == sorted(groups[1:])
    assert shown.filter(pl.col("group") != "Your centre")["centre_name"].null_count() == 22


def test_what_a_lead_is_sent_holds_no_peer_name_even_behind_a_null():
    """Streamlit sends a table's Arrow buffers as they are: a name hidden by a null must not be in them at all."""
    names = pl.read_csv(SAMPLE / "centres.csv")
    lead = gate("centre", "MID02")
    frame = names.select(pl.col("centre_code").alias("group"), "centre_name")
    sent = convert_anything_to_arrow_bytes(lead.relabel(frame, "group"))
    peers = names.filter(pl.col("centre_code") != "MID02")
    assert [n for n in peers["centre_name"] if n.encode() in sent] == []
    assert [c for c in peers["centre_code"] if c.encode() in sent] == []
    own = names.filter(pl.col("centre_code") == "MID02")["centre_name"][0]
    assert own.encode() in sent


def test_a_centre_the_policy_does_not_know_is_hidden_from_a_lead_not_shown_by_code():
    lead = gate("centre", "MID02")
    shown = lead.relabel(pl.DataFrame({"group": ["MID02", "NEW01"]}), "group")
    assert set(shown["group"].to_list()) == {None, "Your centre"}


def test_patient_rows_by_role():
    rows = pl.DataFrame({"episode_id": ["a", "b", "c"], "centre_code": ["MID02", "LDN01", "MID02"]})
    lead = gate("centre", "MID02")
    assert lead.patient_rows(rows)["episode_id"].to_list() == ["a", "c"]
    assert set(lead.patient_rows(rows)["centre_code"]) == {"Your centre"}
    assert gate("observer").patient_rows(rows).height == 0
    assert gate("national").patient_rows(rows).height == 3


def test_a_missing_or_broken_access_file_denies_everyone(tmp_path):
    with pytest.raises(access.AccessConfigError, match="not found: nobody is let in"):
        access.load_access_file(tmp_path / "absent.toml")
    (tmp_path / "broken.toml").write_text('[users."x"\nrole=')
    with pytest.raises(access.AccessConfigError, match="unreadable"):
        access.load_access_file(tmp_path / "broken.toml")
    (tmp_path / "badrole.toml").write_text('[users."x@nhs.net"]\nrole = "admin"\n')
    with pytest.raises(access.AccessConfigError, match="unknown role 'admin'"):
        access.load_access_file(tmp_path / "badrole.toml")
    (tmp_path / "ok.toml").write_text('[users."Lead@NHS.net"]\nrole = "centre"\ncentre = "MID02"\n')
    people = access.load_access_file(tmp_path / "ok.toml")
    assert access.viewer_for("lead@nhs.net", people) == Viewer("lead@nhs.net", "centre", "MID02")
    assert access.viewer_for("someone@nhs.net", people) is None and access.viewer_for(None, people) is None


# --- Each role on each page (demo sign-in, AppTest) ---

ROLE_STATE = {
    "national": {"demo_role": "national"},
    "centre": {"demo_role": "centre", "demo_centre": "MID02"},
    "observer": {"demo_role": "observer"},
}


def _page_text(app) -> str:
    """Everything a page shows as text, its tables' cells included."""
    parts = [str(getattr(e, "value", "")) for e in app.main] + [str(getattr(e, "label", "")) for e in app.main]
    for frame in app.dataframe:
        value = frame.value
        parts.append(value.to_csv() if hasattr(value, "to_csv") else str(value))
    return " ".join(parts)


@pytest.mark.parametrize("role", list(ROLE_STATE))
@pytest.mark.parametrize("page", PAGES)
def test_each_role_on_each_page(monkeypatch, seeded_sqlite, role, page):
    app = run_app(monkeypatch, seeded_sqlite, page, state=ROLE_STATE[role])
    assert not app.exception, app.exception
    text = _page_text(app)
    if role == "centre":
        # A lead sees its own code and peers as pseudonyms; no other centre's code or name.
        others = [c for c in CENTRES if c != "MID02"]
        assert [c for c in others if c in text] == []
        names = pl.read_csv(SAMPLE / "centres.csv").filter(pl.col("centre_code") != "MID02")["centre_name"]
        assert [n for n in names if n in text] == []
    if role == "observer":
        for frame in app.dataframe:
            value = frame.value
            for column in ("numerator", "denominator", "infusions", "d30_due", "rows_quarantined"):
                if hasattr(value, "columns") and column in value.columns:
                    cells = [str(v) for v in value[column].tolist()]
                    small = [v for v in cells if v.isdigit() and 0 < int(v) < 8]
                    assert small == [], (page, column, small)
                    assert all(v == "*" or v == "None" or (v.isdigit() and int(v) % 5 == 0) for v in cells), cells
        assert "Patient-level rows are not shown" in text or page not in (
            "nice_ta.py",
            "exceptions.py",
            "data_quality.py",
        )
