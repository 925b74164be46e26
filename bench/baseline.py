"""The conventional Streamlit approach, for comparison: every page run reads the tables through SQLAlchemy into pandas
and computes the page's numbers in pandas. Written plainly, as a team would without a columnar cache.

Each function is one page run of the baseline app, computing what the real page shows (the same metrics).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy import stats as sps

Z = 1.959963984540054


def read(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    """What a page run of the conventional app starts with: the tables, read row by row."""
    with engine.connect() as connection:
        return {
            table: pd.read_sql(sa.text(f"SELECT * FROM {table}"), connection)
            for table in ("centres", "nice_ta", "referrals", "infusions", "followup")
        }


def _episodes(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    episodes = tables["infusions"].merge(tables["followup"], on="episode_id", how="left")
    episodes["infusion_date"] = pd.to_datetime(episodes["infusion_date"])
    episodes["d30_complete"] = episodes["d30_complete"].fillna(False).astype(bool)
    episodes["d100_complete"] = episodes["d100_complete"].fillna(False).astype(bool)
    return episodes


def _funnel(episodes: pd.DataFrame, numerator: pd.Series, denominator: pd.Series) -> pd.DataFrame:
    """Rate per centre with Wilson interval and exact binomial limits (as a careful analyst would write it)."""
    frame = pd.DataFrame(
        {"centre": episodes["centre_code"], "n": denominator.astype(int), "x": (numerator & denominator).astype(int)}
    )
    table = frame.groupby("centre").agg(numerator=("x", "sum"), denominator=("n", "sum")).reset_index()
    target = table["numerator"].sum() / max(table["denominator"].sum(), 1)
    n, p = table["denominator"].to_numpy(float), table["numerator"] / table["denominator"].replace(0, np.nan)
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * np.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    table["rate"], table["ci_low"], table["ci_high"] = p, centre - half, centre + half
    for level, name in ((0.975, "95"), (0.999, "998")):
        table[f"limit_{name}_high"] = sps.binom.ppf(level, n, target) / n
        table[f"limit_{name}_low"] = sps.binom.ppf(1 - level, n, target) / n
    return table


def overview(tables) -> object:
    episodes = _episodes(tables)
    d30 = episodes["d30_complete"]
    heads = {m: (episodes.loc[d30, c] >= 3).mean() for m, c in (("crs", "crs_max_grade"), ("icans", "icans_max_grade"))}
    volume = episodes.groupby([episodes["infusion_date"].dt.to_period("Q"), "product_code"]).size()
    signals = [_funnel(episodes, episodes[c] >= 3, d30) for c in ("crs_max_grade", "icans_max_grade")]
    return heads, volume, signals


def toxicity(tables) -> object:
    episodes = _episodes(tables)
    funnel = _funnel(episodes, episodes["icans_max_grade"] >= 3, episodes["d30_complete"])
    quarterly = (
        episodes[episodes["d30_complete"]]
        .groupby(episodes["infusion_date"].dt.to_period("Q"))["icans_max_grade"]
        .apply(lambda g: (g >= 3).mean())
    )
    return funnel, quarterly


def itu(tables) -> object:
    episodes = _episodes(tables)
    funnel = _funnel(episodes, episodes["itu_admitted"].fillna(False).astype(bool), episodes["d30_complete"])
    admitted = episodes[episodes["itu_admitted"].fillna(False).astype(bool)]
    reasons = admitted.groupby(["centre_code", "itu_reason"]).size()
    return funnel, reasons


def nice_ta(tables) -> object:
    episodes = _episodes(tables).merge(
        tables["nice_ta"][["ta_code", "product_code", "min_age", "max_age"]], on="ta_code", suffixes=("", "_ta")
    )
    outside = (
        (episodes["product_code"] != episodes["product_code_ta"])
        | (episodes["age_at_infusion"] < episodes["min_age"].fillna(-1))
        | (episodes["age_at_infusion"] > episodes["max_age"].fillna(999))
    )
    by_ta = episodes.groupby([episodes["infusion_date"].dt.to_period("Q"), "ta_code"]).size()
    matrix = episodes.pivot_table(index="centre_code", columns="ta_code", values="episode_id", aggfunc="count")
    referrals = tables["referrals"]
    days = (pd.to_datetime(referrals["review_date"]) - pd.to_datetime(referrals["referral_date"])).dt.days
    cart12 = days.groupby(referrals["panel"]).describe(percentiles=[0.5, 0.9])
    return outside.sum(), by_ta, matrix, cart12


def exceptions(tables) -> object:
    episodes = _episodes(tables)
    travel = _funnel(episodes, episodes["nearby_stay_days"] < 14, episodes["nearby_stay_days"].notna())
    carer = _funnel(episodes, episodes["carer_24h_available"] == False, episodes["carer_24h_available"].notna())  # noqa: E712
    return travel, carer


def products(tables) -> object:
    episodes = _episodes(tables)
    d30 = episodes[episodes["d30_complete"]]
    return {c: (d30[c] >= 3).groupby(d30["product_code"]).mean() for c in ("crs_max_grade", "icans_max_grade")}


def centres(tables) -> object:
    episodes = _episodes(tables)
    mine = episodes[episodes["centre_code"] == "MID02"]
    return {
        c: ((mine.loc[mine["d30_complete"], c] >= 3).mean(), (episodes.loc[episodes["d30_complete"], c] >= 3).mean())
        for c in ("crs_max_grade", "icans_max_grade")
    }


def data_quality(tables) -> object:
    episodes = _episodes(tables)
    due = episodes["infusion_date"] <= episodes["infusion_date"].max() - pd.Timedelta(days=30)
    return _funnel(episodes, episodes["d30_complete"], due)


PAGES = {
    "overview": overview,
    "toxicity": toxicity,
    "itu": itu,
    "nice_ta": nice_ta,
    "exceptions": exceptions,
    "products": products,
    "centres": centres,
    "data_quality": data_quality,
}


def page_run(engine: sa.Engine, page: str) -> object:
    """One run of a baseline page: read everything, compute its numbers."""
    return PAGES[page](read(engine))
