"""Data contracts of the CAR-T governance submission: Pandera models, code lists and the bundled reference tables."""

from importlib import resources
from pathlib import Path

from data_contracts.tables import CONTRACTS, PRIMARY_KEYS, REFERENCE_TABLES, polars_schema, small_integers

BUNDLED_REFERENCE = ("products", "nice_ta")  # national lists (docs/design.md, Domain facts); centres are per deployment


def reference_path(table: str) -> Path:
    """The bundled CSV of a national reference table (products, NICE TAs)."""
    return Path(str(resources.files("data_contracts") / "reference" / f"{table}.csv"))


__all__ = [
    "BUNDLED_REFERENCE",
    "CONTRACTS",
    "PRIMARY_KEYS",
    "REFERENCE_TABLES",
    "polars_schema",
    "reference_path",
    "small_integers",
]
