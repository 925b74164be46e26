"""Who sees what (docs/design.md, Who sees what): roles, the access file, peer pseudonyms, and each viewer's policy.

Pure (no Streamlit). The policy is built here, in one place, and applied by dashboard/gate, never in pages.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("national", "centre", "observer")
AUTH_MODES = ("oidc", "header", "demo")
OWN_CENTRE = "Your centre"
DEFAULT_SECRET = "synthetic-sample-only"  # demo mode on the sample; a real deployment sets CARTGOV_PSEUDONYM_SECRET


class AccessConfigError(Exception):
    """The access file is missing or unreadable: everyone is denied."""


@dataclass(frozen=True)
class Viewer:
    identity: str
    role: str
    centre: str | None = None  # the centre a centre lead is bound to

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccessConfigError(f"{self.identity}: unknown role {self.role!r} (use one of {', '.join(ROLES)})")
        if (self.role == "centre") != bool(self.centre):
            raise AccessConfigError(f"{self.identity}: a centre lead needs exactly one centre, other roles none")


def settings() -> dict:
    """Configuration from the environment (README, "Who sees what, and how a trust deploys it")."""
    return {
        "mode": os.environ.get("CARTGOV_AUTH_MODE", "demo"),
        "header": os.environ.get("CARTGOV_AUTH_HEADER", "X-Forwarded-Email"),
        "access_file": Path(os.environ.get("CARTGOV_ACCESS_FILE", "access.toml")),
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
    return {
        identity.strip().lower(): Viewer(identity.strip().lower(), entry.get("role"), entry.get("centre"))
        for identity, entry in entries.items()
    }


def viewer_for(identity: str | None, access: dict[str, Viewer]) -> Viewer | None:
    """The viewer an identity maps to, or None (denied)."""
    if not identity:
        return None
    return access.get(identity.strip().lower())


def peer_pseudonyms(centres: list[str], secret: str, own: str | None = None) -> dict[str, str]:
    """Peers as `Peer A`, `Peer B`... in the order of a keyed hash of their codes (HMAC-SHA256 with the secret).

    Stable for a secret and a set of centres; unrelated to alphabetical order or volume; unrecoverable without the
    secret. A lead's own centre is `Your centre`; an observer (own None) sees every centre as a peer, in the same
    keyed order, so a lead who matches figures with an observer's pairs pseudonyms with pseudonyms only.
    """
    peers = sorted(
        (c for c in centres if c != own),
        key=lambda c: hmac.new(secret.encode(), c.encode(), hashlib.sha256).hexdigest(),
    )
    mine = {own: OWN_CENTRE} if own else {}
    return {**mine, **{code: f"Peer {_letters(i)}" for i, code in enumerate(peers)}}


def _letters(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]


@dataclass(frozen=True)
class Policy:
    """One viewer's access: how centres are labelled, whether small numbers are suppressed, which rows are seen.
    Applied by dashboard/gate, where every figure leaves for a page or an export."""

    viewer: Viewer
    centres: tuple[str, ...]  # every centre code in the store
    secret: str
    suppress: bool = field(default=False)  # small-number suppression (observers, and every shared export)
    observer_names: bool = field(default=False)  # a deployment that names centres to observers

    @classmethod
    def for_viewer(
        cls, viewer: Viewer, centres: list[str], secret: str, shared_export: bool = False, observer_names: bool = False
    ) -> Policy:
        return cls(viewer, tuple(sorted(centres)), secret, viewer.role == "observer" or shared_export, observer_names)

    @property
    def pseudonymous(self) -> bool:
        """Peers under pseudonyms: for a lead always, for an observer unless the deployment names centres."""
        return self.viewer.role == "centre" or (self.viewer.role == "observer" and not self.observer_names)

    @property
    def labels(self) -> dict[str, str]:
        """Centre code -> what this viewer may call it."""
        if self.pseudonymous:
            return peer_pseudonyms(list(self.centres), self.secret, self.viewer.centre)
        return {code: code for code in self.centres}

    def code_for(self, label: str) -> str | None:
        """The centre behind a label this viewer may use (a URL value); None for anything else."""
        return {v: k for k, v in self.labels.items()}.get(label)

    @property
    def sees_patient_rows(self) -> bool:
        return self.viewer.role != "observer"


def observer_names() -> bool:
    """CARTGOV_OBSERVER_NAMES=true names centres to observers (the README says what that costs)."""
    return os.environ.get("CARTGOV_OBSERVER_NAMES", "").strip().lower() in ("1", "true", "yes")


def pseudonym_secret(synthetic_sample: bool) -> str | None:
    """The one rule for the pseudonym secret: CARTGOV_PSEUDONYM_SECRET, or on the bundled synthetic sample only, a
    published default (anyone could recompute pseudonyms made with it, which on invented centres costs nothing)."""
    return os.environ.get("CARTGOV_PSEUDONYM_SECRET") or (DEFAULT_SECRET if synthetic_sample else None)


def policy_for(viewer: Viewer, centres: list[str], synthetic_sample: bool, shared_export: bool = False) -> Policy:
    """The policy of a viewer, built in this one place for the app, the pack and the command line. Raises
    AccessConfigError when the viewer would need pseudonyms and no secret is set."""
    names = observer_names()
    secret = pseudonym_secret(synthetic_sample)
    chosen = Policy.for_viewer(viewer, centres, secret or "", shared_export, names)
    if chosen.pseudonymous and not secret:
        who = "centre leads" if viewer.role == "centre" else "observers"
        raise AccessConfigError(
            f"The dashboard is not configured for {who}: CARTGOV_PSEUDONYM_SECRET is not set, "
            "and peers cannot be named safely without it."
        )
    return chosen
