"""Chromium as the tests and benchmarks drive it: Debian's binary, its flags, the app's idle state, the websocket."""

from __future__ import annotations

import shutil
from pathlib import Path

# The app has finished a run (a page drawn) when its root carries this.
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Many sessions in one browser at once: none of them is a background tab that Chromium may slow down.
UNTHROTTLED_ARGS = [
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]


class ChromiumMissing(RuntimeError):
    """Debian's chromium is not installed."""


def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        raise ChromiumMissing("Debian's chromium is not installed (scripts/ensure-chromium installs it as root)")
    return path


def launch(playwright, executable: str | None = None, many_sessions: bool = False):
    """Chromium started by Playwright's sync or async API (with the async one, await the result)."""
    return playwright.chromium.launch(
        executable_path=executable or chromium_path(),
        args=CHROMIUM_ARGS + (UNTHROTTLED_ARGS if many_sessions else []),
    )


def websocket_bytes(page, into: list[bytes] | None = None) -> list[bytes]:
    """Every message the server sends this page over its websocket from now on (what the browser is given, whether
    drawn or not), filled in as they arrive; with the sync or the async API."""
    sent = [] if into is None else into
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda data: sent.append(data if isinstance(data, bytes) else data.encode())),
    )
    return sent
