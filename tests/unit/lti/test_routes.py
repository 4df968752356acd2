"""The LTI routes through the real FastAPI app in-process (SQLite; the platform's JWKS and Dynamic
Registration endpoints on httpx.MockTransport; Redis's two commands in memory): JWKS, configuration,
login, learner and instructor launches into the web pages, refusal pages, Deep Linking, the registrations
API, Dynamic Registration, the admin page and the roster page."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from grader.config import Settings
from grader.core.policy import Scope
from grader.http import create_app
from grader.http.web import lti as lti_routes
from grader.lti import claims as c
from grader.lti import keys as tool_keys
from grader.lti import net, nrps
from grader.lti.nrps import Member
from grader.store import lti as store
from grader.store import tenancy
from grader.store.db import session_scope, upgrade
from grader.store.models import LtiRegistration, LtiResourceLink, LtiUser
from tests.unit.lti.platform import (
    AUTH_URL,
    CLIENT_ID,
    DEPLOYMENT,
    INSTRUCTOR,
    ISSUER,
    JWKS_URL,
    TOKEN_URL,
    TOOL,
    MemoryKV,
    Platform,
)
from tests.unit.test_web_learner import CSRF, Site
from tests.unit.test_web_learner import make_settings as web_settings

CHECK = re.compile(r'<code id="lti-check">([^<]+)</code>')
CHEAP_SCRYPT = {"n": 2**10, "r": 8, "p": 1}


class Lms(Site):
    kv: MemoryKV
    platform: Platform
    admin_key: str

    def key_with(self, slug: str, *scopes: Scope) -> str:
        with session_scope(self.factory) as session:
            found = tenancy.tenant_by_slug(session, slug)
            assert found is not None
            return tenancy.create_api_key(session, found.id, list(scopes))[1]

    def register(self) -> None:
        with session_scope(self.factory) as session:
            tenant = tenancy.tenant_by_slug(session, "acme")
            assert tenant is not None
            store.create_registration(
                session,
                tenant.id,
                store.RegistrationIn(
                    issuer=ISSUER,
                    client_id=CLIENT_ID,
                    auth_login_url=AUTH_URL,
                    token_url=TOKEN_URL,
                    jwks_url=JWKS_URL,
                    deployments=[DEPLOYMENT],
                ),
            )

    def login(self, client: TestClient | None = None) -> dict[str, str]:
        answer = (client or self.client).get(
            "/lti/login",
            params={"iss": ISSUER, "login_hint": "u", "target_link_uri": f"{TOOL}/lti/launch", "client_id": CLIENT_ID},
            follow_redirects=False,
        )
        assert answer.status_code == 302, answer.text
        return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}

    def launch(self, client: TestClient | None = None, /, **overrides: Any) -> httpx.Response:
        params = self.login(client)
        token = self.platform.sign(self.platform.claims(params["nonce"], **overrides))
        answer: httpx.Response = (client or self.client).post(
            "/lti/launch", data={"id_token": token, "state": params["state"]}, follow_redirects=False
        )
        return answer

    def deep_link_claims(self, **overrides: Any) -> dict[str, Any]:
        settings = {"deep_link_return_url": f"{ISSUER}/deep_links", "data": "opaque-data", "accept_multiple": False}
        values: dict[str, Any] = {
            c.MESSAGE_TYPE: c.DEEP_LINKING_REQUEST,
            c.DL_SETTINGS: settings,
            c.ROLES: [INSTRUCTOR],
            c.RESOURCE_LINK: None,
            c.CUSTOM: None,
        }
        values.update(overrides)
        return values


@dataclass(frozen=True)
class Template:
    """One migrated store with the tenant, its published assignment, the registration and the tool's key,
    copied for each test (migrating and publishing anew each time would be most of a test's time)."""

    database: Path
    admin_key: str
    platform_key: rsa.RSAPrivateKey


# The platforms of these tests answer through httpx.MockTransport under names that do not resolve; the
# operator's allowlist is what lets a registration name them.
TEST_PLATFORM_HOSTS = ["canvas.example", "lms.example.edu", "moodle.example", "a.example", "bb.example"]


def make_settings(home: Path) -> Settings:
    return web_settings(home).model_copy(update={"outbound_allow": TEST_PLATFORM_HOSTS})


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    home = tmp_path_factory.mktemp("lti-template")
    settings = make_settings(home)
    upgrade(settings.resolved_database_url())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tool_keys, "_SCRYPT", CHEAP_SCRYPT)
        with TestClient(create_app(settings)) as client:
            site = Lms(client, settings)
            admin_key = site.tenant("acme")
            site.publish_ledger(admin_key)
            site.register()
            assert client.get("/lti/jwks").status_code == 200  # creates the tool's key
    yield Template(database=home / "grader.db", admin_key=admin_key, platform_key=Platform().key)


@pytest.fixture
def lms(template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lms]:
    settings = make_settings(tmp_path)
    for part in template.database.parent.glob(template.database.name + "*"):  # the WAL with it
        shutil.copyfile(part, tmp_path / part.name)
    kv = MemoryKV()
    platform = Platform(key=template.platform_key)
    monkeypatch.setattr(lti_routes, "_kv", lambda request: kv)
    monkeypatch.setattr(net, "transport", platform.transport())
    # A cheaper scrypt for the tool key (the blob records its parameters; decrypt follows them).
    monkeypatch.setattr(tool_keys, "_SCRYPT", CHEAP_SCRYPT)
    with TestClient(create_app(settings)) as client:
        site = Lms(client, settings)
        site.kv, site.platform, site.admin_key = kv, platform, template.admin_key
        yield site


def test_the_tools_jwks_and_canvas_configuration(lms: Lms) -> None:
    keys = lms.client.get("/lti/jwks").json()["keys"]
    assert len(keys) == 1 and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig" and keys[0]["kid"]
    assert "d" not in keys[0] and keys[0]["kty"] == "RSA"  # the public half only
    config = lms.client.get("/lti/config.json", params={"tenant": "acme"}).json()
    assert config["oidc_initiation_url"] == f"{TOOL}/lti/login" and config["target_link_uri"] == f"{TOOL}/lti/launch"
    assert config["public_jwk_url"] == f"{TOOL}/lti/jwks"
    assert lms.client.get("/lti/config.json", params={"tenant": "nobody"}).status_code == 404


def test_login_by_post_redirects_with_303(lms: Lms) -> None:
    answer = lms.client.post(
        "/lti/login",
        data={"iss": ISSUER, "login_hint": "u", "target_link_uri": f"{TOOL}/lti/launch", "lti_message_hint": "m"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith(AUTH_URL + "?")
    assert parse_qs(urlsplit(answer.headers["location"]).query)["lti_message_hint"] == ["m"]


def test_a_learner_lands_on_the_assignment_signed_in_as_themselves(lms: Lms) -> None:
    answer = lms.launch()
    assert answer.status_code == 303 and answer.headers["location"] == "/learn/assignments/py-ledger"
    cookie = answer.headers["set-cookie"].lower()
    assert "grader_session=" in cookie and "samesite=lax" in cookie and "httponly" in cookie
    page = lms.client.get(answer.headers["location"])
    assert page.status_code == 200 and "Double-entry ledger library" in page.text
    assert 'name="repo_url"' in page.text
    with session_scope(lms.factory) as session:
        user = session.scalars(select(LtiUser)).one()
        assert (user.sub, user.learner, user.email) == ("user-42", "Ann@example.org", "Ann@Example.ORG")
        link = session.scalars(select(LtiResourceLink)).one()
        assert link.ags_lineitem_url == f"{ISSUER}/courses/1/lineitems/7" and link.assignment_id is not None


def test_the_learner_mapping_is_kept_and_a_user_without_email_gets_a_reserved_name(lms: Lms) -> None:
    assert lms.launch(email=None, sub="no-mail").status_code == 303
    assert lms.launch(email="later@example.org", sub="no-mail").status_code == 303
    with session_scope(lms.factory) as session:
        user = session.scalars(select(LtiUser).where(LtiUser.sub == "no-mail")).one()
        assert user.learner.endswith("@lms.invalid") and user.email == "later@example.org"


def test_the_stored_placement_serves_a_launch_without_the_custom_parameter(lms: Lms) -> None:
    assert lms.launch().status_code == 303
    again = lms.launch(**{c.CUSTOM: None})
    assert again.status_code == 303 and again.headers["location"] == "/learn/assignments/py-ledger"
    other = lms.launch(**{c.CUSTOM: None, c.RESOURCE_LINK: {"id": "link-new"}})
    assert other.status_code == 404 and CHECK.search(other.text).group(1) == "assignment"  # type: ignore[union-attr]
    teacher = lms.launch(**{c.CUSTOM: None, c.RESOURCE_LINK: {"id": "link-new"}, c.ROLES: [INSTRUCTOR]})
    assert teacher.status_code == 303 and teacher.headers["location"] == "/author"
    assert "names no assignment yet" in lms.client.get("/author").text


def test_an_instructor_lands_on_the_class_results_with_a_roster_link(lms: Lms, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = lms.launch(**{c.ROLES: [INSTRUCTOR]}, sub="teacher-1", email="t@example.org")
    assert answer.status_code == 303 and answer.headers["location"] == "/author/assignments/py-ledger"
    page = lms.client.get(answer.headers["location"])
    assert page.status_code == 200
    roster = re.search(r'href="(/lti/contexts/[0-9a-f]+/roster)"', page.text)
    assert roster is not None
    members = [Member(user_id="user-42", name="Ann Learner", roles=["Learner"], email="ann@example.org")]
    monkeypatch.setattr(nrps, "roster", lambda session, context_id, **kw: members)
    listed = lms.client.get(roster.group(1))
    assert listed.status_code == 200 and "Ann Learner" in listed.text and "user-42" in listed.text
    # A learner session opens no author page and no roster.
    learner = TestClient(lms.client.app)
    assert lms.launch(learner).status_code == 303
    assert learner.get(roster.group(1), follow_redirects=False).status_code == 303


def test_an_instructor_session_ends_when_the_registration_is_disabled(lms: Lms) -> None:
    answer = lms.launch(**{c.ROLES: [INSTRUCTOR]}, sub="teacher-1")
    assert lms.client.get(answer.headers["location"]).status_code == 200
    with session_scope(lms.factory) as session:
        for row in session.scalars(select(LtiRegistration)):
            row.active = False
    gone = lms.client.get("/author/assignments/py-ledger", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/author/sign-in"


def test_a_refused_launch_is_a_page_naming_the_check_and_a_log_line(lms: Lms, caplog: pytest.LogCaptureFixture) -> None:
    params = lms.login()
    token = lms.platform.sign(lms.platform.claims(params["nonce"]))
    with caplog.at_level(logging.WARNING, logger="grader.lti"):
        first = lms.client.post(
            "/lti/launch", data={"id_token": token, "state": params["state"]}, follow_redirects=False
        )
        replay = lms.client.post("/lti/launch", data={"id_token": token, "state": params["state"]})
    assert first.status_code == 303
    assert replay.status_code == 400 and CHECK.search(replay.text).group(1) == "state"  # type: ignore[union-attr]
    assert "text/html" in replay.headers["content-type"] and "Traceback" not in replay.text
    assert any("check=state" in r.getMessage() for r in caplog.records)
    wrong = lms.launch(aud="another-tool")
    assert wrong.status_code == 400 and CHECK.search(wrong.text).group(1) == "aud"  # type: ignore[union-attr]
    unknown = lms.launch(**{c.DEPLOYMENT_ID: "dep-x"})
    assert unknown.status_code == 403 and CHECK.search(unknown.text).group(1) == "deployment_id"  # type: ignore[union-attr]


def test_deep_linking_returns_a_signed_content_item_with_its_line_item(lms: Lms) -> None:
    picker = lms.launch(**lms.deep_link_claims())
    assert picker.status_code == 200 and 'value="py-ledger"' in picker.text
    handle = re.search(r'name="handle" value="([^"]+)"', picker.text)
    assert handle is not None
    answer = lms.client.post("/lti/deep-link", data={"handle": handle.group(1), "assignment": "py-ledger"})
    assert answer.status_code == 200
    assert f'action="{ISSUER}/deep_links"' in answer.text
    assert f"form-action {ISSUER}" in answer.headers["content-security-policy"]
    token = re.search(r'name="JWT" value="([^"]+)"', answer.text)
    assert token is not None
    jwks = jwt.PyJWKSet.from_dict(lms.client.get("/lti/jwks").json())
    kid = jwt.get_unverified_header(token.group(1))["kid"]
    body = jwt.decode(token.group(1), jwks[kid].key, algorithms=["RS256"], audience=ISSUER)
    assert body["iss"] == CLIENT_ID and body[c.MESSAGE_TYPE] == c.DEEP_LINKING_RESPONSE
    assert body[c.DEPLOYMENT_ID] == DEPLOYMENT and body[c.DL_DATA] == "opaque-data"
    (item,) = body[c.DL_CONTENT_ITEMS]
    assert item["type"] == "ltiResourceLink" and item["custom"] == {"assignment": "py-ledger"}
    assert item["lineItem"]["resourceId"] == "py-ledger" and item["lineItem"]["scoreMaximum"] > 0
    assert item["lineItem"]["label"] == "Double-entry ledger library" and item["url"] == f"{TOOL}/lti/launch"
    again = lms.client.post("/lti/deep-link", data={"handle": handle.group(1), "assignment": "py-ledger"})
    assert again.status_code == 400 and CHECK.search(again.text).group(1) == "deep_link"  # type: ignore[union-attr]


def test_only_an_instructor_may_deep_link(lms: Lms) -> None:
    answer = lms.launch(
        **lms.deep_link_claims(**{c.ROLES: ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]})
    )
    assert answer.status_code == 403 and CHECK.search(answer.text).group(1) == "roles"  # type: ignore[union-attr]


def test_the_registrations_api(lms: Lms) -> None:
    admin = {"Authorization": f"Bearer {lms.admin_key}"}
    body = {
        "issuer": "https://canvas.example",
        "client_id": "10000000000001",
        "auth_login_url": "https://canvas.example/api/lti/authorize_redirect",
        "token_url": "https://canvas.example/login/oauth2/token",
        "jwks_url": "https://canvas.example/api/lti/security/jwks",
        "deployments": ["1:abc"],
    }
    made = lms.client.post("/api/v1/lti/registrations", json=body, headers=admin)
    assert made.status_code == 201 and made.json()["deployments"] == ["1:abc"]
    assert lms.client.post("/api/v1/lti/registrations", json=body, headers=admin).status_code == 409
    second = lms.client.post("/api/v1/lti/registrations", json={**body, "client_id": "10000000000002"}, headers=admin)
    assert second.status_code == 201  # several registrations of one issuer
    bad = lms.client.post("/api/v1/lti/registrations", json={**body, "jwks_url": "not a url"}, headers=admin)
    assert bad.status_code == 422
    metadata = {**body, "client_id": "3", "jwks_url": "http://169.254.169.254/latest/meta-data/"}
    inside = lms.client.post("/api/v1/lti/registrations", json=metadata, headers=admin)
    assert inside.status_code == 422 and inside.json()["type"].endswith("/destination-refused")
    assert inside.json()["errors"][0]["location"] == "body.jwks_url" and "link-local" in inside.json()["detail"]
    rid = made.json()["id"]
    added = lms.client.post(
        f"/api/v1/lti/registrations/{rid}/deployments", json={"deployment_id": "2:def"}, headers=admin
    )
    assert added.json()["deployments"] == ["1:abc", "2:def"]
    assert lms.client.delete(f"/api/v1/lti/registrations/{rid}/deployments/1:abc", headers=admin).status_code == 204
    off = lms.client.patch(f"/api/v1/lti/registrations/{rid}", json={"active": False}, headers=admin)
    assert off.json()["active"] is False and off.json()["deployments"] == ["2:def"]
    listed = lms.client.get("/api/v1/lti/registrations", headers=admin).json()
    assert {r["client_id"] for r in listed} == {CLIENT_ID, "10000000000001", "10000000000002"}
    invite = lms.client.post("/api/v1/lti/invite", headers=admin).json()
    assert invite["url"].startswith(f"{TOOL}/lti/register?invite=")
    author = lms.key_with("acme", Scope.AUTHOR)
    assert lms.client.get("/api/v1/lti/registrations", headers={"Authorization": f"Bearer {author}"}).status_code == 403
    other = lms.tenant("beta")
    foreign = lms.client.get(f"/api/v1/lti/registrations/{rid}", headers={"Authorization": f"Bearer {other}"})
    assert foreign.status_code == 404
    assert lms.client.delete(f"/api/v1/lti/registrations/{rid}", headers=admin).status_code == 204


def test_dynamic_registration_with_an_invitation(lms: Lms, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []
    moodle = "https://moodle.example"

    def platform(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": moodle,
                    "authorization_endpoint": f"{moodle}/mod/lti/auth.php",
                    "token_endpoint": f"{moodle}/mod/lti/token.php",
                    "jwks_uri": f"{moodle}/mod/lti/certs.php",
                    "registration_endpoint": f"{moodle}/mod/lti/openid-registration.php",
                    "https://purl.imsglobal.org/spec/lti-platform-configuration": {"product_family_code": "moodle"},
                },
            )
        if request.url.path == "/mod/lti/openid-registration.php" and request.method == "POST":
            return httpx.Response(
                200,
                json={
                    "client_id": "moodle-client-7",
                    "https://purl.imsglobal.org/spec/lti-tool-configuration": {"deployment_id": "9"},
                },
            )
        return httpx.Response(404)

    monkeypatch.setattr(net, "transport", httpx.MockTransport(platform))
    admin = {"Authorization": f"Bearer {lms.admin_key}"}
    url = lms.client.post("/api/v1/lti/invite", headers=admin).json()["url"]
    config_url = f"{moodle}/.well-known/openid-configuration"
    # The platform appends its parameters to the URL it was given.
    answer = lms.client.get(
        url + "&" + urlencode({"openid_configuration": config_url, "registration_token": "reg-tok"})
    )
    assert answer.status_code == 200 and "moodle-client-7" in answer.text and 'id="lti-close"' in answer.text
    posted = [r for r in seen if r.method == "POST"]
    assert len(posted) == 1 and posted[0].headers["authorization"] == "Bearer reg-tok"
    sent = json.loads(posted[0].content)
    assert sent["initiate_login_uri"] == f"{TOOL}/lti/login" and sent["jwks_uri"] == f"{TOOL}/lti/jwks"
    assert sent["redirect_uris"] == [f"{TOOL}/lti/launch"] and sent["token_endpoint_auth_method"] == "private_key_jwt"
    with session_scope(lms.factory) as session:
        row = session.scalars(select(LtiRegistration).where(LtiRegistration.client_id == "moodle-client-7")).one()
        assert row.issuer == moodle and row.source == "dynamic" and store.deployments_of(session, row) == ["9"]
        assert row.jwks_url == f"{moodle}/mod/lti/certs.php"
    bare = lms.client.get("/lti/register", params={"openid_configuration": config_url, "registration_token": "x"})
    assert bare.status_code == 403 and CHECK.search(bare.text).group(1) == "invite"  # type: ignore[union-attr]
    forged = lms.client.get("/lti/register", params={"invite": "forged.token", "openid_configuration": config_url})
    assert forged.status_code == 403 and CHECK.search(forged.text).group(1) == "invite"  # type: ignore[union-attr]


def test_dynamic_registration_refuses_an_issuer_on_another_host(lms: Lms, monkeypatch: pytest.MonkeyPatch) -> None:
    def platform(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "issuer": "https://victim.example",
                "authorization_endpoint": "https://a.example/auth",
                "token_endpoint": "https://a.example/token",
                "jwks_uri": "https://a.example/jwks",
                "registration_endpoint": "https://a.example/register",
            },
        )

    monkeypatch.setattr(net, "transport", httpx.MockTransport(platform))
    url = lms.client.post("/api/v1/lti/invite", headers={"Authorization": f"Bearer {lms.admin_key}"}).json()["url"]
    answer = lms.client.get(
        url + "&" + urlencode({"openid_configuration": "https://a.example/.well-known/openid-configuration"})
    )
    assert answer.status_code == 400 and CHECK.search(answer.text).group(1) == "openid_configuration"  # type: ignore[union-attr]


def test_the_admin_page_registers_a_platform_by_hand(lms: Lms) -> None:
    token = lms.csrf("/author/sign-in")
    lms.client.post("/author/sign-in", data={"api_key": lms.admin_key, "csrf_token": token})
    page = lms.client.get("/author/lti")
    assert page.status_code == 200 and CLIENT_ID in page.text and "/lti/register?invite=" in page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    form = {
        "csrf_token": csrf.group(1),
        "issuer": "https://bb.example",
        "client_id": "bb-1",
        "auth_login_url": "https://bb.example/auth",
        "token_url": "https://bb.example/token",
        "jwks_url": "ftp://bb.example/jwks",
        "deployments": "d1, d2",
    }
    bad = lms.client.post("/author/lti/registrations", data=form)
    assert bad.status_code == 422 and "jwks_url" in bad.text
    good = lms.client.post("/author/lti/registrations", data={**form, "jwks_url": "https://bb.example/jwks"})
    assert good.status_code == 200 and "bb-1" in good.text and "d1, d2" in good.text
    assert lms.client.post("/author/lti/registrations", data={**form, "csrf_token": "wrong"}).status_code == 403
