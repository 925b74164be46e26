"""On-demand stress scripts (not collected by pytest): run them with `python -m tests.stress.<name>`."""
