"""The two LTI 1.3 platforms the tests launch the tool from, each in its own process on a loopback port:

- `running_platform`: the test LMS of tests/lti/platform (built on lti1p3platform): launches, deep
  linking, Names and Roles, Assignment and Grade Services, an OAuth2 token endpoint, Dynamic Registration.
- `running_mock_provider`: `lti-provider-mock` (PyPI), a FastAPI app configured by environment variables
  (LTI_PROVIDER_MOCK__...), served by uvicorn. It launches resource links only: it always sends client id
  `lti-provider-mock`, deployment `1`, resource link `1`, an empty roles claim and no custom claims, and
  signs with a key it generates at start (served at /jwks).

Each defaults to a loopback address of its own (127.0.0.2, 127.0.0.3), so that to the browser the
platform and the tool (127.0.0.1) are different sites, as an LMS and a tool are."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_HOST = "127.0.0.2"
MOCK_HOST = "127.0.0.3"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A program serving HTTP in its own process group, with its output in `log`."""

    process: subprocess.Popen[bytes]
    log: Path
    base_url: str

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _serve(args: list[str], log: Path, base_url: str, ready_path: str, env: dict[str, str], cwd: Path) -> Served:
    handle = log.open("wb")
    process = subprocess.Popen(args, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    served = Served(process, log, base_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{args} exited with {process.returncode}:\n{served.tail()}")
        try:
            if httpx.get(base_url + ready_path, timeout=2).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    served.stop()
    raise AssertionError(f"{args} did not answer on {base_url}{ready_path}:\n{served.tail()}")


@dataclass
class Platform:
    """The running test LMS, and what the tests ask of it through its /_control endpoints."""

    served: Served

    @property
    def base_url(self) -> str:
        return self.served.base_url

    @property
    def issuer(self) -> str:
        return self.served.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def _control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if body is None:
            answer = httpx.get(self.url(path), timeout=10)
        else:
            answer = httpx.post(self.url(path), json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def state(self) -> dict[str, Any]:
        return self._control("/_control/state")

    def set_tool(self, **tool: Any) -> dict[str, Any]:
        """client_id, deployment_id, oidc_login_url, launch_url, jwks_url (deep_link_url, redirect_uris)."""
        return self._control("/_control/tool", tool)

    def add_link(
        self, title: str, custom: dict[str, str] | None = None, line_item: dict[str, Any] | None = None, url: str = ""
    ) -> dict[str, Any]:
        """A resource link in the course ({"id", "line_item_id"})."""
        return self._control(
            "/_control/links", {"title": title, "custom": custom or {}, "line_item": line_item, "url": url}
        )

    def rotate_key(self) -> str:
        """The platform signs with a new key from now on (its JWKS shows only that one); returns its kid."""
        return str(self._control("/_control/rotate-key", {})["kid"])

    def twist_next_launch(self, **twist: Any) -> None:
        """The next id_token spoilt (tests/lti/platform/app.py `twisted`): claims, drop, exp_shift,
        iat_shift, forge, kid."""
        self._control("/_control/twist", twist)

    def scores_down(self, down: bool) -> None:
        self._control("/_control/scores", {"down": down})

    def wait_for(self, what: str, predicate: Callable[[dict[str, Any]], Any], timeout: float = 60) -> Any:
        """Polls the state until `predicate(state)` is truthy; returns that value."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.state()
            found = predicate(state)
            if found:
                return found
            time.sleep(0.3)
        raise AssertionError(f"the platform saw no {what} within {timeout}s; its state: {json.dumps(state)[:3000]}")

    @property
    def registration(self) -> dict[str, Any]:
        """What a tool registers for this platform: issuer, auth, token and JWKS URLs."""
        return {
            "issuer": self.issuer,
            "auth_url": self.url("/auth"),
            "token_url": self.url("/token"),
            "jwks_url": self.url("/jwks"),
        }


@contextmanager
def running_platform(log_dir: Path, host: str = PLATFORM_HOST, page_size: int = 2) -> Iterator[Platform]:
    port = free_port(host)
    args = [
        sys.executable,
        "-m",
        "tests.lti.platform",
        "--host",
        host,
        "--port",
        str(port),
        "--page-size",
        str(page_size),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    served = _serve(args, log_dir / f"platform-{port}.log", f"http://{host}:{port}", "/jwks", env, ROOT)
    try:
        yield Platform(served)
    finally:
        served.stop()


@dataclass
class MockProvider:
    """The running lti-provider-mock. Its people sign in at /login; /courses/{id} starts a launch."""

    served: Served
    courses: list[dict[str, Any]]
    users: list[dict[str, Any]]
    client_id: str = "lti-provider-mock"
    deployment_id: str = "1"

    @property
    def base_url(self) -> str:
        return self.served.base_url

    @property
    def issuer(self) -> str:
        return self.served.base_url

    @property
    def registration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "auth_url": self.base_url + "/authorize",
            # The mock has no token endpoint (it offers no services); a registration still names one.
            "token_url": self.base_url + "/token",
            "jwks_url": self.base_url + "/jwks",
        }


DEFAULT_MOCK_USERS = [
    {"id": "mock-learner-1", "given_name": "Mia", "family_name": "Mock", "email": "mia.mock@example.org"},
    {"id": "mock-learner-2", "given_name": "Max", "family_name": "Mock", "email": "max.mock@example.org"},
]
DEFAULT_MOCK_COURSES = [{"id": "mock-course", "name": "Mock course", "users": []}]


@contextmanager
def running_mock_provider(
    log_dir: Path,
    *,
    login_url: str,
    launch_url: str,
    host: str = MOCK_HOST,
    users: list[dict[str, Any]] | None = None,
    courses: list[dict[str, Any]] | None = None,
) -> Iterator[MockProvider]:
    """lti-provider-mock under uvicorn, its `lti` settings pointing at the tool's login and launch URLs."""
    port = free_port(host)
    base = f"http://{host}:{port}"
    users = users or DEFAULT_MOCK_USERS
    courses = courses or DEFAULT_MOCK_COURSES
    env = {
        **os.environ,
        "LTI_PROVIDER_MOCK__LTI__ISS": base,
        "LTI_PROVIDER_MOCK__LTI__LOGIN_URL": login_url,
        "LTI_PROVIDER_MOCK__LTI__LAUNCH_URL": launch_url,
        "LTI_PROVIDER_MOCK__USERS": json.dumps(users),
        "LTI_PROVIDER_MOCK__COURSES": json.dumps(courses),
    }
    args = [sys.executable, "-m", "uvicorn", "lti_provider_mock.server:app", "--host", host, "--port", str(port)]
    # Its settings also read a `.env` in the working directory: start it in an empty one.
    with tempfile.TemporaryDirectory(prefix="lti-provider-mock-") as cwd:
        served = _serve([*args, "--log-level", "warning"], log_dir / f"mock-{port}.log", base, "/jwks", env, Path(cwd))
        try:
            yield MockProvider(served, courses, users)
        finally:
            served.stop()
