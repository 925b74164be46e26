"""Who sees what (DESIGN.md section 8): roles, the access file, peer pseudonyms and small-number suppression.

Pure (no Streamlit). The policy is applied where data leaves for a page or an export, never in pages.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

ROLES = ("national", "centre", "observer")
AUTH_MODES = ("oidc", "header", "demo")
OWN_CENTRE = "Your centre"
SUPPRESSED = "*"
DEFAULT_SECRET = "synthetic-sample-only"  # demo mode on the sample; a real deployment sets CARTGOV_PSEUDONYM_SECRET


class AccessConfigError(Exception):
    """The access file is missing or unreadable: everyone is denied."""


@dataclass(frozen=True)
class Viewer:
    identity: str
    role: str
    centre: str | None = None  # the centre a centre lead is bound to

    def __post_init__(self):
        if self.role not in ROLES:
            raise AccessConfigError(f"{self.identity}: unknown role {self.role!r} (use one of {', '.join(ROLES)})")
        if (self.role == "centre") != bool(self.centre):
            raise AccessConfigError(f"{self.identity}: a centre lead needs exactly one centre, other roles none")


def settings() -> dict:
    """Configuration from the environment (DESIGN.md section 8)."""
    return {
        "mode": os.environ.get("CARTGOV_AUTH_MODE", "demo"),
        "header": os.environ.get("CARTGOV_AUTH_HEADER", "X-Forwarded-Email"),
        "access_file": Path(os.environ.get("CARTGOV_ACCESS_FILE", "access.toml")),
        "secret": os.environ.get("CARTGOV_PSEUDONYM_SECRET"),
    }


def load_access_file(path: Path) -> dict[str, Viewer]:
    """identity -> Viewer from the TOML access file; a missing or broken file denies everyone (raises)."""
    try:
        entries = tomllib.loads(path.read_text())["users"]
    except FileNotFoundError:
        raise AccessConfigError(f"access file {path} not found: nobody is let in") from None
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as error:
        problem = error.__class__.__name__
        raise AccessConfigError(f"access file {path} unreadable ({problem}): nobody is let in") from None
    return {identity.strip().lower(): Viewer(identity.strip().lower(), entry.get("role"), entry.get("centre"))
            for identity, entry in entries.items()}


def viewer_for(identity: str | None, access: dict[str, Viewer]) -> Viewer | None:
    """The viewer an identity maps to, or None (denied)."""
    if not identity:
        return None
    return access.get(identity.strip().lower())


def peer_pseudonyms(centres: list[str], secret: str, own: str) -> dict[str, str]:
    """Peers as `Peer A`, `Peer B`... in the order of a keyed hash of their codes (HMAC-SHA256 with the secret).

    Stable for a secret and a set of centres; unrelated to alphabetical order or volume; unrecoverable without the
    secret. The lead's own centre is `Your centre`.
    """
    peers = sorted((c for c in centres if c != own),
                   key=lambda c: hmac.new(secret.encode(), c.encode(), hashlib.sha256).hexdigest())
    return {own: OWN_CENTRE, **{code: f"Peer {_letters(i)}" for i, code in enumerate(peers)}}


def _letters(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]


def _rounded(column: pl.Expr) -> pl.Expr:
    """The count a reader sees, as a number: null where suppressed (so rates from it are suppressed too)."""
    return pl.when(column == 0).then(0).when(column < 8).then(None).otherwise((column / 5).round(0) * 5).cast(pl.Int64)


@dataclass(frozen=True)
class Policy:
    """One viewer's view of the data; every table on its way to a page or an export passes through here."""

    viewer: Viewer
    centres: tuple[str, ...]  # every centre code in the store
    secret: str
    suppress: bool = field(default=False)  # small-number suppression (observers, and every shared export)

    @classmethod
    def for_viewer(cls, viewer: Viewer, centres: list[str], secret: str, shared_export: bool = False) -> Policy:
        return cls(viewer, tuple(sorted(centres)), secret, viewer.role == "observer" or shared_export)

    @property
    def labels(self) -> dict[str, str]:
        """Centre code -> what this viewer may call it."""
        if self.viewer.role == "centre":
            return peer_pseudonyms(list(self.centres), self.secret, self.viewer.centre)
        return {code: code for code in self.centres}

    def code_for(self, label: str) -> str | None:
        """The centre behind a label this viewer may use (a URL value); None for anything else."""
        return {v: k for k, v in self.labels.items()}.get(label)

    @property
    def sees_patient_rows(self) -> bool:
        return self.viewer.role != "observer"

    def relabel(self, frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        """Centre codes in these columns replaced by the viewer's labels; centre names hidden from a lead."""
        labels = self.labels
        # A code the policy does not know (a centre newer than the policy) is hidden from a lead, never shown as is.
        lead = self.viewer.role == "centre"
        frame = frame.with_columns(
            pl.col(c).replace_strict(labels, default=None if lead else pl.col(c), return_dtype=pl.Utf8).alias(c)
            for c in columns if c in frame.columns)
        if self.viewer.role == "centre" and columns:
            if "centre_name" in frame.columns:
                # A new column holding the lead's own name only. Nulling the old one (when/otherwise) would keep
                # every peer's name in the Arrow buffers behind the nulls, which Streamlit sends to the browser.
                own = frame.filter(pl.col(columns[0]) == OWN_CENTRE)["centre_name"].drop_nulls().unique().to_list()
                frame = frame.with_columns(
                    pl.when(pl.col(columns[0]) == OWN_CENTRE).then(pl.lit(own[0] if own else None, pl.Utf8))
                    .otherwise(None).alias("centre_name"))
            # Rows in the order of the real codes would pair each pseudonym with a code: order by label instead.
            present = [c for c in columns if c in frame.columns]
            frame = frame.sort(present, maintain_order=True) if present else frame
        return frame

    def counts(self, frame: pl.DataFrame, counts: tuple[str, ...] = ("numerator", "denominator"),
               rate: str | None = "rate", national: bool = False) -> pl.DataFrame:
        """Small-number suppression: counts rounded to 5, 1-7 blanked (null), the rate recomputed from the rounded
        counts. National totals, intervals and limits are left exact."""
        if not self.suppress or national:
            return frame
        present = [c for c in counts if c in frame.columns]
        frame = frame.with_columns(_rounded(pl.col(c)).alias(c) for c in present)
        if rate and rate in frame.columns and len(present) == 2:
            numerator, denominator = present
            frame = frame.with_columns(
                pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator)).alias(rate))
        return frame

    def as_text(self, frame: pl.DataFrame, counts: tuple[str, ...]) -> pl.DataFrame:
        """For a table or an export: suppressed counts (null after `counts`) shown as *."""
        if not self.suppress:
            return frame
        return frame.with_columns(pl.col(c).cast(pl.Utf8).fill_null(SUPPRESSED).alias(c)
                                  for c in counts if c in frame.columns)

    def patient_rows(self, frame: pl.DataFrame, centre_column: str = "centre_code") -> pl.DataFrame:
        """Patient-level rows: all for national, the lead's own centre only, none for an observer."""
        if self.viewer.role == "national":
            return frame
        if self.viewer.role == "observer":
            return frame.clear()
        return self.relabel(frame.filter(pl.col(centre_column) == self.viewer.centre), centre_column)

    def signals(self, found: pl.DataFrame, centre_filtered: bool) -> list[dict]:
        """Signals as this viewer may see them: centres by their labels, and no count or crude rate of a single
        centre for a suppressed view (a standardised ratio needs no suppression)."""
        labels = self.labels
        shown = []
        for row in found.iter_rows(named=True):
            query = dict(row["query"])
            if "centre" in query:
                query["centre"] = [labels.get(code, code) for code in query["centre"]]
            centre = labels.get(row["centre"], row["centre"]) if row["centre"] else None
            value = row["value"]
            withheld = self.suppress and (centre or centre_filtered)
            if withheld and value and not value.startswith("observed/expected"):
                value = None
            detail = f"{centre}: {row['detail']}" if centre else row["detail"]
            if row["kind"] == "outside_ta":
                count = row["numerator"]
                shown_count = pl.select(_rounded(pl.lit(count))).item() if self.suppress else count
                detail = f"{shown_count if shown_count is not None else SUPPRESSED} {detail}"
            elif value:
                counts = "" if withheld else f", {row['numerator']} of {row['denominator']}"
                detail += f" ({value}{counts})"
            shown.append({**row, "centre": centre, "query": query, "detail": detail})
        return shown
