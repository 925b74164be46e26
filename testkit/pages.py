"""The app's pages as the tests and benchmarks open them: URL path and page file.

Spelled here once until the app has a page registry of its own (streamlit_app.py builds its st.Page list inline, and
importing it runs the app); then this should read that registry instead.
"""

from __future__ import annotations

# URL path -> page file, in the order of the navigation.
PAGES = {
    "overview": "pages/overview.py",
    "toxicity": "pages/toxicity.py",
    "itu": "pages/itu.py",
    "nice-ta": "pages/nice_ta.py",
    "exceptions": "pages/exceptions.py",
    "products": "pages/products.py",
    "centres": "pages/centres.py",
    "data-quality": "pages/data_quality.py",
}
PAGE_PATHS = list(PAGES)
