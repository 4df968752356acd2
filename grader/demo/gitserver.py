"""A git smart-HTTP server on loopback: `git http-backend` behind a small threaded HTTP server.

The main job serves the bundled solutions from it, and tests serve learner repositories from it, so
every grade goes through the same network fetch a real submission does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

Route = Callable[[BaseHTTPRequestHandler], bool]


def learner_git_env(home: Path, *, dated: bool = False) -> dict[str, str]:
    """The environment of a learner's own git (no system or global config, a fixed identity); `dated`
    pins the commit times too, so the same files give the same commit."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Learner",
        "GIT_AUTHOR_EMAIL": "learner@example.org",
        "GIT_COMMITTER_NAME": "Learner",
        "GIT_COMMITTER_EMAIL": "learner@example.org",
    }
    if dated:
        env |= {"GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    return env


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=learner_git_env(cwd, dated=True), check=True, capture_output=True)


class _Handler(BaseHTTPRequestHandler):
    server: _GitHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        return

    def _serve(self) -> None:
        for route in self.server.routes:
            if route(self):
                return
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        if self.headers.get("Content-Encoding") == "gzip":
            env["HTTP_CONTENT_ENCODING"] = "gzip"
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.routes: list[Route] = []


class LoopbackGitServer:
    """Serves bare repositories under `root` at http://127.0.0.1:<port>/<name>.git."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._server = _GitHTTPServer(root)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackGitServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def url(self, name: str) -> str:
        return f"http://{self.host}/{name}.git"

    def add_route(self, route: Route) -> None:
        """Tests add routes (redirects, stalls) that answer before git does."""
        self._server.routes.append(route)

    def publish(self, name: str, source: Path, branch: str = "main") -> str:
        """Commit the files of `source` into a new bare repository `name` and return its URL."""
        work = self.root / f".work-{name}"
        bare = self.root / f"{name}.git"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(bare, ignore_errors=True)
        shutil.copytree(source, work, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", ".git"))
        _git("init", "-q", "-b", branch, cwd=work)
        _git("add", "-A", cwd=work)
        _git("commit", "-q", "-m", f"{name}", cwd=work)
        _git("clone", "-q", "--bare", str(work), str(bare), cwd=self.root)
        shutil.rmtree(work)
        return self.url(name)
