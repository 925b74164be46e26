"""Small, deterministic datasets built by code for hand-computed metric tests (and the generator's, from testkit)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.loaders import Dataset
from data_contracts import polars_schema, reference_path
from testkit.datasets import generated  # noqa: F401 - the tests' name for it

AS_OF = dt.date(2026, 9, 30)


def _frame(table: str, rows: list[dict], defaults: dict) -> pl.DataFrame:
    schema = polars_schema(table)
    return (
        pl.DataFrame([{**defaults, **row} for row in rows], schema=schema, orient="row")
        if rows
        else pl.DataFrame(schema=schema)
    )


def infusion(
    episode_id: str,
    centre: str = "AAA",
    product: str = "axi-cel",
    ta: str = "TA872",
    age: int = 60,
    date: dt.date = dt.date(2025, 1, 15),
    **columns,
) -> dict:
    return {
        "episode_id": episode_id,
        "patient_id": "PATIENT0001",
        "referral_id": None,
        "centre_code": centre,
        "product_code": product,
        "ta_code": ta,
        "infusion_date": date,
        "age_at_infusion": age,
        "sex": "female",
        "ethnic_group": "White",
        "care_setting": "inpatient",
        **columns,
    }


def outcome(episode_id: str, crs: int = 0, icans: int = 0, itu: bool = False, d100: bool = True, **columns) -> dict:
    """A completed follow-up row; crs and icans are the maximum grades."""
    return {
        "episode_id": episode_id,
        "d30_complete": True,
        "crs_max_grade": crs,
        "crs_onset_day": 2 if crs else None,
        "icans_max_grade": icans,
        "icans_onset_day": 5 if icans else None,
        "tocilizumab_doses": 0,
        "corticosteroids": False,
        "itu_admitted": itu,
        "itu_day": 3 if itu else None,
        "itu_reason": "CRS" if itu else None,
        "cytopenia_grade_d30": 0,
        "d100_complete": d100,
        "cytopenia_grade_d100": 0 if d100 else None,
        "status_d100": "alive" if d100 else None,
        **columns,
    }


def dataset(
    infusions: list[dict],
    followup: list[dict],
    referrals: list[dict] | None = None,
    centres: tuple[str, ...] = ("AAA", "BBB", "CCC"),
) -> Dataset:
    frames = {
        "centres": pl.DataFrame(
            {
                "centre_code": list(centres),
                "centre_name": [f"Centre {c}" for c in centres],
                "nhs_region": "London",
                "population": "adult",
                "jacie_accredited": True,
                "commissioned_from": dt.date(2019, 1, 1),
            }
        ),
        "products": pl.read_csv(reference_path("products")),
        "nice_ta": pl.read_csv(reference_path("nice_ta"), schema_overrides=polars_schema("nice_ta")),
        "referrals": _frame("referrals", referrals or [], {}),
        "infusions": _frame("infusions", infusions, {}),
        "followup": _frame("followup", followup, {}),
    }
    return Dataset(1, AS_OF, True, frames, quarantine=pl.DataFrame(), batches=pl.DataFrame())
