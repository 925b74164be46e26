"""Who is looking: sign-in by the configured identity mode, and this session's access policy and gate."""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from dashboard import access, sample
from dashboard import identity as identities
from dashboard.access import Policy, Viewer
from dashboard.gate import Gate
from dashboard.loaders import Dataset
from dashboard.ui import keys


def deny(reason: str) -> NoReturn:
    """The access-denied page: no data, no centre names."""
    st.title("Access denied")
    st.error(reason, icon=":material/lock:")
    st.caption("Ask the dashboard's administrator to add your account to the access list.")
    st.stop()


def sign_in(data: Dataset) -> Viewer:
    """The viewer of this session, from the configured identity mode; stops with access denied otherwise."""
    conf = access.settings()
    mode = conf["mode"]
    if mode == "demo":
        if not sample.demo_allowed(data):  # exactly the bundled sample (by content), or a store that holds nothing
            deny(
                "Demo mode shows only the bundled synthetic sample, and this store holds other data. "
                "Set CARTGOV_AUTH_MODE to oidc or header."
            )
        st.sidebar.subheader("Demo sign-in")
        role = st.sidebar.selectbox(
            "Role", access.ROLES, key=keys.DEMO_ROLE, help="Demo mode only: pick the role to see the dashboard through."
        )
        centre = None
        if role == "centre":
            centre = st.sidebar.selectbox("Your centre", sorted(data["centres"]["centre_code"]), key=keys.DEMO_CENTRE)
        return Viewer(f"demo-{role}", role, centre)
    try:
        people = access.load_access_file(conf["access_file"])
    except access.AccessConfigError as error:
        deny(str(error))
    if mode == "header":
        identity, refused = identities.from_header(conf["header"], st.context.headers.get_all(conf["header"]))
    elif mode == "oidc":
        if not st.user.is_logged_in:
            st.title("CAR-T governance")
            st.button("Sign in", on_click=st.login, icon=":material/login:")
            st.stop()
        identity, refused = identities.from_claims(st.user.to_dict())
        st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")
    else:
        deny(f"CARTGOV_AUTH_MODE={mode!r} is not one of {', '.join(access.AUTH_MODES)}.")
    if refused:
        deny(refused)
    viewer = access.viewer_for(identity, people)
    if viewer is None:
        deny("Your account is not on this dashboard's access list." if identity else "You are not signed in.")
    return viewer


def gate() -> Gate:
    """The gate of this session (set by the entrypoint after sign-in): every figure a page shows passes it."""
    return st.session_state[keys.GATE]


def policy() -> Policy:
    """The access policy of this session."""
    return gate().policy


def set_policy(data: Dataset, viewer: Viewer) -> Policy:
    try:
        chosen = access.policy_for(viewer, list(data["centres"]["centre_code"]), sample.holds_only_the_sample(data))
    except access.AccessConfigError as error:
        deny(str(error))
    st.session_state[keys.GATE] = Gate(chosen)
    who = "Centre lead" if viewer.role == "centre" else viewer.role.capitalize()
    st.sidebar.caption(f"Signed in as **{viewer.identity}** · {who}")
    if chosen.suppress:
        st.sidebar.caption(
            "Small numbers: counts of 1-7 are hidden (*), others rounded to 5, and every rate, "
            "interval, limit and flag is computed from the rounded counts."
        )
    return chosen
