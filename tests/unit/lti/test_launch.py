"""Login initiation and launch validation (grader.lti.launch) on SQLite, with the platform's JWKS served by
httpx.MockTransport and the two Redis commands in memory: every refusal of the Security Framework."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings
from grader.lti import claims as c
from grader.lti import launch as lti_launch
from grader.lti import net
from grader.lti.errors import LtiRefused, PlatformUnavailable
from grader.lti.platform_keys import PlatformKeys, fetcher
from grader.store import lti as store
from grader.store import tenancy
from grader.store.db import engine_for, session_factory, session_scope, upgrade
from grader.store.models import LtiRegistration
from tests.unit.lti.platform import (
    AUTH_URL,
    CLIENT_ID,
    DEPLOYMENT,
    ISSUER,
    JWKS_URL,
    TOKEN_URL,
    TOOL,
    MemoryKV,
    Platform,
    rsa_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    def __init__(self, settings: Settings, factory: sessionmaker[Session], platform: Platform) -> None:
        self.settings = settings
        self.factory = factory
        self.platform = platform
        self.kv = MemoryKV()
        self.clock = Clock()
        self.keys = PlatformKeys(fetch=fetcher(settings), clock=self.clock)

    def login(self, **params: str | None) -> dict[str, str]:
        wanted: dict[str, str | None] = {
            "iss": ISSUER,
            "login_hint": "hint-1",
            "target_link_uri": f"{TOOL}/lti/launch",
            "client_id": CLIENT_ID,
        }
        wanted.update(params)
        with self.factory() as session:
            url = lti_launch.login(session, self.kv, self.settings, lti_launch.LoginRequest(**wanted))
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

    def launch(self, id_token: str | None, state: str | None) -> tuple[LtiRegistration, c.Launch]:
        with self.factory() as session:
            return lti_launch.validate(
                session, self.kv, self.settings, self.keys, id_token=id_token, state=state, now=time.time()
            )

    def refused(self, id_token: str | None, state: str | None) -> LtiRefused:
        with pytest.raises(LtiRefused) as caught:
            self.launch(id_token, state)
        return caught.value

    def signed_launch(self, **overrides: object) -> tuple[str, str]:
        """(id_token, state) of a fresh login, the token carrying the login's nonce."""
        params = self.login()
        return self.platform.sign(self.platform.claims(params["nonce"], **overrides)), params["state"]


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    settings = Settings(home=tmp_path, redis_url="redis://127.0.0.1:1/0", public_url=TOOL)
    upgrade(settings.resolved_database_url())
    factory = session_factory(engine_for(settings.resolved_database_url()))
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, "acme", "Acme")
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
    platform = Platform()
    monkeypatch.setattr(net, "transport", platform.transport())
    yield Rig(settings, factory, platform)


def test_login_sends_the_browser_to_the_platform_with_state_and_nonce(rig: Rig) -> None:
    params = rig.login(lti_message_hint="m-1")
    assert params["redirect_uri"] == f"{TOOL}/lti/launch" and params["client_id"] == CLIENT_ID
    assert params["response_mode"] == "form_post" and params["response_type"] == "id_token"
    assert params["scope"] == "openid" and params["prompt"] == "none" and params["lti_message_hint"] == "m-1"
    assert params["login_hint"] == "hint-1" and len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert f"lti:state:{params['state']}" in rig.kv.data


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"iss": None}, "iss"),
        ({"iss": "https://unknown.example"}, "iss"),
        ({"login_hint": None}, "login_hint"),
        ({"target_link_uri": "https://phish.example/lti/launch"}, "target_link_uri"),
        ({"lti_deployment_id": "dep-unknown"}, "deployment_id"),
        ({"client_id": "client-unknown"}, "iss"),
    ],
)
def test_login_refusals(rig: Rig, params: dict[str, str | None], check: str) -> None:
    with pytest.raises(LtiRefused) as caught:
        rig.login(**params)
    assert caught.value.check == check


def test_several_registrations_of_one_issuer_need_the_client_id(rig: Rig) -> None:
    with session_scope(rig.factory) as session:
        tenant = tenancy.create_tenant(session, "beta", "Beta")
        store.create_registration(
            session,
            tenant.id,
            store.RegistrationIn(
                issuer=ISSUER, client_id="client-2", auth_login_url=AUTH_URL, token_url=TOKEN_URL, jwks_url=JWKS_URL
            ),
        )
    with pytest.raises(LtiRefused) as caught:
        rig.login(client_id=None)
    assert caught.value.check == "client_id"
    assert rig.login(client_id="client-2")["client_id"] == "client-2"
    # Without a client id, the deployment picks the registration when only one has it.
    assert rig.login(client_id=None, lti_deployment_id=DEPLOYMENT)["client_id"] == CLIENT_ID


def test_a_good_launch_passes_once(rig: Rig) -> None:
    token, state = rig.signed_launch()
    registration, launch = rig.launch(token, state)
    assert registration.client_id == CLIENT_ID and launch.sub == "user-42"
    assert rig.platform.fetches == 1
    # The same POST again (a replayed launch): the state served once.
    assert rig.refused(token, state).check == "state"


def test_a_replayed_id_token_with_a_fresh_login_is_refused(rig: Rig) -> None:
    token, state = rig.signed_launch()
    rig.launch(token, state)
    fresh = rig.login()["state"]
    assert rig.refused(token, fresh).check == "nonce"


def test_a_nonce_is_used_once_even_under_two_states(rig: Rig) -> None:
    first = rig.login()
    second_state = rig.login()["state"]
    # Give the second login the first one's nonce: only the used-nonce record can refuse now.
    rig.kv.data[f"lti:state:{second_state}"] = rig.kv.data[f"lti:state:{first['state']}"]
    token = rig.platform.sign(rig.platform.claims(first["nonce"]))
    rig.launch(token, first["state"])
    refusal = rig.refused(token, second_state)
    assert refusal.check == "nonce" and "used" in refusal.detail


def test_a_launch_without_state_or_token_is_refused(rig: Rig) -> None:
    token, state = rig.signed_launch()
    assert rig.refused(token, None).check == "state"
    assert rig.refused(token, "made-up").check == "state"
    assert rig.refused(None, state).check == "id_token"


def test_a_forged_signature_is_refused(rig: Rig) -> None:
    params = rig.login()
    forged = rig.platform.sign(rig.platform.claims(params["nonce"]), key=rsa_key())  # same kid, another key
    assert rig.refused(forged, params["state"]).check == "signature"


def test_a_tampered_payload_is_refused(rig: Rig) -> None:
    params = rig.login()
    token = rig.platform.sign(rig.platform.claims(params["nonce"]))
    header, payload, signature = token.split(".")
    other = rig.platform.sign(rig.platform.claims(params["nonce"], sub="admin")).split(".")[1]
    assert rig.refused(f"{header}.{other}.{signature}", params["state"]).check == "signature"
    assert payload != other


def test_only_rs256_is_accepted(rig: Rig) -> None:
    import jwt

    params = rig.login()
    hs = jwt.encode(
        rig.platform.claims(params["nonce"]), "secret-" * 6, algorithm="HS256", headers={"kid": rig.platform.kid}
    )
    assert rig.refused(hs, params["state"]).check == "alg"
    params = rig.login()
    unsigned = jwt.encode(rig.platform.claims(params["nonce"]), "", algorithm="none")
    assert rig.refused(unsigned, params["state"]).check == "alg"


def test_an_unknown_kid_is_fetched_again_then_refused(rig: Rig) -> None:
    token, state = rig.signed_launch()
    rig.launch(token, state)
    assert rig.platform.fetches == 1
    rig.clock.now += 60  # past the refetch pause
    params = rig.login()
    stranger = rig.platform.sign(rig.platform.claims(params["nonce"]), key=rsa_key(), kid="kid-nobody-knows")
    assert rig.refused(stranger, params["state"]).check == "kid"
    assert rig.platform.fetches == 2


def test_a_rotated_platform_key_is_found_by_fetching_again(rig: Rig) -> None:
    token, state = rig.signed_launch()
    rig.launch(token, state)
    new_key = rsa_key()
    rig.platform.extra_keys["platform-key-2"] = new_key
    rig.clock.now += 60
    params = rig.login()
    rotated = rig.platform.sign(rig.platform.claims(params["nonce"]), key=new_key, kid="platform-key-2")
    assert rig.launch(rotated, params["state"])[1].sub == "user-42"
    assert rig.platform.fetches == 2
    # Cached now: another launch with either key fetches nothing.
    token, state = rig.signed_launch()
    rig.launch(token, state)
    assert rig.platform.fetches == 2


def test_unknown_kids_in_a_burst_fetch_at_most_once(rig: Rig) -> None:
    token, state = rig.signed_launch()
    rig.launch(token, state)
    for _ in range(3):
        params = rig.login()
        stranger = rig.platform.sign(rig.platform.claims(params["nonce"]), kid="kid-nobody-knows")
        assert rig.refused(stranger, params["state"]).check == "kid"
    assert rig.platform.fetches == 1


def test_a_platform_whose_jwks_is_down_is_named(rig: Rig) -> None:
    rig.platform.jwks_status = 503
    params = rig.login()
    token = rig.platform.sign(rig.platform.claims(params["nonce"]))
    with pytest.raises(PlatformUnavailable) as caught:
        rig.launch(token, params["state"])
    assert caught.value.check == "jwks" and caught.value.status == 502


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3700}, "exp"),
        ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, "iat"),
        ({c.DEPLOYMENT_ID: "dep-unknown"}, "deployment_id"),
        ({"aud": "client-of-someone-else"}, "aud"),
        ({"aud": [CLIENT_ID, "client-of-someone-else"]}, "azp"),
        ({"iss": "https://other-platform.example"}, "iss"),
    ],
)
def test_signed_but_wrong_tokens_are_refused(rig: Rig, overrides: dict[str, object], check: str) -> None:
    token, state = rig.signed_launch(**overrides)
    assert rig.refused(token, state).check == check


def test_a_disabled_registration_launches_nothing(rig: Rig) -> None:
    token, state = rig.signed_launch()
    with session_scope(rig.factory) as session:
        for row in store.active_registrations_for(session, ISSUER, CLIENT_ID):
            row.active = False
    assert rig.refused(token, state).check == "registration"


def test_the_jwks_fetch_goes_through_the_guarded_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net, "transport", None)
    settings = Settings(home=tmp_path, public_url=TOOL)
    with pytest.raises(PlatformUnavailable) as caught:
        net.get_json(settings, "http://127.0.0.1:9/jwks", "jwks")
    assert caught.value.check == "jwks" and "not reachable from this service" in caught.value.detail
