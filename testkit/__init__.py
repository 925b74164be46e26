"""What the tests and the benchmarks share to drive the app: a served app, Chromium, its selectors, the page list."""
