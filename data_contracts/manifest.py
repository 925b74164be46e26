"""The manifest.toml beside a submission's files: its extract date and whether the data is synthetic."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

MANIFEST = "manifest.toml"


class ManifestError(ValueError):
    """A manifest that cannot be read, or whose extract date is not an ISO date."""


def read(folder: Path) -> dict:
    """A folder's manifest (empty when there is none), its extract date a date; one that cannot be read is an error."""
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = tomllib.loads(path.read_text(encoding="utf-8"))
        if "extract_date" in manifest:
            manifest["extract_date"] = dt.date.fromisoformat(str(manifest["extract_date"]))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as error:
        raise ManifestError(
            f'{path}: {str(error).splitlines()[0]}; extract_date must be an ISO date, e.g. extract_date = "2026-09-30"'
        ) from None
    return manifest


def write(folder: Path, comment: str | None = None, **fields: str | bool | int | float) -> Path:
    """Write a folder's manifest: an optional comment line, then one `key = value` line per field."""
    lines = [f"# {comment}"] if comment else []
    lines += [f"{key} = {_toml(value)}" for key, value in fields.items()]
    path = folder / MANIFEST
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: str | bool | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return f'"{value}"'
