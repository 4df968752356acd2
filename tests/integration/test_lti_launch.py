"""The LTI routes on the real service (`grader serve` on loopback, a real Redis) driven by Chromium, with a
small LTI 1.3 platform on another site (`localhost` against the tool's `127.0.0.1`): the OIDC login is a
cross-site POST, the platform's authorization page form-posts the id_token back, and the learner must land
on the assignment signed in (the SameSite=Lax session cookie set on the answer to that cross-site POST is
sent with the following top-level GET). Then a replayed launch against the real Redis, and Deep Linking
back to the platform."""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select

from grader.config import Settings
from grader.demo.gitserver import LoopbackGitServer
from grader.demo.stack import assignment_tarball, free_port
from grader.lti import claims as c
from grader.store import catalog
from grader.store.db import engine_for, session_factory, session_scope
from grader.store.models import AssignmentVersion
from tests.browser.conftest import LEDGER_DIR
from tests.integration.test_service_stack import Stack, _start, _stop, _wait_ready, redis_service, stack_env

__all__ = ["redis_service"]
pytestmark = [pytest.mark.integration, pytest.mark.browser]

CLIENT_ID = "tool-client-1"
DEPLOYMENT = "deployment-1"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


@dataclass
class MiniPlatform:
    """Just enough of an LTI 1.3 platform: start a launch, answer the authorization request with a signed
    id_token, publish its JWKS, receive a Deep Linking response."""

    port: int
    tool: str
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    issued: list[dict[str, str]] = field(default_factory=list)  # the (id_token, state) pairs it posted
    returned: list[str] = field(default_factory=list)  # Deep Linking response JWTs

    @property
    def browser_origin(self) -> str:
        return f"http://localhost:{self.port}"  # another site than the tool's 127.0.0.1

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": "mini-1", "alg": "RS256", "use": "sig"}]}

    def id_token(self, nonce: str, kind: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": f"{kind}-sub",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": f"{kind.title()} Person",
            "email": f"{kind}@school.example",
            c.VERSION: "1.3.0",
            c.DEPLOYMENT_ID: DEPLOYMENT,
            c.TARGET_LINK_URI: f"{self.tool}/lti/launch",
            c.CONTEXT: {"id": "course-9", "title": "Systems 201"},
            c.ROLES: [INSTRUCTOR if kind != "learner" else LEARNER],
        }
        if kind == "deep":
            claims[c.MESSAGE_TYPE] = c.DEEP_LINKING_REQUEST
            claims[c.DL_SETTINGS] = {"deep_link_return_url": f"{self.browser_origin}/deep_links", "data": "d-9"}
        else:
            claims[c.MESSAGE_TYPE] = c.RESOURCE_LINK_REQUEST
            claims[c.RESOURCE_LINK] = {"id": "placement-1"}
            claims[c.CUSTOM] = {"assignment": "py-ledger"}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "mini-1"})

    def serve(self) -> ThreadingHTTPServer:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _page(self, body: str, status: int = 200, kind: str = "text/html") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _autopost(self, action: str, fields: dict[str, str]) -> None:
                inputs = "".join(
                    f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
                )
                self._page(
                    f'<!doctype html><title>platform</title><form id="f" method="post" action="{html.escape(action)}">'
                    f"{inputs}</form><script>document.getElementById('f').submit()</script>"
                )

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/jwks":
                    self._page(json.dumps(platform.jwks()), kind="application/json")
                elif url.path == "/start":  # the course page: a cross-site POST to the tool's login
                    kind = query.get("kind", "learner")
                    self._autopost(
                        f"{platform.tool}/lti/login",
                        {
                            "iss": platform.issuer,
                            "login_hint": kind,
                            "lti_message_hint": kind,
                            "target_link_uri": f"{platform.tool}/lti/launch",
                            "client_id": CLIENT_ID,
                            "lti_deployment_id": DEPLOYMENT,
                        },
                    )
                elif url.path == "/auth":
                    if (
                        query.get("redirect_uri") != f"{platform.tool}/lti/launch"
                        or query.get("client_id") != CLIENT_ID
                    ):
                        self._page("bad authorization request", 400, "text/plain")
                        return
                    pair = {"id_token": platform.id_token(query["nonce"], query["login_hint"]), "state": query["state"]}
                    platform.issued.append(pair)
                    self._autopost(query["redirect_uri"], pair)
                else:
                    self._page("not here", 404, "text/plain")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path == "/deep_links" and "JWT" in form:
                    platform.returned.append(form["JWT"])
                    self._page('<!doctype html><title>placed</title><p id="placed">placed</p>')
                else:
                    self._page("not here", 404, "text/plain")

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass
class LtiStack:
    stack: Stack
    platform: MiniPlatform


@pytest.fixture(scope="module")
def lti_stack(redis_service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LtiStack]:
    """`grader serve` alone (no workers: nothing here grades), one tenant, the assignment published, the
    mini platform registered through the CLI."""
    home = tmp_path_factory.mktemp("lti-home")
    git = LoopbackGitServer(tmp_path_factory.mktemp("lti-git"))
    port = free_port()
    env = stack_env(
        home, redis_service.redis_url, port, "git.invalid", queue=f"grader-lti-{port}", passphrase="lti pass"
    )
    # The platform's services answer on `localhost`, a name the outbound guard refuses unless allowed.
    env["GRADER_OUTBOUND_ALLOW"] = json.dumps(["127.0.0.1", "localhost"])
    stack = Stack(api=f"http://127.0.0.1:{port}", env=env, home=home, git=git)
    platform = MiniPlatform(port=free_port(), tool=stack.api)
    server = platform.serve()
    try:
        stack.cli("db", "upgrade")
        admin = json.loads(stack.cli("tenant", "create", "lti-school", "--json"))["admin_key"]
        stack.cli(
            "lti", "add", "--tenant", "lti-school", "--issuer", platform.issuer, "--client-id", CLIENT_ID,
            "--auth-login-url", f"{platform.browser_origin}/auth", "--token-url", f"{platform.browser_origin}/token",
            "--jwks-url", platform.jwks_url, "--deployment", DEPLOYMENT,
        )  # fmt: skip
        _start(stack, "api", "serve", "--port", str(port))
        _wait_ready(stack)
        with stack.client(admin) as client:
            upload = client.post(
                "/api/v1/assignments",
                content=assignment_tarball(LEDGER_DIR),
                headers={"Content-Type": "application/gzip"},
                timeout=120,
            )
            assert upload.status_code in (200, 201, 202), upload.text
        # No worker runs the check here: settle it as passed in the stack's own store.
        factory = session_factory(engine_for(Settings(home=home).resolved_database_url()))
        with session_scope(factory) as session:
            for row in session.scalars(select(AssignmentVersion).where(AssignmentVersion.status == "checking")):
                catalog.settle_check(row, {"rows": [], "problems": []}, [])
        yield LtiStack(stack=stack, platform=platform)
    finally:
        for process in stack.processes:
            _stop(process)
        server.shutdown()


@pytest.fixture
def browser(_playwright_browser: Any) -> Any:
    """The session's Chromium (tests/browser_fixtures.py): one Playwright per session."""
    return _playwright_browser


def test_a_cross_site_launch_signs_the_learner_in_on_the_assignment(lti_stack: LtiStack, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{lti_stack.platform.browser_origin}/start?kind=learner")
    page.wait_for_url(f"{lti_stack.stack.api}/learn/assignments/py-ledger", timeout=20_000)
    assert page.locator("h1").first.inner_text().strip() == "Double-entry ledger library"
    assert page.locator('input[name="repo_url"]').count() == 1  # signed in: the submit form is there
    (cookie,) = [k for k in context.cookies() if k["name"] == "grader_session"]
    assert cookie["sameSite"] == "Lax" and cookie["httpOnly"]
    context.close()

    # The same id_token and state posted again, to the same real Redis: refused, naming the check.
    replay = httpx.post(f"{lti_stack.stack.api}/lti/launch", data=lti_stack.platform.issued[-1], timeout=10)
    assert replay.status_code == 400 and '<code id="lti-check">state</code>' in replay.text


def test_an_instructor_lands_on_the_class_results_and_places_an_assignment(lti_stack: LtiStack, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{lti_stack.platform.browser_origin}/start?kind=instructor")
    page.wait_for_url(f"{lti_stack.stack.api}/author/assignments/py-ledger", timeout=20_000)
    assert page.locator("#lti-roster a").count() == 1

    page.goto(f"{lti_stack.platform.browser_origin}/start?kind=deep")
    page.locator("#deep-link-form").wait_for(timeout=20_000)
    page.get_by_role("button", name="Place in the course").click()
    page.wait_for_url(f"{lti_stack.platform.browser_origin}/deep_links", timeout=20_000)
    assert page.locator("#placed").inner_text() == "placed"
    context.close()

    (token,) = lti_stack.platform.returned
    keys = jwt.PyJWKSet.from_dict(httpx.get(f"{lti_stack.stack.api}/lti/jwks", timeout=10).json())
    body = jwt.decode(
        token,
        keys[jwt.get_unverified_header(token)["kid"]].key,
        algorithms=["RS256"],
        audience=lti_stack.platform.issuer,
    )
    (item,) = body[c.DL_CONTENT_ITEMS]
    assert body[c.DL_DATA] == "d-9" and item["lineItem"]["resourceId"] == "py-ledger"
    assert item["custom"] == {"assignment": "py-ledger"} and item["type"] == "ltiResourceLink"


def test_every_launch_refusal_is_logged(lti_stack: LtiStack) -> None:
    answer = httpx.post(f"{lti_stack.stack.api}/lti/launch", data={"id_token": "x", "state": "made-up"}, timeout=10)
    assert answer.status_code == 400
    log = Path(lti_stack.stack.home / "api.log")
    deadline = time.monotonic() + 5
    while "check=state" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "lti launch refused: check=state" in log.read_text()
