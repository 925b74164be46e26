"""The synthetic generator: deterministic for a seed, valid, and realistic (docs/design.md, Domain facts)."""

from __future__ import annotations

import datetime as dt
import filecmp
import hashlib

import polars as pl
import pytest

from dashboard import synthetic
from data_contracts import CONTRACTS
from data_contracts.submission import Parents, cast_to_contract, check_file, read_text
from tests.conftest import SAMPLE

AS_OF = dt.date(2026, 9, 30)


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    synthetic.generate(tmp_path / "a", 500, seed=3)
    synthetic.generate(tmp_path / "b", 500, seed=3)
    synthetic.generate(tmp_path / "c", 500, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["infusions.csv"] != _digest(tmp_path / "c")["infusions.csv"]


def test_the_bundled_sample_is_the_generators_output(tmp_path):
    synthetic.write_sample(tmp_path)
    comparison = filecmp.dircmp(SAMPLE, tmp_path)
    assert comparison.diff_files == [] and comparison.left_only == [] and comparison.right_only == []
    assert filecmp.dircmp(SAMPLE / "bad_submission", tmp_path / "bad_submission").diff_files == []


def test_parquet_output_reads_into_the_same_typed_rows_as_csv(tmp_path):
    synthetic.generate(tmp_path / "csv", 300, seed=5)
    synthetic.generate(tmp_path / "pq", 300, seed=5, fmt="parquet")
    for table in CONTRACTS:
        typed = [
            cast_to_contract(table, read_text(tmp_path / folder / f"{table}.{folder.replace('pq', 'parquet')}"))[0]
            for folder in ("csv", "pq")
        ]
        assert typed[0].height > 0 and typed[0].equals(typed[1]), table


@pytest.fixture(scope="module", params=[3000, 100_000], ids=["sample", "registry"])
def frames(request) -> dict[str, pl.DataFrame]:
    return synthetic.generate_frames(request.param, seed=2026, as_of=AS_OF)


def test_generated_submission_passes_every_contract(frames, tmp_path):
    synthetic.write_submission(frames, tmp_path)
    parents = Parents(AS_OF)
    for table in CONTRACTS:
        check = check_file(tmp_path / f"{table}.csv", parents)
        assert check.problems.height == 0, (table, check.problems.head())


def _outcomes(frames) -> pl.DataFrame:
    return frames["infusions"].join(frames["followup"], on="episode_id").filter("d30_complete")


def test_centres_are_23_in_all_seven_regions_with_paediatric_ones_and_skewed_volumes(frames):
    centres = frames["centres"]
    assert centres.height == 23
    assert centres["nhs_region"].n_unique() == 7
    assert centres.filter(pl.col("population") == "paediatric").height >= 2
    volumes = frames["infusions"]["centre_code"].value_counts()["count"].sort(descending=True)
    assert volumes.head(5).sum() / volumes.sum() > 0.4  # a few large centres treat most patients


# The ranges of docs/design.md, Domain facts (approx.), widened by a few points: literature ranges, not targets.
RATE_RANGES = {
    "axi-cel": {"crs_severe": (0.07, 0.10), "icans_severe": (0.18, 0.23), "itu": (0.25, 0.35)},
    "tisa-cel": {"crs_severe": (0.05, 0.08), "icans_severe": (0.03, 0.05), "itu": (0.10, 0.15)},
    "brexu-cel": {"crs_severe": (0.15, 0.25), "icans_severe": (0.25, 0.30), "itu": (0.25, 0.35)},
    "liso-cel": {"crs_severe": (0.01, 0.03), "icans_severe": (0.04, 0.10), "itu": (0.04, 0.10)},
    "obe-cel": {"crs_severe": (0.02, 0.04), "icans_severe": (0.05, 0.08), "itu": (0.05, 0.10)},
}


def test_toxicity_and_itu_rates_per_product_are_in_the_facts_ranges(frames):
    rates = (
        _outcomes(frames)
        .group_by("product_code")
        .agg(
            (pl.col("crs_max_grade") >= 3).mean().alias("crs_severe"),
            (pl.col("icans_max_grade") >= 3).mean().alias("icans_severe"),
            pl.col("itu_admitted").mean().alias("itu"),
            pl.len().alias("patients"),
        )
    )
    checked = 0
    for row in rates.iter_rows(named=True):
        # Sampling error: allow 2.5 standard errors beyond the range on the smaller products.
        for metric, (low, high) in RATE_RANGES[row["product_code"]].items():
            slack = 2.5 * ((high * (1 - high)) / row["patients"]) ** 0.5 + 0.01
            assert low - slack <= row[metric] <= high + slack, (row["product_code"], metric, row[metric])
            checked += 1
    assert checked == 15


def test_product_mix_changes_over_time_and_follows_the_tas(frames):
    infusions = frames["infusions"]
    share = dict(infusions["product_code"].value_counts(normalize=True).iter_rows())
    assert 0.50 <= share["axi-cel"] <= 0.63
    assert 0.15 <= share["tisa-cel"] <= 0.23
    assert 0.08 <= share["brexu-cel"] <= 0.14
    assert infusions.filter(pl.col("product_code") == "liso-cel")["infusion_date"].min() >= dt.date(2025, 3, 1)
    assert infusions.filter(pl.col("product_code") == "obe-cel")["infusion_date"].min() >= dt.date(2025, 11, 1)
    recent = infusions.filter(pl.col("infusion_date") >= dt.date(2025, 3, 1))
    assert 0.10 <= (recent["product_code"] == "liso-cel").mean() <= 0.20


def test_overall_outcome_rates_are_realistic(frames):
    outcomes = _outcomes(frames)
    assert 0.60 <= (outcomes["crs_max_grade"] >= 1).mean() <= 0.90
    assert 0.20 <= (outcomes["tocilizumab_doses"] > 0).mean() <= 0.45
    assert 0.30 <= (outcomes["cytopenia_grade_d30"] >= 3).mean() <= 0.38
    d100 = outcomes.filter("d100_complete")
    assert 0.07 <= (d100["cytopenia_grade_d100"] >= 3).mean() <= 0.12
    judged = d100.filter(pl.col("status_d100") != "lost_to_follow_up")
    nrm = ((judged["status_d100"] == "died") & (judged["death_cause"] != "progression")).mean()
    assert 0.02 <= nrm <= 0.05


def test_referral_funnel_is_about_100_94_70(frames):
    referrals = frames["referrals"]
    approved = (referrals["decision"] == "approved").sum() / referrals.height
    infused = frames["infusions"].height / referrals.height
    assert 0.90 <= approved <= 0.96
    assert 0.66 <= infused <= 0.74
    review_days = (
        referrals.filter(pl.col("review_date").is_not_null())
        .select((pl.col("review_date") - pl.col("referral_date")).dt.total_days())
        .to_series()
    )
    assert 3 <= review_days.median() <= 10


def test_exceptions_are_realistic_and_higher_for_rural_centres(frames):
    infusions = frames["infusions"]
    known = infusions.filter(pl.col("nearby_stay_days").is_not_null())
    travel = (known["nearby_stay_days"] < 14).mean()
    assert 0.05 <= travel <= 0.10
    rural = [c[0] for c in synthetic.CENTRES if c[6]]
    by_rurality = known.group_by(pl.col("centre_code").is_in(rural).alias("rural")).agg(
        (pl.col("nearby_stay_days") < 14).mean().alias("rate")
    )
    rates = dict(by_rurality.iter_rows())
    assert rates[True] > 2 * rates[False]
    carer = infusions.filter(pl.col("carer_24h_available").is_not_null())
    assert 0.01 <= (~carer["carer_24h_available"]).mean() <= 0.06


def test_the_built_in_outliers_are_there(frames):
    outcomes = _outcomes(frames)
    national = outcomes.group_by("product_code").agg((pl.col("icans_max_grade") >= 3).mean().alias("national"))
    mid02 = outcomes.filter(pl.col("centre_code") == synthetic.ICANS_OUTLIER).join(national, on="product_code")
    observed_over_expected = (mid02["icans_max_grade"] >= 3).sum() / mid02["national"].sum()
    assert observed_over_expected > 1.5

    infusions = frames["infusions"]
    due = infusions.filter(pl.col("infusion_date") <= AS_OF - dt.timedelta(days=30)).join(
        frames["followup"].select("episode_id", "d30_complete"), on="episode_id", how="left"
    )
    completeness = due.group_by("centre_code").agg(pl.col("d30_complete").fill_null(False).mean().alias("share"))
    lagging = completeness.filter(pl.col("centre_code") == synthetic.LAGGING_CENTRE)["share"][0]
    others = completeness.filter(pl.col("centre_code") != synthetic.LAGGING_CENTRE)["share"]
    assert lagging < 0.9 < others.min()

    recent = infusions.filter(pl.col("infusion_date") > AS_OF - dt.timedelta(days=100))
    assert recent.join(frames["followup"].filter("d100_complete"), on="episode_id").height == 0


def test_some_infusions_fall_outside_their_ta(frames):
    infusions = frames["infusions"]
    assert infusions.filter(pl.col("ta_code") == "TA894").height > 0
    assert infusions.filter(pl.col("ta_code").is_in(["TA975", "TA554"]) & (pl.col("age_at_infusion") == 26)).height > 0
    assert infusions.filter((pl.col("ta_code") == "TA559") & (pl.col("infusion_date") >= dt.date(2023, 2, 1))).height
