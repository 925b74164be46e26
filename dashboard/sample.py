"""The bundled synthetic sample, known by content (the sha256 of each of its files), for demo mode.

Pure (no Streamlit). A manifest's `synthetic = true` is a claim anyone can write into a submission; whether the store
holds exactly the files bundled in sample_data/ is a fact the store's own ingest record shows.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from dashboard.loaders import Dataset

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


@cache
def checksums(folder: Path = SAMPLE_DATA) -> frozenset[str]:
    """sha256 of every file `cartgov seed` ingests from the sample folder (its .csv and .parquet files, as ingest
    picks them); empty when the folder is not there (an installation without the sample: no demo mode)."""
    if not folder.is_dir():
        return frozenset()
    return frozenset(
        hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.iterdir()
        if path.suffix.lower() in (".csv", ".parquet")
    )


def holds_nothing(data: Dataset) -> bool:
    """No file was ever ingested and no table holds a row (a new store, before `cartgov seed`)."""
    return data.batches.height == 0 and all(frame.height == 0 for frame in data.frames.values())


def holds_only_the_sample(data: Dataset) -> bool:
    """Every file the store ever ingested (or refused) is a file of the bundled sample, and every sample file was
    ingested: one file more, less or changed and it is not the sample."""
    expected = checksums()
    return bool(expected) and set(data.batches["sha256"].to_list()) == expected


def demo_allowed(data: Dataset) -> bool:
    """Demo mode (a role picker, no sign-in) only on the bundled sample, or on a store that holds nothing yet."""
    return holds_nothing(data) or holds_only_the_sample(data)
