"""Shared Streamlit pieces: the cached dataset, the synthetic-data banner, the store-unavailable message."""

from __future__ import annotations

import sqlalchemy as sa
import streamlit as st

from dashboard import store
from dashboard.loaders import Dataset, load_dataset

VERSION_CHECK_SECONDS = 30  # how stale a page may be after an ingest; no database read on each rerun


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _data_version(url: str) -> int:
    return store.data_version(store.engine_for(url))


@st.cache_resource(show_spinner="Loading the data…", max_entries=2)
def _dataset(url: str, version: int) -> Dataset:
    return load_dataset(store.engine_for(url))


def dataset() -> Dataset:
    """The validated frames of the store's current data version, loaded once per version per server."""
    url = store.database_url()
    try:
        return _dataset(url, _data_version(url))
    except sa.exc.OperationalError:
        st.error("The data store is unavailable. Nothing is shown rather than something stale or wrong; "
                 "try again in a moment.", icon=":material/cloud_off:")
        st.stop()


def synthetic_banner(data: Dataset) -> None:
    if data.synthetic:
        st.warning("Synthetic data: invented centres and patients, for demonstration only. "
                   "No figure here describes a real hospital.", icon=":material/science:")
