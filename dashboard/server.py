"""Start Streamlit on streamlit_app.py, with pages/ treated as st.navigation pages and never as a v1 pages folder.

Streamlit (1.67) treats a `pages/` folder beside the entrypoint as a version-1 multipage app until some session
has called st.navigation: the first visitor of a fresh server who opens a deep link such as /overview would run
pages/overview.py alone, without the entrypoint (its banner, filters and, later, its sign-in gate).
"""

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web.cli import main as streamlit_main


def main() -> None:
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", "streamlit_app.py", *sys.argv[1:]]
    streamlit_main()


if __name__ == "__main__":
    main()
