"""Start Streamlit on streamlit_app.py as the dashboard needs it: st.navigation pages, and Streamlit's server hardened.

Streamlit (1.67) treats a `pages/` folder beside the entrypoint as a version-1 multipage app until some session
has called st.navigation: the first visitor of a fresh server who opens a deep link such as /overview would run
pages/overview.py alone, without the entrypoint (its banner, filters and, later, its sign-in gate).

Streamlit's server also lets any browser do things a shared, access-controlled dashboard must not allow; each is
changed here, before Streamlit starts (issue 12; docs/design.md, Who sees what):
- download files are served only to the browser session that made them, for a while (dashboard/media.py);
- a browser cannot clear the caches every session shares (Streamlit's clear_cache message);
- internal endpoints (/_stcore/metrics) are not served unless CARTGOV_SERVE_METRICS=true;
- the tables' own CSV download stays off and XSRF protection on, whatever a config file or STREAMLIT_* says.
"""

import logging
import os
import sys
from typing import cast

from streamlit.runtime.app_session import AppSession
from streamlit.runtime.pages_manager import PagesManager
from streamlit.web.cli import main as streamlit_main

from dashboard import media

log = logging.getLogger(__name__)
# Command-line options outrank config files and environment variables in Streamlit. Downloads are bound to sessions
# through the XSRF cookie (dashboard/media.py); the table toolbar's download would bypass the audit log.
# Two costs paid after every run of every session, measured under load (issue 16): no file watcher (a served app's
# code does not change under it, and the watcher walks every imported module's path: a third of a new session's
# first run), and no full garbage collection (it walks the whole heap holding the GIL, while every other session
# waits: more than half the server's Python time at 30 sessions). Python's own collector still runs as it would.
PINNED = [
    "--client.disableDataExport",
    "true",
    "--server.enableXsrfProtection",
    "true",
    "--server.fileWatcherType",
    "none",
    "--runner.postScriptGC",
    "false",
]


def _refuse_clear_cache(_session: AppSession) -> None:
    # Streamlit clears every cache of the server (the loaded data, every computed metric) for one browser's message,
    # even from someone denied at sign-in: every user would pay the reload. Nothing in this app sends it.
    log.warning("A browser asked to clear the shared caches; refused")


def _hide_internal_endpoints() -> None:
    """/_stcore/metrics (cache names, sizes, session counts) answers 404 unless CARTGOV_SERVE_METRICS=true."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from streamlit.web.server.starlette import starlette_app

    if os.environ.get("CARTGOV_SERVE_METRICS", "").strip().lower() == "true":
        return
    create_metrics_routes = starlette_app.create_metrics_routes

    async def not_found(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("Not found", status_code=404)

    starlette_app.create_metrics_routes = lambda runtime, base_url: [
        Route(route.path, not_found, methods=route.methods)
        for route in cast("list[Route]", create_metrics_routes(runtime, base_url))
    ]


def main() -> None:
    PagesManager.uses_pages_directory = False
    media.install()
    AppSession._handle_clear_cache_request = _refuse_clear_cache  # type: ignore[method-assign,assignment]
    _hide_internal_endpoints()
    sys.argv = ["streamlit", "run", "streamlit_app.py", *PINNED, *sys.argv[1:]]
    streamlit_main()


if __name__ == "__main__":
    main()
