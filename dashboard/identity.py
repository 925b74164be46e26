"""Who a request or a command comes from: the trusted header, the OIDC claims, the operating-system account.

Pure (no Streamlit), so that each rule is tested on its own. A function returns (identity, None) or (None, why the
person is refused); the caller shows the reason on the access-denied page.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping


def from_header(name: str, values: list[str]) -> tuple[str | None, str | None]:
    """The identity in the trusted header: exactly one value, or nobody.

    A proxy that appends its header to one the client sent (instead of replacing it) delivers two values, and the
    client's comes first: taking the first would let the client choose who it is. Two values folded into one line
    (RFC 9110 allows it) are two values too; no e-mail address or account name holds a comma.
    """
    found = [part.strip() for value in values for part in value.split(",")]
    if not values or found == [""]:
        return None, "You are not signed in."
    if len(found) > 1 or not found[0]:
        return None, (
            f"The sign-in header {name} arrived with {len(found)} values; exactly one is accepted. "
            "Ask the administrator to make the proxy replace the header, never append to it."
        )
    return found[0], None


def from_claims(claims: Mapping[str, object]) -> tuple[str | None, str | None]:
    """The identity in an ID token from Microsoft Entra ID: `<tid>/<oid>` (tenant id / object id), lower case.

    The object id is assigned by the directory, never changes and is never reused, and nobody can set their own;
    with the tenant it names one account in one directory. `email` and `preferred_username` can be changed (by the
    person, an administrator, or another tenant's administrator for a guest), so Microsoft advises never to
    authorise on them: they are not used.
    """
    tenant, account = (str(claims.get(key) or "").strip().lower() for key in ("tid", "oid"))
    if not (tenant and account):
        return None, (
            "The identity provider did not send the oid and tid claims that identify an account; "
            "ask the administrator to check the sign-in configuration."
        )
    return f"{tenant}/{account}", None


def operating_system_user() -> str:
    """The account this process runs as, from the password database (never $USER or $LOGNAME, which anyone can set
    and which may be missing); its numeric id when the database has no entry for it (a container)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def command_line_user(claimed: str | None = None) -> str:
    """Who ran a command, for the audit log: `cli:<account>`, or `cli:<name> (os user <account>)` with --as NAME."""
    account = operating_system_user()
    if claimed and claimed.strip() and claimed.strip() != account:
        return f"cli:{claimed.strip()} (os user {account})"
    return f"cli:{account}"
