"""Fetching other issuers' did:web documents for the verifier (opt-in): https only, public hosts only,
no redirects, capped; with httpx's MockTransport as the network and a fake resolver as DNS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from credentials.did import did_web, did_web_document
from credentials.models import Profile
from credentials.proof import Ed25519Signer, sign_credential
from grader.config import Settings
from grader.http import create_app
from grader.http.api import credentials as credentials_api
from grader.http.did_web import MAX_DOCUMENT_BYTES, fetch_did_web, public_host
from grader.store.db import upgrade
from tests.unit.credentials.credsamples import sample_credential

DID = "did:web:issuer.example:org"


def public(host: str) -> list[str]:
    return ["93.184.216.34"]


def serving(status: int, body: bytes, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body, headers={"Location": "https://127.0.0.1/did.json"})

    return httpx.MockTransport(handle)


def test_a_public_issuers_document_is_fetched_from_its_https_url() -> None:
    seen: list[httpx.Request] = []
    document, why = fetch_did_web(DID, serving(200, json.dumps({"id": DID}).encode(), seen), public)
    assert document == {"id": DID} and why == ""
    assert [str(r.url) for r in seen] == ["https://issuer.example/org/did.json"]


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["10.0.0.5"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"], ["0.0.0.0"], ["224.0.0.1"],
     ["93.184.216.34", "192.168.1.1"], []],
)
def test_hosts_that_resolve_anywhere_but_the_public_internet_are_not_fetched(addresses: list[str]) -> None:
    seen: list[httpx.Request] = []
    document, why = fetch_did_web(DID, serving(200, b"{}", seen), lambda host: addresses)
    assert document is None and "not a public address" in why and seen == []


def test_ip_literal_hosts_are_judged_as_addresses() -> None:
    assert not public_host("127.0.0.1", public) and not public_host("[::1]", public)
    assert public_host("93.184.216.34", lambda host: [])


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
def test_bad_answers_give_no_document_and_a_reason(status: int, body: bytes, reason: str) -> None:
    document, why = fetch_did_web(DID, serving(status, body), public)
    assert document is None and reason in why


def test_not_a_did_web_is_refused_without_a_request() -> None:
    document, why = fetch_did_web("did:key:z6Mk", serving(200, b"{}"), public)
    assert document is None and "not a did:web" in why


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

    def fake_fetch(did: str) -> tuple[dict[str, Any] | None, str]:
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
