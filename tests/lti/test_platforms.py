"""The two platform programs on their own, with the test standing in for a tool: what they send (the
login initiation, the signed id_token and its claims), what they refuse, and what they record. The
end-to-end tests against the grader rely on each behaviour checked here."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.lti.processes import MockProvider, Platform, running_mock_provider, running_platform

pytestmark = pytest.mark.integration

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
ROSTER_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TOOL = "http://127.0.0.1:9"  # never contacted: the test reads the forms the platforms would post there


class FormFields(HTMLParser):
    """The action and the hidden inputs of the (first) form of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and not self.action:
            self.action = found.get("action") or ""
        if tag == "input" and found.get("name"):
            self.fields[str(found["name"])] = found.get("value") or ""


class ToolKeys(ThreadingHTTPServer):
    """A tool's key pair, its public half served as a JWKS on loopback (what the platform fetches)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _JwksHandler)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.kid = uuid.uuid4().hex
        self.jwks = {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/jwks"

    def sign(self, claims: dict[str, Any], kid: str | None = None, key: Any = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


class _JwksHandler(BaseHTTPRequestHandler):
    server: ToolKeys

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        body = json.dumps(self.server.jwks).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def tool_keys() -> Iterator[ToolKeys]:
    server = ToolKeys()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, tool_keys: ToolKeys) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
        running.set_tool(
            client_id="tool-client",
            deployment_id="dep-1",
            oidc_login_url=f"{TOOL}/lti/login",
            launch_url=f"{TOOL}/lti/launch",
            jwks_url=tool_keys.url,
        )
        yield running


@contextmanager
def signed_in(platform: Platform, person: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.base_url, timeout=10) as client:
        answer = client.post("/sign-in", data={"user": person})
        assert answer.status_code == 303, answer.text
        yield client


def launch_form(platform: Platform, client: httpx.Client, start: str, nonce: str = "") -> FormFields:
    """Follows a launch as a tool would: the login initiation, then the authorization request."""
    initiation = client.get(start)
    assert initiation.status_code == 302, initiation.text
    target = urlsplit(initiation.headers["location"])
    params = dict(parse_qsl(target.query))
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{TOOL}/lti/login"
    assert params["iss"] == platform.issuer and params["client_id"] == "tool-client"
    assert params["lti_deployment_id"] == "dep-1" and params["lti_message_hint"] and params["login_hint"]
    answer = client.get(
        "/auth",
        params={
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": "tool-client",
            "redirect_uri": params["target_link_uri"],
            "login_hint": params["login_hint"],
            "lti_message_hint": params["lti_message_hint"],
            "state": "state-1",
            "nonce": nonce or uuid.uuid4().hex,
        },
    )
    assert answer.status_code == 200, answer.text
    return FormFields(answer.text)


def verified(platform: Platform, token: str, audience: str = "tool-client") -> dict[str, Any]:
    keys = jwt.PyJWKClient(platform.url("/jwks"))
    claims: dict[str, Any] = jwt.decode(
        token, keys.get_signing_key_from_jwt(token).key, algorithms=["RS256"], audience=audience, issuer=platform.issuer
    )
    return claims


def access_token(platform: Platform, tool_keys: ToolKeys, scope: str, **overrides: Any) -> httpx.Response:
    claims = {
        "iss": "tool-client",
        "sub": "tool-client",
        "aud": platform.url("/token"),
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
        "jti": uuid.uuid4().hex,
        **overrides,
    }
    return httpx.post(
        platform.url("/token"),
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": tool_keys.sign(claims),
            "scope": scope,
        },
    )


def bearer(platform: Platform, tool_keys: ToolKeys, scope: str) -> dict[str, str]:
    answer = access_token(platform, tool_keys, scope)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_resource_link_launch_carries_a_signed_id_token_with_the_advantage_claims(platform: Platform) -> None:
    link = platform.add_link("Ledger", {"assignment": "py-ledger"}, {"label": "Ledger", "scoreMaximum": 100})
    with signed_in(platform, "learner-1") as client:
        form = launch_form(platform, client, f"/launch/{link['id']}", nonce="nonce-1")
    assert form.action == f"{TOOL}/lti/launch" and form.fields["state"] == "state-1"
    header = jwt.get_unverified_header(form.fields["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = verified(platform, form.fields["id_token"])
    assert claims["nonce"] == "nonce-1" and claims["sub"] == "learner-1" and claims["azp"] == "tool-client"
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest" and claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == "dep-1"
    assert claims[LTI + "target_link_uri"] == f"{TOOL}/lti/launch"
    assert claims[LTI + "custom"] == {"assignment": "py-ledger"}
    assert claims[LTI + "resource_link"]["id"] == link["id"]
    assert claims[LTI + "roles"] == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
    assert claims[AGS]["lineitems"] == platform.url("/ags/lineitems")
    assert claims[AGS]["lineitem"] == platform.url(f"/ags/lineitems/{link['line_item_id']}")
    assert SCORE_SCOPE in claims[AGS]["scope"]
    assert claims[NRPS]["context_memberships_url"] == platform.url("/nrps/memberships")
    assert platform.state()["launches"][-1]["id_token"] == form.fields["id_token"]


def test_a_rotated_key_signs_the_next_launch_and_is_the_only_one_published(platform: Platform) -> None:
    old = httpx.get(platform.url("/jwks")).json()["keys"]
    kid = platform.rotate_key()
    new = httpx.get(platform.url("/jwks")).json()["keys"]
    assert [k["kid"] for k in new] == [kid] and kid not in [k["kid"] for k in old]
    link = platform.add_link("After rotation")
    with signed_in(platform, "learner-1") as client:
        form = launch_form(platform, client, f"/launch/{link['id']}")
    assert jwt.get_unverified_header(form.fields["id_token"])["kid"] == kid
    assert verified(platform, form.fields["id_token"])["sub"] == "learner-1"


def test_a_twisted_launch_spoils_only_the_next_id_token(platform: Platform) -> None:
    link = platform.add_link("Twisted")
    with signed_in(platform, "learner-1") as client:
        platform.twist_next_launch(exp_shift=-600, claims={"aud": ["tool-client", "x"]}, drop=["azp"])
        spoilt = launch_form(platform, client, f"/launch/{link['id']}").fields["id_token"]
        claims = jwt.decode(spoilt, options={"verify_signature": False})
        assert claims["exp"] < time.time() and claims["aud"] == ["tool-client", "x"] and "azp" not in claims
        with pytest.raises(jwt.ExpiredSignatureError):
            verified(platform, spoilt)
        platform.twist_next_launch(forge=True)
        forged = launch_form(platform, client, f"/launch/{link['id']}").fields["id_token"]
        with pytest.raises(jwt.InvalidSignatureError):
            verified(platform, forged)
        assert verified(platform, launch_form(platform, client, f"/launch/{link['id']}").fields["id_token"])


def test_login_initiation_by_post_sends_the_same_parameters(platform: Platform) -> None:
    link = platform.add_link("Posted")
    with signed_in(platform, "learner-2") as client:
        answer = client.get(f"/launch/{link['id']}", params={"post": "1"})
    form = FormFields(answer.text)
    assert form.action == f"{TOOL}/lti/login"
    assert form.fields["iss"] == platform.issuer and form.fields["login_hint"] == "learner-2"
    assert {"target_link_uri", "lti_message_hint", "client_id", "lti_deployment_id"} <= set(form.fields)


def test_the_authorization_endpoint_refuses_a_foreign_redirect_and_another_person(platform: Platform) -> None:
    link = platform.add_link("Guarded")
    with signed_in(platform, "learner-1") as client:
        params = dict(parse_qsl(urlsplit(client.get(f"/launch/{link['id']}").headers["location"]).query))
        base = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": "tool-client",
            "lti_message_hint": params["lti_message_hint"],
            "state": "s",
            "nonce": "n",
        }
        elsewhere = client.get(
            "/auth", params={**base, "redirect_uri": "http://evil.example/", "login_hint": "learner-1"}
        )
        assert elsewhere.status_code == 400 and "redirect_uri" in elsewhere.text
        someone_else = client.get(
            "/auth", params={**base, "redirect_uri": params["target_link_uri"], "login_hint": "learner-2"}
        )
        assert someone_else.status_code == 403 and "login_hint" in someone_else.text


def test_the_token_endpoint_checks_the_assertion_against_the_tools_jwks(
    platform: Platform, tool_keys: ToolKeys
) -> None:
    granted = access_token(platform, tool_keys, f"{SCORE_SCOPE} {ROSTER_SCOPE}")
    assert granted.status_code == 200, granted.text
    assert granted.json()["token_type"] == "bearer" and set(granted.json()["scope"].split()) == {
        SCORE_SCOPE,
        ROSTER_SCOPE,
    }

    jti = uuid.uuid4().hex
    assert access_token(platform, tool_keys, SCORE_SCOPE, jti=jti).status_code == 200
    replayed = access_token(platform, tool_keys, SCORE_SCOPE, jti=jti)
    assert replayed.status_code == 401 and "jti" in replayed.text
    assert "aud" in access_token(platform, tool_keys, SCORE_SCOPE, aud=platform.issuer + "/elsewhere").text
    assert access_token(platform, tool_keys, SCORE_SCOPE, exp=int(time.time()) - 10).status_code == 401

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = tool_keys.sign(
        {
            "iss": "tool-client",
            "sub": "tool-client",
            "aud": platform.url("/token"),
            "exp": int(time.time()) + 60,
            "jti": "x",
        },
        key=stranger,
    )
    refused = httpx.post(
        platform.url("/token"),
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": forged,
            "scope": SCORE_SCOPE,
        },
    )
    assert refused.status_code == 401 and "Signature" in refused.text


def test_names_and_roles_pages_with_link_headers(platform: Platform, tool_keys: ToolKeys) -> None:
    headers = bearer(platform, tool_keys, ROSTER_SCOPE)
    assert httpx.get(platform.url("/nrps/memberships")).status_code == 401
    url: str | None = platform.url("/nrps/memberships")
    pages: list[list[dict[str, Any]]] = []
    while url:
        answer = httpx.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/vnd.ims.lti-nrps.v2.membershipcontainer+json")
        body = answer.json()
        assert body["context"]["id"] == "course-101" and "next" not in body
        pages.append(body["members"])
        found = re.match(r'<([^>]+)>;\s*rel="next"', answer.headers.get("link", ""))
        url = found.group(1) if found else None
    assert [len(p) for p in pages] == [2, 2, 2]
    members = [m for p in pages for m in p]
    assert len({m["user_id"] for m in members}) == 6
    assert [m["user_id"] for m in members if INSTRUCTOR in m["roles"]] == ["instructor-1"]


def score(user: str, given: float = 8.5, **overrides: Any) -> dict[str, Any]:
    return {
        "userId": user,
        "scoreGiven": given,
        "scoreMaximum": 10,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": "2026-01-01T10:00:00.123456+00:00",
        "comment": "feedback at http://127.0.0.1:9/feedback",
        **overrides,
    }


def test_scores_are_recorded_and_refused_while_the_endpoint_is_down(platform: Platform, tool_keys: ToolKeys) -> None:
    link = platform.add_link("Scored", line_item={"label": "Scored", "scoreMaximum": 10, "resourceId": "scored"})
    url = platform.url(f"/ags/lineitems/{link['line_item_id']}/scores")
    headers = {**bearer(platform, tool_keys, SCORE_SCOPE), "Content-Type": "application/vnd.ims.lis.v1.score+json"}
    assert httpx.post(url, content=json.dumps(score("learner-3"))).status_code == 401
    bad = httpx.post(url, content=json.dumps(score("learner-3", timestamp="yesterday")), headers=headers)
    assert bad.status_code == 400 and "timestamp" in bad.text

    platform.scores_down(True)
    try:
        assert httpx.post(url, content=json.dumps(score("learner-3")), headers=headers).status_code == 503
    finally:
        platform.scores_down(False)
    assert httpx.post(url, content=json.dumps(score("learner-3")), headers=headers).status_code == 200
    older = score("learner-3", 1.0, timestamp="2025-01-01T00:00:00.5Z")
    assert httpx.post(url, content=json.dumps(older), headers=headers).status_code == 409

    state = platform.state()
    received = [s for s in state["scores"] if s["line_item"] == link["line_item_id"]]
    assert [s["score"]["scoreGiven"] for s in received] == [8.5]
    assert [r["line_item"] for r in state["refused_scores"]].count(link["line_item_id"]) == 1
    results = httpx.get(
        platform.url(f"/ags/lineitems/{link['line_item_id']}/results"),
        headers=bearer(platform, tool_keys, "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"),
    )
    assert [(r["userId"], r["resultScore"]) for r in results.json()] == [("learner-3", 8.5)]


def test_line_items_are_found_by_resource_id_and_created(platform: Platform, tool_keys: ToolKeys) -> None:
    headers = bearer(platform, tool_keys, LINEITEM_SCOPE)
    made = httpx.post(
        platform.url("/ags/lineitems"),
        json={"label": "Made by the tool", "scoreMaximum": 50, "resourceId": "made-1", "tag": "grade"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["id"].startswith(platform.url("/ags/lineitems/"))
    found = httpx.get(platform.url("/ags/lineitems"), params={"resource_id": "made-1"}, headers=headers)
    assert found.status_code == 200 and [i["label"] for i in found.json()] == ["Made by the tool"]
    refused = httpx.post(platform.url("/ags/lineitems"), json={"label": ""}, headers=headers)
    assert refused.status_code == 400


def test_a_deep_linking_return_places_the_content_item_with_its_line_item(
    platform: Platform, tool_keys: ToolKeys
) -> None:
    with signed_in(platform, "instructor-1") as client:
        form = launch_form(platform, client, "/deep-link/start", nonce="dl-nonce")
        claims = verified(platform, form.fields["id_token"])
        assert claims[LTI + "message_type"] == "LtiDeepLinkingRequest"
        settings = claims[DL + "deep_linking_settings"]
        assert settings["accept_types"] == ["ltiResourceLink"]
        response = {
            "iss": "tool-client",
            "aud": platform.issuer,
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
            "nonce": uuid.uuid4().hex,
            LTI + "deployment_id": "dep-1",
            LTI + "message_type": "LtiDeepLinkingResponse",
            LTI + "version": "1.3.0",
            DL + "data": settings["data"],
            DL + "content_items": [
                {
                    "type": "ltiResourceLink",
                    "title": "Double-entry ledger",
                    "custom": {"assignment": "py-ledger"},
                    "lineItem": {"scoreMaximum": 100, "label": "Double-entry ledger", "resourceId": "py-ledger"},
                }
            ],
        }
        wrong_data = client.post(
            settings["deep_link_return_url"], data={"JWT": tool_keys.sign({**response, DL + "data": "other"})}
        )
        assert wrong_data.status_code == 400 and "data" in wrong_data.text
        placed = client.post(settings["deep_link_return_url"], data={"JWT": tool_keys.sign(response)})
        assert placed.status_code == 200, placed.text
        assert "Double-entry ledger" in placed.text
    state = platform.state()
    returned = state["deep_link_returns"][-1]
    link = state["links"][returned["links"][0]]
    assert link["custom"] == {"assignment": "py-ledger"}
    item = next(i for i in state["line_items"] if i.get("resourceLinkId") == link["id"])
    assert (item["scoreMaximum"], item["label"], item["resourceId"]) == (100, "Double-entry ledger", "py-ledger")


def test_dynamic_registration_needs_the_token_and_gives_a_client_id(tmp_path: Path, tool_keys: ToolKeys) -> None:
    with running_platform(tmp_path) as fresh:
        configuration = httpx.get(fresh.url("/.well-known/openid-configuration")).json()
        assert configuration["registration_endpoint"] == fresh.url("/register")
        request = {
            "application_type": "web",
            "response_types": ["id_token"],
            "grant_types": ["implicit", "client_credentials"],
            "initiate_login_uri": f"{TOOL}/lti/login",
            "redirect_uris": [f"{TOOL}/lti/launch"],
            "client_name": "Grader",
            "jwks_uri": tool_keys.url,
            "token_endpoint_auth_method": "private_key_jwt",
            "scope": SCORE_SCOPE,
            "https://purl.imsglobal.org/spec/lti-tool-configuration": {
                "domain": "127.0.0.1",
                "target_link_uri": f"{TOOL}/lti/launch",
                "messages": [{"type": "LtiDeepLinkingRequest", "target_link_uri": f"{TOOL}/lti/launch"}],
            },
        }
        assert httpx.post(configuration["registration_endpoint"], json=request).status_code == 401
        # The token reaches the tool as a query parameter of its registration URL.
        redirect = httpx.get(fresh.url("/admin/tools/register"), params={"url": f"{TOOL}/lti/register?tenant=t"})
        sent = dict(parse_qsl(urlsplit(redirect.headers["location"]).query))
        assert sent["tenant"] == "t" and sent["openid_configuration"] == fresh.url("/.well-known/openid-configuration")
        answer = httpx.post(
            configuration["registration_endpoint"],
            json=request,
            headers={"Authorization": f"Bearer {sent['registration_token']}"},
        )
        assert answer.status_code == 200, answer.text
        client_id = answer.json()["client_id"]
        assert answer.json()["https://purl.imsglobal.org/spec/lti-tool-configuration"]["deployment_id"]
        assert fresh.state()["tool"]["client_id"] == client_id


@pytest.fixture(scope="module")
def mock_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    with running_mock_provider(
        tmp_path_factory.mktemp("mock"), login_url=f"{TOOL}/lti/login", launch_url=f"{TOOL}/lti/launch"
    ) as running:
        yield running


def test_the_mock_provider_signs_a_resource_link_launch(mock_provider: MockProvider) -> None:
    with httpx.Client(base_url=mock_provider.base_url, timeout=10) as client:
        assert client.post("/login", data={"userid": "mock-learner-1"}).status_code == 303
        start = FormFields(client.get("/courses/mock-course").text)
        assert start.action == f"{TOOL}/lti/login"
        assert start.fields["iss"] == mock_provider.issuer and start.fields["client_id"] == "lti-provider-mock"
        assert start.fields["target_link_uri"] == f"{TOOL}/lti/launch" and start.fields["lti_deployment_id"] == "1"
        authorized = client.get(
            "/authorize", params={"state": "st", "nonce": "nn", "login_hint": start.fields["login_hint"]}
        )
        form = FormFields(authorized.text)
        assert form.action == f"{TOOL}/lti/launch" and form.fields["state"] == "st"
        # A login hint it did not issue is refused.
        assert client.get("/authorize", params={"state": "s", "nonce": "n", "login_hint": "other"}).status_code == 422
    keys = jwt.PyJWKClient(mock_provider.registration["jwks_url"])
    token = form.fields["id_token"]
    claims = jwt.decode(
        token, keys.get_signing_key_from_jwt(token).key, algorithms=["RS256"], audience="lti-provider-mock"
    )
    assert claims["iss"] == mock_provider.issuer and claims["sub"] == "mock-learner-1" and claims["nonce"] == "nn"
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest" and claims[LTI + "deployment_id"] == "1"
    assert claims[LTI + "context"]["id"] == "mock-course" and claims[LTI + "resource_link"]["id"] == "1"
    # What the mock cannot do, and the end-to-end tests take into account: roles and custom claims.
    assert claims[LTI + "roles"] == [] and LTI + "custom" not in claims
