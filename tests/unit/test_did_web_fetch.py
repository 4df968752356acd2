"""Fetching other issuers' did:web documents for the verifier (opt-in): https only, through the outbound
guard (public hosts only, checked at connect time), no redirects, capped; with a recording network under
the guard and a scripted resolver as DNS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from credentials.did import did_web, did_web_document
from credentials.models import Profile
from credentials.proof import Ed25519Signer, sign_credential
from grader.config import Settings
from grader.http import create_app
from grader.http.api import credentials as credentials_api
from grader.http.did_web import MAX_DOCUMENT_BYTES, fetch_did_web
from grader.store.db import upgrade
from tests.unit.credentials.credsamples import sample_credential
from tests.unit.outbound_fakes import CannedNetwork, ScriptedResolver, http_response

DID = "did:web:issuer.example:org"
PUBLIC = ScriptedResolver({"issuer.example": [["93.184.216.34"]]})


def serving(status: int, body: bytes) -> CannedNetwork:
    return CannedNetwork([http_response(status, body, {"Location": "https://127.0.0.1/did.json"})])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


def test_a_public_issuers_document_is_fetched_from_its_https_url(settings: Settings) -> None:
    network = serving(200, json.dumps({"id": DID}).encode())
    document, why = fetch_did_web(DID, settings, resolver=PUBLIC, network=network)
    assert document == {"id": DID} and why == ""
    (connection,) = network.connections
    assert (connection.address, connection.port, connection.tls_name) == ("93.184.216.34", 443, "issuer.example")
    assert connection.request_head.startswith("GET /org/did.json HTTP/1.1")


@pytest.mark.parametrize(
    ("addresses", "rule"),
    [(["127.0.0.1"], "loopback"), (["10.0.0.5"], "private"), (["169.254.169.254"], "link-local"),
     (["::1"], "loopback"), (["::ffff:127.0.0.1"], "loopback"), (["0.0.0.0"], "unspecified"),
     (["224.0.0.1"], "multicast"), (["93.184.216.34", "192.168.1.1"], "private"), ([], "unresolvable")],
)  # fmt: skip
def test_hosts_that_resolve_anywhere_but_the_public_internet_are_not_fetched(
    settings: Settings, addresses: list[str], rule: str
) -> None:
    network = serving(200, b"{}")
    resolver = ScriptedResolver({"issuer.example": [addresses]})
    document, why = fetch_did_web(DID, settings, resolver=resolver, network=network)
    assert document is None and f"not fetched: refused by rule '{rule}'" in why and network.connections == []


def test_ip_literal_hosts_are_judged_as_addresses(settings: Settings) -> None:
    for did in ("did:web:127.0.0.1", "did:web:%5B%3A%3A1%5D"):
        network = serving(200, b"{}")
        document, why = fetch_did_web(did, settings, resolver=ScriptedResolver({}), network=network)
        assert document is None and "refused by rule 'loopback'" in why and network.connections == []


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (302, b"", "HTTP 302"),  # redirects are not followed
        (404, b"", "HTTP 404"),
        (200, b"not json", "did not send JSON"),
        (200, json.dumps({"id": "did:web:other.example"}).encode(), "not did:web:issuer.example:org's"),
        (200, b" " * (MAX_DOCUMENT_BYTES + 1), "more than 64 KiB"),
    ],
)
def test_bad_answers_give_no_document_and_a_reason(settings: Settings, status: int, body: bytes, reason: str) -> None:
    network = serving(status, body)
    document, why = fetch_did_web(DID, settings, resolver=PUBLIC, network=network)
    assert document is None and reason in why
    assert len(network.connections) == 1


def test_not_a_did_web_is_refused_without_a_request(settings: Settings) -> None:
    network = serving(200, b"{}")
    document, why = fetch_did_web("did:key:z6Mk", settings, resolver=PUBLIC, network=network)
    assert document is None and "not a did:web" in why and network.connections == []


def test_the_verifier_uses_a_fetched_did_web_document_only_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Ed25519PrivateKey.generate()
    issuer = did_web("issuer.example", "org")
    document = did_web_document(issuer, [("key-1", key.public_key())])
    credential = sign_credential(
        sample_credential(issuer=Profile(id=issuer, name="Other Academy")), Ed25519Signer(key, f"{issuer}#key-1")
    )
    asked: list[str] = []

    def fake_fetch(did: str, settings: Settings) -> tuple[dict[str, Any] | None, str]:
        asked.append(did)
        return document, ""

    monkeypatch.setattr(credentials_api, "fetch_did_web", fake_fetch)
    for allowed in (False, True):
        settings = Settings(home=tmp_path / str(allowed), redis_url="redis://127.0.0.1:1/0", resolve_did_web=allowed)
        upgrade(settings.resolved_database_url())
        with TestClient(create_app(settings)) as client:
            answer = client.post("/api/v1/verify", json=credential).json()
        checks = {c["name"]: c["outcome"] for c in answer["checks"]}
        assert (checks["issuer_key"] == "passed") is allowed, answer
        assert answer["issuer_trusted"] is False  # fetched is not trusted: it is not one of this service's issuers
    assert asked == [issuer]
