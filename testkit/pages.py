"""The app's pages as the tests and benchmarks open them (URL path and page file), from the app's own registry."""

from __future__ import annotations

from dashboard.pages import PAGES as REGISTRY

PAGES = {page.path: page.file for page in REGISTRY}  # in the navigation's order
PAGE_PATHS = list(PAGES)
