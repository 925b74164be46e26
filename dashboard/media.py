"""Downloads served only to the browser session that made them, and only for a while (docs/design.md, Who sees what).

Streamlit keeps a download button's file in memory under a hash of its content and serves it at /media/<hash>.<ext>
to any request at all, for as long as any session refers to it. Here each session's file gets a random name of its
own, and a request for it is answered only when it comes from the browser whose session made the file (Streamlit's
XSRF cookie, random per browser) with the same identity (the sign-in cookie in oidc mode; in header mode the trusted
header's value whenever the request carries the header), while that session is still connected, and within
CARTGOV_DOWNLOAD_SECONDS of the page drawing the button (or of the click, for a file made at the click). Anything else
gets the same 404 as a name that never existed.
"""

from __future__ import annotations

import contextvars
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streamlit.runtime.media_file_storage import MediaFileKind
from streamlit.runtime.memory_media_file_storage import MemoryFile, MemoryMediaFileStorage, _calculate_file_id
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from streamlit.web.server.starlette.starlette_app_utils import decode_xsrf_token_string
from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME, XSRF_COOKIE_NAME

from dashboard import access

# How long after the page drew a download button (or the click made its file) the file can be fetched. A reader who
# leaves a page open longer clicks twice: the first click's rerun draws the button again. Not "until the first
# fetch": Streamlit's frontend fetches every download URL once to check it, besides the download itself.
DOWNLOAD_SECONDS = float(os.environ.get("CARTGOV_DOWNLOAD_SECONDS", "600"))

# The session whose click is making a file right now (set around Streamlit's deferred download handler; the file is
# made in a worker thread, which inherits this context, outside any script run).
clicking_session: contextvars.ContextVar[str | None] = contextvars.ContextVar("clicking_session", default=None)


def credentials(headers: Iterable[tuple[str, str]], cookies: Mapping[str, str]) -> tuple | None:
    """What ties a request to the browser and the person of a session: the XSRF cookie's token (the cookie is
    re-encoded on every response, the token inside stays), and the identity this deployment trusts. None without a
    token: such a request, or a session opened without one, is never given a file."""
    token, _ = decode_xsrf_token_string(cookies.get(XSRF_COOKIE_NAME, ""))
    if not token:
        return None
    conf = access.settings()
    identity: tuple
    if conf["mode"] == "header":
        identity = tuple(value for name, value in headers if name.lower() == conf["header"].lower())
    elif conf["mode"] == "oidc":
        identity = tuple(sorted((name, value) for name, value in cookies.items() if name.startswith(USER_COOKIE_NAME)))
    else:
        identity = ()  # demo mode has no persons: the file is bound to the browser and the session only
    return token.hex(), identity


def _same(a: tuple | None, b: tuple | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(repr(a).encode(), repr(b).encode())


def _admitted(request: tuple | None, granted: tuple | None) -> bool:
    """The request's credentials against those the file was made under: the same browser token, and the same
    identity. In header mode a request that carries no identity header at all is judged by its browser token alone:
    through the proxy every request carries one (the proxy sets it), so none arrives that way; only someone who
    reaches the app directly sends none, and could send any value instead (README: header mode is safe only behind
    the proxy). Chromium's download manager drops headers added by Playwright in the tests the same way."""
    if request is None or granted is None or not _same(request[0:1], granted[0:1]):
        return False
    return _same(request, granted) or (access.settings()["mode"] == "header" and request[1] == ())


def _session_credentials(session_id: str | None) -> tuple | None:
    """The credentials a session's browser sent when it connected; None once it has gone (the page closed)."""
    from streamlit.runtime import Runtime

    client = Runtime.instance().get_client(session_id) if session_id and Runtime.exists() else None
    context = client.client_context if client is not None else None
    if context is None:
        return None
    return credentials(context.headers, context.cookies)


@dataclass
class _Grant:
    session_id: str
    content: str  # Streamlit's content hash, so that a page drawn again reuses the same name
    credentials: tuple | None
    expires: float


class SessionMediaStorage(MemoryMediaFileStorage):
    """Streamlit's in-memory media storage, with a random name per session and file and a grant for each name."""

    def __init__(self, media_endpoint: str) -> None:
        super().__init__(media_endpoint)
        self._grants: dict[str, _Grant] = {}
        self._names: dict[tuple[str, str], str] = {}  # (session, content) -> name
        self._lock = threading.Lock()

    def load_and_get_id(
        self, path_or_data: str | bytes, mimetype: str, kind: MediaFileKind, filename: str | None = None
    ) -> str:
        data = self._read_file(path_or_data) if isinstance(path_or_data, str) else path_or_data
        content = _calculate_file_id(data, mimetype, filename)
        context = get_script_run_ctx(suppress_warning=True)
        session_id = clicking_session.get() or (context.session_id if context else "")
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            name = self._names.get((session_id, content))
            if name is None:
                name = secrets.token_hex(16)
                self._names[(session_id, content)] = name
                self._files_by_id[name] = MemoryFile(content=data, mimetype=mimetype, kind=kind, filename=filename)
            # Drawn again (or clicked again): the grant starts anew, with the session's credentials as they are now.
            self._grants[name] = _Grant(session_id, content, _session_credentials(session_id), now + DOWNLOAD_SECONDS)
        return name

    def delete_file(self, file_id: str) -> None:
        with self._lock:
            self._forget(file_id)

    def _forget(self, name: str) -> None:
        super().delete_file(name)
        grant = self._grants.pop(name, None)
        if grant is not None:
            self._names.pop((grant.session_id, grant.content), None)

    def _expire(self, now: float) -> None:
        """Drop every file past its time, whether or not a session still refers to it (memory, too)."""
        for name in [name for name, grant in self._grants.items() if grant.expires <= now]:
            self._forget(name)

    def admits(self, requested: str, headers: Iterable[tuple[str, str]], cookies: Mapping[str, str]) -> bool:
        """Whether this request may have the file at /media/<requested>."""
        name = os.path.splitext(requested)[0]
        with self._lock:
            grant = self._grants.get(name)
        if grant is None or grant.expires <= time.monotonic():
            return False
        # The session must still be connected (a closed page takes its files along) and the request must come from
        # its browser and person, as they were when the file was made.
        return _same(_session_credentials(grant.session_id), grant.credentials) and _admitted(
            credentials(headers, cookies), grant.credentials
        )


def guard_routes(routes: list, storage: SessionMediaStorage) -> list:
    """Streamlit's /media routes, answering only the requests the storage admits (404 to every other)."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    def guarded(endpoint: Callable) -> Callable:
        async def serve_admitted(request: Request) -> Response:
            if not storage.admits(request.path_params.get("file_id", ""), request.headers.items(), request.cookies):
                return PlainTextResponse("File not found", status_code=404)
            return await endpoint(request)

        return serve_admitted

    return [Route(route.path, guarded(route.endpoint), methods=route.methods) for route in routes]


def install() -> None:
    """Before Streamlit starts: its server makes this storage, guards its /media routes, and tells the storage which
    session a click-made file (the governance pack) is for."""
    from streamlit.proto.ForwardMsg_pb2 import BackendOperationResponse
    from streamlit.runtime.backend_operation_handler import DeferredFileHandler
    from streamlit.web.server import server
    from streamlit.web.server.starlette import starlette_app

    # Streamlit's internals, replaced before it starts (typed for what they were, not for what replaces them).
    server.MemoryMediaFileStorage = SessionMediaStorage  # type: ignore[misc]
    create_media_routes = starlette_app.create_media_routes
    starlette_app.create_media_routes = lambda storage, base_url: guard_routes(  # type: ignore[assignment]
        create_media_routes(storage, base_url),
        storage,  # type: ignore[arg-type]
    )

    handle = DeferredFileHandler.handle

    async def handle_for_its_session(
        self: DeferredFileHandler, request: Any, session_id: str
    ) -> BackendOperationResponse:
        # Streamlit runs any session's deferred download for whoever names its id: only the session that drew the
        # button may (the id is random, but a file made with another session's access must never be handed over).
        owner = self._get_media_file_mgr()._deferred_callables.get(request.deferred_file.file_id)
        if owner is not None and owner["session_id"] != session_id:
            return BackendOperationResponse(
                request_id=request.request_id, error_msg="Failed to generate file for download"
            )
        clicked = clicking_session.set(session_id)
        try:
            return await handle(self, request, session_id)
        finally:
            clicking_session.reset(clicked)

    DeferredFileHandler.handle = handle_for_its_session  # type: ignore[method-assign]
