"""Statistics for governance: each method a small function, named and cited (no Streamlit)."""

from __future__ import annotations

import polars as pl

Z95 = 1.959963984540054


def wilson_interval(numerator: pl.Expr, denominator: pl.Expr, z: float = Z95) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval for a proportion (Wilson 1927; Newcombe 1998, method 3). Null when nothing is counted."""
    n = denominator.cast(pl.Float64)
    p = numerator.cast(pl.Float64) / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * ((p * (1 - p) / n + z**2 / (4 * n**2)).sqrt()) / (1 + z**2 / n)
    valid = denominator > 0
    return (
        pl.when(valid).then((centre - half).clip(0, 1)),
        pl.when(valid).then((centre + half).clip(0, 1)),
    )


def with_rate(frame: pl.DataFrame, numerator: str = "numerator", denominator: str = "denominator") -> pl.DataFrame:
    """Add rate, ci_low and ci_high (Wilson 95%) to a frame of counts."""
    low, high = wilson_interval(pl.col(numerator), pl.col(denominator))
    return frame.with_columns(
        pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator)).alias("rate"),
        low.alias("ci_low"),
        high.alias("ci_high"),
    )
