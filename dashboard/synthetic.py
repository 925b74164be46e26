"""Realistic synthetic CAR-T submissions (all six tables), deterministic for a seed, vectorised to reach 1M infusions.

Rates follow docs/design.md, Domain facts. Centres are invented: outcomes must never be pinned to a real hospital.
Built in on purpose, so that the dashboard has something true to find: centre MID02 is high on ICANS beyond its
product mix, centre NEY04 lags badly on follow-up, rural centres have more travel exceptions, and a few
infusions fall outside their TA (TA894 use, age 26 on TA975/TA554, a superseded TA used after its successor).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from data_contracts import manifest, reference_path

START = dt.date(2019, 1, 1)
DEFAULT_AS_OF = dt.date(2026, 9, 30)

# code, name, region, population, volume weight, commissioned from, rural catchment
CENTRES = [
    ("LDN01", "Riverside Crown Hospitals", "London", "adult", 10.0, "2018-12-01", False),
    ("LDN02", "Kingsgate University Hospital", "London", "adult", 6.0, "2018-12-01", False),
    ("LDN03", "Harbour Street Children's Hospital", "London", "paediatric", 5.0, "2018-12-01", False),
    ("LDN04", "St Aldwyn's Hospital", "London", "all_ages", 4.0, "2019-06-01", False),
    ("SEA01", "Downsvale University Hospitals", "South East", "adult", 3.0, "2019-03-01", False),
    ("SEA02", "Weald and Solent Hospitals", "South East", "adult", 2.0, "2020-09-01", False),
    ("SWE01", "Tamar Peninsula Hospitals", "South West", "adult", 2.0, "2020-01-01", True),
    ("SWE02", "Severnmouth Royal Infirmary", "South West", "all_ages", 3.0, "2019-03-01", False),
    ("EOE01", "Fenland University Hospitals", "East of England", "adult", 2.5, "2019-06-01", True),
    ("EOE02", "Broadwater General Hospital", "East of England", "adult", 1.5, "2021-04-01", False),
    ("MID01", "Mercia Queen's Hospital", "Midlands", "adult", 9.0, "2018-12-01", False),
    ("MID02", "Trentside University Hospitals", "Midlands", "adult", 4.0, "2019-03-01", False),
    ("MID03", "Mercia Children's Hospital", "Midlands", "paediatric", 3.0, "2019-03-01", False),
    ("MID04", "Charnwood Vale Hospital", "Midlands", "adult", 1.5, "2021-10-01", False),
    ("NWE01", "Irwell University Hospitals", "North West", "adult", 8.0, "2018-12-01", False),
    ("NWE02", "Mersey Bank Hospital", "North West", "adult", 3.0, "2019-09-01", False),
    ("NWE03", "Pennine Children's Hospital", "North West", "paediatric", 2.5, "2019-06-01", False),
    ("NWE04", "Fylde Coast Infirmary", "North West", "adult", 1.0, "2022-04-01", False),
    ("NEY01", "Tyne Valley Hospitals", "North East and Yorkshire", "adult", 4.0, "2019-03-01", False),
    ("NEY02", "Aire and Calder University Hospitals", "North East and Yorkshire", "all_ages", 4.0, "2019-03-01", False),
    ("NEY03", "Wolds Moor Hospital", "North East and Yorkshire", "adult", 1.2, "2020-06-01", True),
    ("NEY04", "Don Valley Royal Hospital", "North East and Yorkshire", "adult", 2.0, "2019-09-01", False),
    ("NEY05", "Wearside General Hospital", "North East and Yorkshire", "adult", 1.0, "2022-10-01", False),
]
ICANS_OUTLIER = "MID02"
LAGGING_CENTRE = "NEY04"


@dataclass(frozen=True)
class Stream:
    """Patients referred under one TA: when they come, how many, how old, which panel sees them."""

    ta_code: str
    product: str
    disease: str
    start: str
    end: str | None
    weight: float
    later_weight: float | None = None  # weight once liso-cel arrives (2025-03)


LISO_CEL_ARRIVES = dt.date(2025, 3, 1)
STREAMS = [
    Stream("TA559", "axi-cel", "LBCL", "2019-01-01", "2023-02-01", 11.0),
    Stream("TA559", "axi-cel", "LBCL", "2023-02-01", "2023-08-01", 1.5),  # used after TA872 superseded it
    Stream("TA567", "tisa-cel", "LBCL", "2019-03-01", "2020-12-01", 1.5),
    Stream("TA554", "tisa-cel", "B-ALL", "2019-01-01", "2024-05-01", 4.5),
    Stream("TA975", "tisa-cel", "B-ALL", "2024-05-01", None, 5.0),
    Stream("TA677", "brexu-cel", "MCL", "2021-02-01", None, 2.5),
    Stream("TA872", "axi-cel", "LBCL", "2023-02-01", None, 11.0, 8.5),
    Stream("TA895", "axi-cel", "LBCL", "2023-06-01", None, 8.5, 6.0),
    Stream("TA893", "brexu-cel", "B-ALL", "2023-06-01", None, 2.0),
    Stream("TA894", "axi-cel", "FL", "2023-06-01", None, 0.4),
    Stream("TA1048", "liso-cel", "LBCL", "2025-03-01", None, 0.0, 5.0),
    Stream("TA1116", "obe-cel", "B-ALL", "2025-11-01", None, 0.0, 3.5),
]

# product: any CRS, grade 3+ CRS, any ICANS, grade 3+ ICANS, ITU admission (docs/design.md, Domain facts)
TOXICITY = {
    "axi-cel": (0.88, 0.085, 0.36, 0.20, 0.30),
    "tisa-cel": (0.62, 0.065, 0.15, 0.04, 0.10),
    "brexu-cel": (0.90, 0.20, 0.38, 0.27, 0.30),
    "liso-cel": (0.50, 0.02, 0.15, 0.07, 0.07),
    "obe-cel": (0.70, 0.03, 0.18, 0.065, 0.075),
}
CD28 = ("axi-cel", "brexu-cel")  # earlier onset of CRS than 4-1BB products


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype("int32")).cast(pl.Date)


def _day(date: str | dt.date) -> int:
    return (dt.date.fromisoformat(date) if isinstance(date, str) else date).toordinal() - dt.date(
        1970, 1, 1
    ).toordinal()


def _choice(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One category per row from a rows x categories weight matrix (rows need not be normalised)."""
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(weights.shape[0]) * cumulative[:, -1]
    return (cumulative < draw[:, None]).sum(axis=1)


def _pick(rng: np.random.Generator, n: int, values: list, p: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=np.asarray(p) / sum(p))]


def _ids(prefix: str, n: int, offset: int = 0) -> pl.Series:
    width = max(7, len(str(n + offset)))
    return pl.select(
        pl.format(f"{prefix}{{}}", pl.int_range(offset + 1, offset + n + 1).cast(pl.Utf8).str.zfill(width))
    ).to_series()


def _patient_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))
    chars = alphabet[rng.integers(0, len(alphabet), size=(n, 10))]
    return np.ascontiguousarray(chars).view("<U10").ravel()


def _infusion_days(rng: np.random.Generator, n: int, as_of: dt.date) -> np.ndarray:
    """Infusion dates from 2019 to the extract, growing about threefold over the period."""
    t = rng.random(n)
    growth = 2.2  # density proportional to 1 + growth * t; inverse CDF below
    u = (-1 + np.sqrt(1 + growth * (2 + growth) * t)) / growth
    return _day(START) + np.floor(u * (_day(as_of) - _day(START) + 1)).astype(np.int64)


def _streams_for(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    weights = np.zeros((len(days), len(STREAMS)))
    liso = days >= _day(LISO_CEL_ARRIVES)
    for j, s in enumerate(STREAMS):
        active = (days >= _day(s.start)) & ((days < _day(s.end)) if s.end else True)
        later = s.weight if s.later_weight is None else s.later_weight
        weights[:, j] = np.where(active, np.where(liso, later, s.weight), 0.0)
    return _choice(rng, weights)


def _ages(rng: np.random.Generator, stream_idx: np.ndarray) -> np.ndarray:
    n = len(stream_idx)
    ta = np.array([s.ta_code for s in STREAMS])[stream_idx]
    lymphoma = np.clip(np.round(rng.normal(61, 11, n)), 19, 86)
    adult_all = np.clip(np.round(rng.normal(44, 14, n)), 26, 80)
    young = np.where(rng.random(n) < 0.68, rng.integers(1, 16, n), rng.integers(16, 26, n))
    # A few patients aged 26 treated under the up-to-25 TAs: outside TA, as a panel should see.
    young = np.where(rng.random(n) < 0.012, 26, young)
    paediatric_ta = np.isin(ta, ["TA554", "TA975"])
    adult_ta = np.isin(ta, ["TA893", "TA1116"])
    return np.where(paediatric_ta, young, np.where(adult_ta, adult_all, lymphoma)).astype(np.int64)


def _centres_for(rng: np.random.Generator, days: np.ndarray, ages: np.ndarray) -> np.ndarray:
    """Allocate by the centre's population and volume, only after it was commissioned."""
    population = np.array([c[3] for c in CENTRES])
    volume = np.array([c[4] for c in CENTRES])
    commissioned = np.array([_day(c[5]) for c in CENTRES])
    takes_children = np.isin(population, ["paediatric", "all_ages"])
    takes_adults = np.isin(population, ["adult", "all_ages"])
    child = ages < 16
    eligible = np.where(child[:, None], takes_children[None, :], takes_adults[None, :])
    weights = eligible * volume[None, :] * (days[:, None] >= commissioned[None, :])
    return _choice(rng, weights)


WORSE_DAYS = 91  # --double-toxicity: the centre's last quarter, the three months to the extract date


def generate_frames(
    episodes: int, seed: int, as_of: dt.date = DEFAULT_AS_OF, double_toxicity: str | None = None
) -> dict[str, pl.DataFrame]:
    """All six tables of a synthetic national submission with `episodes` infusions; with `double_toxicity` a
    centre code whose odds of every toxicity double in its last quarter (a change for the early warning to find)."""
    rng = np.random.default_rng(seed)
    n = episodes
    days = np.sort(_infusion_days(rng, n, as_of))
    stream_idx = _streams_for(rng, days)
    product = np.array([s.product for s in STREAMS])[stream_idx]
    ta_code = np.array([s.ta_code for s in STREAMS])[stream_idx]
    disease = np.array([s.disease for s in STREAMS])[stream_idx]
    ages = _ages(rng, stream_idx)
    centre_idx = _centres_for(rng, days, ages)
    centre = np.array([c[0] for c in CENTRES])[centre_idx]
    rural = np.array([c[6] for c in CENTRES])[centre_idx]
    panel = np.where(disease == "B-ALL", np.where(ages < 16, "paediatric", "ALL"), "lymphoma")
    patient_id = _patient_ids(rng, n)
    episode_id = _ids("EP", n)
    referral_id = _ids("RF", n)

    # Referral, review by the panel (CART12) and the weeks of apheresis and manufacture before infusion.
    review_days = np.minimum(np.round(rng.gamma(2.2, 3.2, n)), 45).astype(np.int64)
    review_days += np.where(panel == "paediatric", 0, 1)
    to_infusion = rng.integers(24, 62, n)
    referral_day = days - to_infusion - review_days

    worse = (centre == double_toxicity) & (days > _day(as_of) - WORSE_DAYS) if double_toxicity else None
    tox = toxicity(rng, product, centre, ages, worse)
    followup = _followup(rng, days, centre, as_of, tox)
    infusion_columns = _infusion_rows(rng, n, days, product, ta_code, ages, centre, rural, tox)
    infusions = pl.DataFrame(
        {"episode_id": episode_id, "patient_id": patient_id, "referral_id": referral_id, **infusion_columns}
    )
    # A few legacy infusions were never linked to a referral record.
    no_referral = rng.random(n) < 0.01
    infusions = infusions.with_columns(
        pl.when(pl.Series(no_referral)).then(None).otherwise(pl.col("referral_id")).alias("referral_id")
    )
    infused_referrals = pl.DataFrame(
        {
            "referral_id": referral_id,
            "patient_id": patient_id,
            "panel": panel,
            "ta_code": ta_code,
            "age_at_referral": ages,
            "referral_date": _dates(referral_day),
            "review_date": _dates(referral_day + review_days),
            "decision": "approved",
            "allocated_centre": centre,
        }
    ).filter(~pl.Series(no_referral))
    referrals = pl.concat([infused_referrals, _referrals_not_infused(rng, n, as_of)]).sort(
        "referral_date", "referral_id"
    )
    followup = followup.with_columns(pl.Series("episode_id", episode_id)).filter(pl.col("_has_row")).drop("_has_row")
    return {
        "centres": centres_frame(),
        "products": pl.read_csv(reference_path("products"), infer_schema=False),
        "nice_ta": pl.read_csv(reference_path("nice_ta"), infer_schema=False),
        "referrals": referrals,
        "infusions": infusions,
        "followup": followup.select("episode_id", *[c for c in followup.columns if c != "episode_id"]),
    }


def centres_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "centre_code": [c[0] for c in CENTRES],
            "centre_name": [c[1] for c in CENTRES],
            "nhs_region": [c[2] for c in CENTRES],
            "population": [c[3] for c in CENTRES],
            "jacie_accredited": [c[0] != "NWE04" for c in CENTRES],
            "commissioned_from": [dt.date.fromisoformat(c[5]) for c in CENTRES],
        }
    )


def _odds_doubled(p: np.ndarray, where: np.ndarray) -> np.ndarray:
    """p with its odds doubled where asked: for rare events nearly twice the rate, and never above 1."""
    return np.where(where, 2 * p / (1 + p), p)


def toxicity(
    rng: np.random.Generator,
    product: np.ndarray,
    centre: np.ndarray,
    ages: np.ndarray,
    worse: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-patient toxicity grades by product, with the built-in ICANS outlier centre; `worse` marks patients whose
    odds of every toxicity are doubled (the same random draws either way, so nothing else changes)."""
    n = len(product)
    rates = np.array([TOXICITY[p] for p in product])
    crs_any, crs_sev, icans_any, icans_sev, itu = rates.T
    outlier = centre == ICANS_OUTLIER
    icans_sev = np.where(outlier, icans_sev * 2.2, icans_sev)
    icans_any = np.where(outlier, np.minimum(icans_any * 1.4, 0.95), icans_any)
    itu = np.where(ages < 16, itu + 0.03, itu)  # ALL children are admitted more often
    if worse is not None:
        crs_any, crs_sev, icans_any, icans_sev, itu = (
            _odds_doubled(p, worse) for p in (crs_any, crs_sev, icans_any, icans_sev, itu)
        )

    def grades(p_any: np.ndarray, p_sev: np.ndarray) -> np.ndarray:
        u = rng.random(n)
        severe = u < p_sev
        mild = ~severe & (u < p_any)
        return np.where(
            severe, np.where(rng.random(n) < 0.75, 3, 4), np.where(mild, np.where(rng.random(n) < 0.6, 1, 2), 0)
        )

    crs = grades(crs_any, crs_sev)
    icans = grades(icans_any, icans_sev)
    severe_any = (crs >= 3) | (icans >= 3)
    p_severe_any = 1 - (1 - crs_sev) * (1 - icans_sev)
    p_itu_other = np.clip((itu - 0.7 * p_severe_any) / (1 - p_severe_any), 0, 1)
    itu_admitted = np.where(severe_any, rng.random(n) < 0.7, rng.random(n) < p_itu_other)
    cd28 = np.isin(product, CD28)
    crs_onset = np.where(crs > 0, np.clip(np.where(cd28, 1, 2) + rng.poisson(np.where(cd28, 1.5, 3.0)), 0, 30), -1)
    icans_onset = np.where(icans > 0, np.clip(3 + rng.poisson(3.5, n), 0, 30), -1)
    cyto_d30 = np.where(rng.random(n) < 0.34, np.where(rng.random(n) < 0.6, 3, 4), rng.integers(0, 3, n))
    cyto_d100 = np.where(
        (cyto_d30 >= 3) & (rng.random(n) < 0.26), np.where(rng.random(n) < 0.7, 3, 4), rng.integers(0, 3, n)
    )
    nrm = rng.random(n) < (0.022 + 0.05 * severe_any)
    progression = ~nrm & (rng.random(n) < 0.09)
    return {
        "crs": crs,
        "icans": icans,
        "crs_onset": crs_onset,
        "icans_onset": icans_onset,
        "itu": itu_admitted,
        "severe_any": severe_any,
        "cyto_d30": cyto_d30,
        "cyto_d100": cyto_d100,
        "nrm": nrm,
        "progression": progression,
    }


def _followup(
    rng: np.random.Generator, days: np.ndarray, centre: np.ndarray, as_of: dt.date, tox: dict[str, np.ndarray]
) -> pl.DataFrame:
    """Day-30 and day-100 rows as they would have arrived by the extract date (late, and for one centre, badly)."""
    n = len(days)
    since = _day(as_of) - days
    lagging = centre == LAGGING_CENTRE
    lag30 = rng.exponential(np.where(lagging, 120.0, 18.0), n)
    never = rng.random(n) < np.where(lagging, 0.22, 0.008)
    d30 = (since >= 30 + lag30) & ~never
    lag100 = rng.exponential(np.where(lagging, 200.0, 35.0), n)
    d100 = d30 & (since >= 100 + lag100)
    has_row = d30 | ((since >= 30) & ~never & (rng.random(n) < 0.4))

    crs, icans, itu = tox["crs"], tox["icans"], tox["itu"]
    itu_reason = np.where(
        (crs >= 3) & (crs >= icans),
        "CRS",
        np.where(icans >= 3, "ICANS", np.where(rng.random(n) < 0.6, "infection", "other")),
    )
    itu_day = np.where(
        itu_reason == "CRS",
        tox["crs_onset"],
        np.where(itu_reason == "ICANS", tox["icans_onset"], rng.integers(3, 26, n)),
    ) + rng.integers(0, 3, n)
    itu_stay = 1 + rng.poisson(np.where(tox["severe_any"], 5.0, 2.5))
    toci = np.where(crs >= 2, rng.random(n) < 0.9, (crs == 1) & (rng.random(n) < 0.15))
    toci_doses = np.where(toci, 1 + rng.poisson(0.8, n).clip(0, 3), 0)
    steroids = np.where(icans >= 2, rng.random(n) < 0.9, np.where(crs >= 3, rng.random(n) < 0.7, rng.random(n) < 0.05))
    cyto_onset = np.where(tox["cyto_d30"] >= 3, rng.poisson(5, n).clip(0, 20), -1)
    unresolved = tox["cyto_d100"] >= 3
    resolved_day = np.where(
        (cyto_onset >= 0) & ~unresolved, cyto_onset + 7 + rng.gamma(2.0, 12.0, n).astype(np.int64), -1
    )
    resolved_day = np.where(resolved_day > 99, 99, resolved_day)
    lost = rng.random(n) < 0.015
    died = (tox["nrm"] | tox["progression"]) & ~lost
    status = np.where(lost, "lost_to_follow_up", np.where(died, "died", "alive"))
    death_day = np.where(tox["nrm"], rng.integers(5, 101, n), rng.integers(20, 101, n))
    nrm_cause = _pick(rng, n, ["infection", "CRS", "ICANS", "other"], [0.55, 0.1, 0.1, 0.25])
    death_cause = np.where(tox["progression"], "progression", nrm_cause)

    def when(mask: np.ndarray, values: np.ndarray, dtype: pl.DataType | type[pl.DataType] | None = None) -> pl.Series:
        series = pl.Series(values, dtype=dtype)
        return pl.select(pl.when(pl.Series(mask)).then(series)).to_series()

    return pl.DataFrame(
        {
            "_has_row": has_row,
            "d30_complete": d30,
            "crs_max_grade": when(d30, crs, pl.Int64),
            "crs_onset_day": when(d30 & (crs > 0), tox["crs_onset"], pl.Int64),
            "icans_max_grade": when(d30, icans, pl.Int64),
            "icans_onset_day": when(d30 & (icans > 0), tox["icans_onset"], pl.Int64),
            "tocilizumab_doses": when(d30, toci_doses, pl.Int64),
            "corticosteroids": when(d30, steroids),
            "itu_admitted": when(d30, itu),
            "itu_day": when(d30 & itu, itu_day, pl.Int64),
            "itu_reason": when(d30 & itu, itu_reason),
            "itu_length_of_stay_days": when(d30 & itu, itu_stay, pl.Int64),
            "cytopenia_grade_d30": when(d30, tox["cyto_d30"], pl.Int64),
            "d100_complete": d100,
            "cytopenia_grade_d100": when(d100, tox["cyto_d100"], pl.Int64),
            "cytopenia_onset_day": when(d30 & (cyto_onset >= 0), cyto_onset, pl.Int64),
            "cytopenia_resolved_day": when(
                d30 & (resolved_day >= 0) & (d100 | (resolved_day <= 30)), resolved_day, pl.Int64
            ),
            "status_d100": when(d100, status),
            "death_day": when(d100 & (status == "died"), death_day, pl.Int64),
            "death_cause": when(d100 & (status == "died"), death_cause),
        }
    )


def _infusion_rows(
    rng: np.random.Generator,
    n: int,
    days: np.ndarray,
    product: np.ndarray,
    ta_code: np.ndarray,
    ages: np.ndarray,
    centre: np.ndarray,
    rural: np.ndarray,
    tox: dict[str, np.ndarray],
) -> dict[str, np.ndarray | pl.Series]:
    ambulatory_share = np.where(np.isin(product, ["liso-cel", "obe-cel", "tisa-cel"]), 0.18, 0.05)
    ambulatory = (rng.random(n) < ambulatory_share) & (days >= _day("2022-01-01"))
    admitted_later = tox["crs"] >= 2
    discharge = np.where(
        ambulatory,
        np.where(admitted_later, 5 + rng.poisson(4, n), rng.integers(0, 2, n)),
        10 + rng.poisson(np.where(tox["severe_any"], 9.0, 4.0)),
    )
    travel = np.round(rng.lognormal(np.log(np.where(rural, 95.0, 50.0)), 0.55)).astype(np.int64)
    short_stay = rng.random(n) < np.where(rural, 0.17, 0.06)
    nearby = np.where(short_stay, rng.integers(0, 14, n), rng.integers(14, 29, n))
    nearby_known = rng.random(n) > 0.02
    travel_reason = _pick(
        rng, n, ["accommodation_declined", "patient_choice", "clinical_decision", "other"], [0.4, 0.3, 0.2, 0.1]
    )
    carer_known = rng.random(n) > 0.015
    carer = rng.random(n) > 0.035
    carer_reason = _pick(
        rng,
        n,
        ["extended_inpatient_stay", "alternative_carer_arranged", "patient_declined", "other"],
        [0.35, 0.35, 0.15, 0.15],
    )
    imd = rng.integers(1, 6, n)

    def when(mask: np.ndarray, values: np.ndarray, dtype: pl.DataType | type[pl.DataType] | None = None) -> pl.Series:
        return pl.select(pl.when(pl.Series(mask)).then(pl.Series(values, dtype=dtype))).to_series()

    return {
        "centre_code": centre,
        "product_code": product,
        "ta_code": ta_code,
        "infusion_date": _dates(days),
        "age_at_infusion": ages,
        "sex": _pick(rng, n, ["male", "female", "other", "not_stated"], [0.6, 0.39, 0.002, 0.008]),
        "ethnic_group": _pick(
            rng, n, ["White", "Asian", "Black", "Mixed", "Other", "Not stated"], [0.8, 0.09, 0.04, 0.02, 0.02, 0.03]
        ),
        "imd_quintile": when(rng.random(n) > 0.03, imd, pl.Int64),
        "care_setting": np.where(ambulatory, "ambulatory", "inpatient"),
        "discharge_day": discharge.astype(np.int64),
        "home_travel_minutes": when(rng.random(n) > 0.02, travel, pl.Int64),
        "nearby_stay_days": when(nearby_known, nearby, pl.Int64),
        "travel_exception_reason": when(nearby_known & short_stay, travel_reason),
        "carer_24h_available": when(carer_known, carer),
        "carer_exception_reason": when(carer_known & ~carer, carer_reason),
    }


def _referrals_not_infused(rng: np.random.Generator, infused: int, as_of: dt.date) -> pl.DataFrame:
    """Referrals declined, deferred, pending, or approved but never infused (about 100 -> 94 -> 70)."""
    n = int(round(infused * 0.44))
    days = np.minimum(_infusion_days(rng, n, as_of) - rng.integers(0, 40, n), _day(as_of))
    stream_idx = _streams_for(rng, days)
    ages = _ages(rng, stream_idx)
    disease = np.array([s.disease for s in STREAMS])[stream_idx]
    panel = np.where(disease == "B-ALL", np.where(ages < 16, "paediatric", "ALL"), "lymphoma")
    review = days + np.minimum(np.round(rng.gamma(2.2, 3.2, n)), 45).astype(np.int64) + 1
    decision = _pick(rng, n, ["approved", "declined", "deferred"], [0.76, 0.2, 0.04])
    pending = review > _day(as_of)
    decision = np.where(pending, "pending", decision)
    centre = np.array([c[0] for c in CENTRES])[_centres_for(rng, np.maximum(days, _day("2023-01-01")), ages)]
    return pl.DataFrame(
        {
            "referral_id": _ids("RF", n, offset=infused),
            "patient_id": _patient_ids(rng, n),
            "panel": panel,
            "ta_code": np.array([s.ta_code for s in STREAMS])[stream_idx],
            "age_at_referral": ages,
            "referral_date": _dates(days),
            "review_date": pl.select(pl.when(pl.Series(~pending)).then(_dates(review))).to_series(),
            "decision": decision,
            "allocated_centre": pl.select(
                pl.when(pl.Series(decision == "approved")).then(pl.Series(centre))
            ).to_series(),
        }
    )


def write_submission(
    frames: dict[str, pl.DataFrame], out: Path, fmt: str = "csv", **fields: str | bool | int | float
) -> list[Path]:
    """Write one file per table, plus a manifest with the extract date and the synthetic flag."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for table, frame in frames.items():
        path = out / f"{table}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path, statistics=False)
        else:
            frame.write_csv(path)
        written.append(path)
    manifest.write(out, "Written by `cartgov generate`: synthetic data, invented centres.", **fields)
    return written


def generate(
    out: Path,
    episodes: int,
    seed: int,
    as_of: dt.date = DEFAULT_AS_OF,
    fmt: str = "csv",
    double_toxicity: str | None = None,
) -> list[Path]:
    if double_toxicity and double_toxicity not in {c[0] for c in CENTRES}:
        raise ValueError(f"--double-toxicity {double_toxicity}: not a centre of the synthetic data")
    frames = generate_frames(episodes, seed, as_of, double_toxicity)
    worse = {"double_toxicity": double_toxicity} if double_toxicity else {}
    return write_submission(
        frames, out, fmt, extract_date=as_of.isoformat(), synthetic=True, seed=seed, episodes=episodes, **worse
    )


# Each broken row of the demonstration submission: (table, 1-based data row, column, value).
BAD_ROWS = [
    ("centres", 24, "nhs_region", "Wales"),  # not an NHS England region
    ("infusions", 1, "age_at_infusion", "140"),  # out of range
    ("infusions", 2, "centre_code", "ZZZ99"),  # unknown centre
    ("infusions", 3, "infusion_date", "14/03/2025"),  # not ISO 8601
    ("infusions", 4, "product_code", "Axi-cel"),  # wrong case
    ("infusions", 5, "nearby_stay_days", "6"),  # a short stay without its exception reason
    ("infusions", 6, "sex", "M"),  # not in the code list
    ("infusions", 7, "infusion_date", "2027-01-05"),  # after the extract date
    ("followup", 8, "crs_onset_day", ""),  # graded CRS without its onset day (crs_max_grade set to 3)
    ("followup", 9, "crs_max_grade", "5"),  # ASTCT grades stop at 4
    ("followup", 10, "itu_reason", ""),  # admitted to ITU without a reason (itu_admitted set to true)
    ("followup", 11, "episode_id", "EPX9999999"),  # its infusion never arrived
]
# Cells set so that a broken row breaks only the rule it demonstrates.
_SETUP = [
    ("followup", 8, "crs_max_grade", "3"),
    ("followup", 10, "itu_admitted", "true"),
    ("followup", 10, "itu_day", "4"),
    ("followup", 10, "itu_length_of_stay_days", "3"),
]


def write_bad_submission(out: Path, as_of: dt.date = DEFAULT_AS_OF) -> None:
    """A small submission with the broken rows of BAD_ROWS among good ones, for demonstrating validation."""
    frames = generate_frames(16, seed=7, as_of=as_of)
    text = {t: f.select(pl.all().cast(pl.Utf8)) for t, f in frames.items()}
    # New ids, so the demonstration never overwrites the sample's own episodes.
    new_ids = {"referral_id": ("RF", "RFX"), "episode_id": ("EP", "EPX")}
    for table in ("referrals", "infusions", "followup"):
        text[table] = text[table].with_columns(
            pl.col(c).str.replace(f"^{old}", new) for c, (old, new) in new_ids.items() if c in text[table].columns
        )
    text["followup"] = text["followup"].filter(pl.col("d30_complete") == "true")
    text["referrals"] = text["referrals"].filter(
        pl.col("referral_id").is_in(text["infusions"]["referral_id"].implode())
    )
    welsh = (
        text["centres"]
        .tail(1)
        .with_columns(pl.lit("WAL01").alias("centre_code"), pl.lit("Cambrian Valleys Hospital").alias("centre_name"))
    )
    text["centres"] = pl.concat([text["centres"], welsh])
    for table, row, column, value in _SETUP + BAD_ROWS:
        text[table] = text[table].with_columns(
            pl.when(pl.int_range(pl.len()) == row - 1)
            .then(pl.lit(value or None))
            .otherwise(pl.col(column))
            .alias(column)
        )
    out.mkdir(parents=True, exist_ok=True)
    for table in ("centres", "referrals", "infusions", "followup"):
        text[table].write_csv(out / f"{table}.csv")
    lines = [
        "# A broken submission, for demonstrating validation",
        "",
        "Made by `make sample` (`dashboard/synthetic.py`, `BAD_ROWS`). The broken rows (row 1 is the first "
        "data row); every other row is valid:",
        "",
    ]
    lines += [f"- `{t}.csv` row {r}: `{c}` = `{v or '(empty)'}`" for t, r, c, v in BAD_ROWS]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    manifest.write(out, extract_date=as_of.isoformat(), synthetic=True)


SAMPLE_EPISODES, SAMPLE_SEED = 3000, 2026


def write_sample(out: Path) -> None:
    """The bundled sample: about 3,000 infusions to 2026-09-30, and the broken submission beside it."""
    generate(out, SAMPLE_EPISODES, SAMPLE_SEED, DEFAULT_AS_OF)
    write_bad_submission(out / "bad_submission")
