"""`python -m dashboard` is `cartgov`."""

from dashboard.cli import main

main()
