"""A Streamlit session without a browser: the app's own websocket protocol, for load that leaves the CPU to the server.

A session fetches the page once (for the XSRF cookie, as a browser does), opens `/_stcore/stream` with the token in
its subprotocol and the identity header in its handshake, and asks for page runs with the BackMsg a browser sends on
navigation. A run is timed from the request to its `script_finished`; every frame the server sent is kept, so that
what a role was given can be decoded and checked (testkit/wire.py).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

XSRF_COOKIE = "_streamlit_xsrf"


@dataclass
class Run:
    page: str
    seconds: float
    status: str  # how the script finished: "FINISHED_SUCCESSFULLY", or another ScriptFinishedStatus, or "timeout"
    frames: list[bytes] = field(default_factory=list)
    exception: bool = False  # an st.exception element was sent (a traceback on the page)


class Session:
    """One viewer's session over the websocket. Use as `async with Session(url, headers) as session:`."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 120) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._socket: websockets.ClientConnection | None = None

    async def __aenter__(self) -> Session:
        request = urllib.request.Request(f"{self.base_url}/", headers=self.headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            cookie = SimpleCookie()
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie.load(header)
        token = cookie[XSRF_COOKIE].value if XSRF_COOKIE in cookie else ""
        # Every cookie back, as a browser would: behind a proxy the route cookie keeps the session on its replica.
        cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in cookie.items())
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        self._socket = await websockets.connect(
            f"{scheme}://{parts.netloc}{parts.path}/_stcore/stream",
            subprotocols=[websockets.Subprotocol("streamlit"), websockets.Subprotocol(token)] if token else None,
            additional_headers={**self.headers, **({"Cookie": cookies} if cookies else {})},
            max_size=None,
            open_timeout=30,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            await self._socket.close()

    async def run(self, page: str, query: str = "") -> Run:
        """Run a page (its URL path, as in the address bar) with a query string, as navigating to it does."""
        assert self._socket is not None
        message = BackMsg()
        message.rerun_script.page_name = page
        message.rerun_script.query_string = query
        message.rerun_script.context_info.url = f"{self.base_url}/{page}" + (f"?{query}" if query else "")
        started = time.perf_counter()
        await self._socket.send(message.SerializeToString())
        run = Run(page, 0.0, "timeout")
        deadline = started + self.timeout
        while time.perf_counter() < deadline:
            try:
                frame = await _receive(self._socket, deadline - time.perf_counter())
            except TimeoutError:
                break
            run.frames.append(frame)
            received = ForwardMsg()
            received.ParseFromString(frame)
            kind = received.WhichOneof("type")
            if kind == "delta" and received.delta.new_element.WhichOneof("type") == "exception":
                run.exception = True
            if kind == "script_finished":
                status = ForwardMsg.ScriptFinishedStatus.Name(received.script_finished)
                if status == "FINISHED_EARLY_FOR_RERUN":  # a switch_page or a rerun: the run goes on
                    continue
                run.status = status
                break
        run.seconds = time.perf_counter() - started
        return run


async def _receive(socket: websockets.ClientConnection, timeout: float) -> bytes:
    data = await asyncio.wait_for(socket.recv(), timeout=max(timeout, 0.001))
    return data if isinstance(data, bytes) else data.encode()
