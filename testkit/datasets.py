"""Datasets from the synthetic generator, typed as the contracts declare and held in memory (no store), for the
tests and the benchmarks."""

from __future__ import annotations

import polars as pl

from dashboard import synthetic
from dashboard.loaders import Dataset
from data_contracts import polars_schema


def generated(episodes: int, seed: int, double_toxicity: str | None = None) -> Dataset:
    """A registry of `episodes` infusions (with `double_toxicity`, that centre's toxicity doubled in its last
    quarter), as a load from the store would type it."""

    def typed(table: str, frame: pl.DataFrame) -> pl.DataFrame:
        schema = {c: t for c, t in polars_schema(table).items() if c in frame.columns}
        return frame.with_columns(
            pl.col(c).str.to_date() if t == pl.Date and frame[c].dtype == pl.String else pl.col(c).cast(t)
            for c, t in schema.items()
        )

    frames = synthetic.generate_frames(episodes, seed, double_toxicity=double_toxicity)
    typed_frames = {table: typed(table, frame) for table, frame in frames.items()}
    return Dataset(1, synthetic.DEFAULT_AS_OF, True, typed_frames, quarantine=pl.DataFrame(), batches=pl.DataFrame())
