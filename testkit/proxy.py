"""Debian's nginx in front of app replicas, with the repository's own configuration (deploy/nginx-cartgov.conf)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from testkit.served import free_port, running

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "nginx-cartgov.conf"


class NginxMissing(RuntimeError):
    """Debian's nginx is not installed."""


def nginx_path() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path is None:
        raise NginxMissing("Debian's nginx is not installed (scripts/ensure-nginx installs it as root)")
    return path


def configured(replicas: list[str], port: int, access_log: Path) -> str:
    """The repository's configuration with these replicas as its upstream servers, listening on this port, logging
    which replica served each request to this file."""
    text = CONFIG.read_text()
    servers = "".join(f"    server {urlsplit(url).netloc};\n" for url in replicas)
    text = re.sub(r"(    server \d+\.\d+\.\d+\.\d+:\d+;\n)+", servers, text, count=1)
    text = text.replace("/var/log/nginx/cartgov.access.log", str(access_log))
    return re.sub(r"listen \S+;", f"listen 127.0.0.1:{port};", text, count=1)


def requests_by_route(access_log: Path) -> dict[str, list[tuple[str, str]]]:
    """From the proxy's log: each browser's requests (by route cookie) as (request line, replica); health checks
    left out."""
    served: dict[str, list[tuple[str, str]]] = {}
    for line in access_log.read_text().splitlines():
        found = re.search(r'"(.*?)" \d+ route="(\S+)" replica="(\S+)"', line)
        if found and "/_stcore/health" not in found.group(1):
            request, route, replica = found.groups()
            served.setdefault(route, []).append((request, replica))
    return served


@contextlib.contextmanager
def proxied(replicas: list[str], folder: Path, timeout: float = 30):
    """Yields the proxy's URL once nginx answers the replicas' health check through it (its log of which replica
    served each request: folder / "cartgov.access.log")."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "cartgov.conf").write_text(configured(replicas, port, folder / "cartgov.access.log"))
    (folder / "nginx.conf").write_text(
        "worker_processes 1;\n"
        f"error_log {folder / 'error.log'};\n"
        f"pid {folder / 'nginx.pid'};\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {folder / 'access.log'};\n"
        f"    client_body_temp_path {folder / 'body'};\n"
        f"    proxy_temp_path {folder / 'proxy'};\n"
        f"    include {folder / 'cartgov.conf'};\n"
        "}\n"
    )
    process = subprocess.Popen(
        [nginx_path(), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )

    def said() -> str:
        error_log = folder / "error.log"
        return error_log.read_text()[-2000:] if error_log.exists() else ""

    url = f"http://127.0.0.1:{port}"
    with running(process, url, timeout, "nginx did not answer through its configuration: ", said):
        yield url
