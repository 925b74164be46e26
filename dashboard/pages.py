"""The one list of the dashboard's pages: URL path, script, title, icon, the view parameters a link carries (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.filters import VIEW_NAMES


@dataclass(frozen=True)
class Page:
    """A page of the dashboard, as the entrypoint, the navigation, share links and signal links name it."""

    path: str  # the URL path (docs/design.md, Filters and shareable URLs)
    file: str  # the script that draws it
    title: str
    icon: str
    carries: tuple[str, ...] = ()  # the view parameters it has widgets for: a share link carries only these


METRIC, ADJUST, OVERDISPERSION = VIEW_NAMES
OVERVIEW = Page("overview", "pages/overview.py", "Overview", ":material/home:")
TOXICITY = Page("toxicity", "pages/toxicity.py", "Toxicity", ":material/coronavirus:", (METRIC, ADJUST, OVERDISPERSION))
ITU = Page("itu", "pages/itu.py", "ITU", ":material/emergency:", (ADJUST, OVERDISPERSION))
NICE_TA = Page("nice-ta", "pages/nice_ta.py", "NICE TAs", ":material/gavel:")
EXCEPTIONS = Page("exceptions", "pages/exceptions.py", "Carer and travel", ":material/commute:")
PRODUCTS = Page("products", "pages/products.py", "Products", ":material/vaccines:", (METRIC,))
CENTRES = Page("centres", "pages/centres.py", "Centres", ":material/local_hospital:", (METRIC,))
DATA_QUALITY = Page("data-quality", "pages/data_quality.py", "Data quality", ":material/rule:")
CASES = Page("cases", "pages/cases.py", "Outlier cases", ":material/assignment_late:")
MEETINGS = Page("meetings", "pages/meetings.py", "Meetings", ":material/groups:")

# In the sidebar's order: the figures, then what the panel does about them.
PAGES = (OVERVIEW, TOXICITY, ITU, NICE_TA, EXCEPTIONS, PRODUCTS, CENTRES, DATA_QUALITY, CASES, MEETINGS)
BY_PATH = {page.path: page for page in PAGES}
PAGE_STATE = {page.path: page.carries for page in PAGES if page.carries}
