"""The data version a run shows: the cached dataset, the snapshot fallback after a failed write, the freshness note."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
import streamlit as st

from dashboard import metrics, store
from dashboard.loaders import Dataset, SnapshotError, complete_snapshots, load_dataset
from dashboard.ui import keys

# How stale a page may be after an ingest: the store is asked at most this often, never on each rerun.
VERSION_CHECK_SECONDS = float(os.environ.get("CARTGOV_VERSION_CHECK_SECONDS", "30"))
log = logging.getLogger(__name__)
_LOCK = threading.Lock()
# What else a new data version needs before it is shown (figures.py adds its default signals): (url, version, data).
WARM: list[Callable[[str, int, Dataset], object]] = []


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _data_version(url: str) -> int:
    return store.data_version(store.engine_for(url))


@st.cache_resource(show_spinner="Loading the data…", max_entries=2)
def _dataset(url: str, version: int) -> Dataset:
    data = load_dataset(store.engine_for(url), version)
    metrics.episode_table(data)  # built once per data version, not on a page run
    return data


@st.cache_resource(show_spinner=False)
def _unprepared() -> dict[tuple[str, int], tuple[float, int, str]]:
    """Store versions whose snapshot could not be written: (when, the version shown instead, why)."""
    return {}


@st.cache_resource(show_spinner=False)
def _on_show() -> dict[str, int]:
    """Per store, the newest data version ready in memory: what pages show while a newer one is prepared."""
    return {}


@st.cache_resource(show_spinner=False)
def _preparing() -> dict[tuple[str, int], threading.Thread]:
    return {}


def _prepare(url: str, version: int) -> None:
    """Load a new data version (snapshot, frames, episode table) and find its default signals, off every visitor's
    run; sessions keep the version on show until it is ready (or, when it cannot be, with the notice)."""
    try:
        data = _dataset(url, version)
        for warm in WARM:
            warm(url, version, data)
        _on_show()[url] = max(version, _on_show().get(url, 0))
        _unprepared().pop((url, version), None)
    except SnapshotError as error:
        log.warning("%s; showing version %d meanwhile", error, _on_show()[url])
        _unprepared()[(url, version)] = (time.monotonic(), _on_show()[url], error.reason)
    except Exception:
        log.exception("data version %d could not be prepared", version)
    finally:
        _preparing().pop((url, version), None)


def _prepare_in_background(url: str, version: int) -> None:
    with _LOCK:
        if (url, version) in _preparing():
            return
        thread = threading.Thread(target=_prepare, args=(url, version), name=f"prepare-v{version}", daemon=True)
        _preparing()[(url, version)] = thread
    thread.start()


def _shown_version(url: str) -> tuple[int, str | None]:
    """The data version pages show: the store's once it is ready in memory. A new version is prepared in the
    background while the one on show stays; the server's first visitor waits for the first. If a snapshot cannot
    be written (a full disk), the newest complete one stays in use and the write is retried every
    VERSION_CHECK_SECONDS."""
    version = _data_version(url)
    shown = _on_show().get(url)
    if shown is not None and shown >= version:
        return shown, None
    failed = _unprepared().get((url, version))
    if shown is not None:
        if not failed or time.monotonic() - failed[0] >= VERSION_CHECK_SECONDS:
            _prepare_in_background(url, version)
        return shown, failed[2] if failed else None
    if failed:
        if time.monotonic() - failed[0] < VERSION_CHECK_SECONDS:
            return failed[1], failed[2]
        # One session retries; the others keep the older version meanwhile instead of queueing for the same write.
        _unprepared()[(url, version)] = (time.monotonic(), *failed[1:])
    try:
        _dataset(url, version)
    except SnapshotError as error:
        older = [v for v in complete_snapshots(store.engine_for(url)) if v < version]
        if not older:
            raise
        log.warning("%s; showing version %d meanwhile", error, older[-1])
        _unprepared()[(url, version)] = (time.monotonic(), older[-1], error.reason)
        return older[-1], error.reason
    _unprepared().pop((url, version), None)
    _on_show()[url] = version
    return version, None


def open_dataset() -> Dataset:
    """Called by the entrypoint first on every run: the data version this run shows. Every page, metric and table of
    the run then uses that one version, even if a newer one arrives half-way (see dataset and figures.calc)."""
    url = store.database_url()
    try:
        version, problem = _shown_version(url)
        data = _dataset(url, version)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        _data_version.clear()  # the next interaction asks the store again
        st.error(
            "The data store is unavailable. Nothing is shown rather than something stale or wrong; "
            "try again in a moment.",
            icon=":material/cloud_off:",
        )
        st.button("Try again", icon=":material/refresh:")  # a click reruns the page, which asks the store again
        st.stop()
    except SnapshotError as error:
        log.error("%s", error)
        st.error(
            f"The data cannot be prepared for display ({error.reason}); nothing is shown. Try again in a moment.",
            icon=":material/error:",
        )
        st.stop()
    st.session_state[keys.SHOWN] = (version, problem)
    return data


def run_version() -> int:
    """The data version of this run (see open_dataset)."""
    return st.session_state[keys.SHOWN][0]


def dataset_of(url: str, version: int) -> Dataset:
    """The dataset of a data version, from the one server-wide cache (for the figures computed from it)."""
    return _dataset(url, version)


def dataset() -> Dataset:
    """The validated frames of this run's data version (loaded once per version per server)."""
    return _dataset(store.database_url(), run_version())


def freshness_notice(data: Dataset) -> None:
    """A warning while newer data cannot be prepared for display (drawn once per run, by the entrypoint)."""
    problem = st.session_state[keys.SHOWN][1]
    if problem:
        st.warning(
            f"Newer data has arrived but cannot be prepared for display ({problem}). These pages show data "
            f"version {data.data_version}, extracted {data.extract_date}, until it can.",
            icon=":material/history:",
        )
