"""The public pages' pure parts: content negotiation, the LinkedIn link, the default badge, what a page
reads out of a credential, and the verifier's input handling."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.requests import Request

from credentials.bake import bake, extract_credential
from grader.config import Settings
from grader.http.web.public import (
    _our_achievement,
    _unpack,
    badge_png_for,
    evidence_rows,
    linkedin_url,
    rubric_rows,
)
from grader.http.web.rendering import wants_html
from grader.issuing.badge import colour, default_badge_png, initials
from grader.issuing.tenant import achievement_image_url, achievement_url, credential_url, issuer_url


def _request(accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # chromium, firefox
        ("application/ld+json", False),
        ("application/json", False),
        ("application/did+json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0.4, application/ld+json;q=0.9", False),
        ("application/ld+json;q=0.2, text/html", True),
        ("text/html;q=bogus, application/json;q=0.1", False),
        ("*/*", False),  # curl, httpx: the document
        ("", False),
        (None, False),
        ("TEXT/HTML", True),
    ],
)
def test_wants_html(accept: str | None, html: bool) -> None:
    assert wants_html(_request(accept)) is html


def test_linkedin_url_has_every_parameter() -> None:
    url = linkedin_url(
        name="Double-Entry Ledger & Co",
        organization="Web Academy",
        issued=datetime(2026, 3, 9, tzinfo=UTC),
        expires=datetime(2028, 3, 9, tzinfo=UTC),
        cert_id="urn:uuid:1",
        cert_url="https://grader.example/api/v1/public/credentials/abc",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.linkedin.com", "/profile/add")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "startTask": "CERTIFICATION_NAME",
        "name": "Double-Entry Ledger & Co",
        "organizationName": "Web Academy",
        "issueYear": "2026",
        "issueMonth": "3",
        "expirationYear": "2028",
        "expirationMonth": "3",
        "certId": "urn:uuid:1",
        "certUrl": "https://grader.example/api/v1/public/credentials/abc",
    }
    assert "&name=Double-Entry+Ledger+%26+Co&" in url


def test_linkedin_url_without_dates() -> None:
    query = parse_qs(
        urlsplit(linkedin_url(name="n", organization="o", issued=None, expires=None, cert_id="i", cert_url="u")).query
    )
    assert "issueYear" not in query and "expirationYear" not in query


def test_issuer_urls() -> None:
    base = "https://grader.example/"
    assert issuer_url(base, "acme") == "https://grader.example/tenants/acme"
    assert (
        achievement_url(base, "acme", "py-ledger", "1.0.0")
        == "https://grader.example/tenants/acme/achievements/py-ledger/1.0.0"
    )
    assert achievement_image_url(base, "acme", "py-ledger", "1.0.0").endswith("/py-ledger/1.0.0/image.png")
    assert credential_url(base, "r1") == "https://grader.example/api/v1/public/credentials/r1"
    settings = Settings(public_url="https://grader.example")
    assert _our_achievement(settings, achievement_url(base, "acme", "py-ledger", "1.0.0") + "#score") == (
        "acme",
        "py-ledger",
        "1.0.0",
    )
    assert _our_achievement(settings, "https://elsewhere.example/tenants/acme/achievements/a/1") is None
    assert _our_achievement(settings, "https://grader.example/tenants/acme/other/a/1") is None


def test_default_badge_is_deterministic_and_distinct() -> None:
    first = default_badge_png("py-ledger", "Double-Entry Ledger Library")
    assert first == default_badge_png("py-ledger", "Double-Entry Ledger Library")
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert first != default_badge_png("py-notes-api", "Double-Entry Ledger Library")
    assert colour("a") == colour("a") != colour("b")
    assert initials("Double-Entry Ledger Library") == "DEL"
    assert initials("The Art of Testing") == "AT"
    assert initials("!!!") == "?"
    # White text on every generated colour meets WCAG AA (4.5:1).
    for seed in ("a", "b", "py-ledger", "x" * 50, "ü"):
        assert _contrast_with_white(colour(seed)) >= 4.5


def _contrast_with_white(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2])
    return 1.05 / (luminance + 0.05)


def _document() -> dict[str, Any]:
    achievement = "https://grader.example/tenants/acme/achievements/py-ledger/1.0.0"
    return {
        "id": "urn:uuid:1",
        "issuer": {"id": "did:web:grader.example:tenants:acme", "name": "Acme"},
        "credentialSubject": {
            "achievement": {
                "id": achievement,
                "name": "Ledger",
                "resultDescription": [
                    {
                        "id": f"{achievement}#criterion-core",
                        "name": "Core",
                        "resultType": "RubricCriterionLevel",
                        "valueMax": "35",
                        "rubricCriterionLevel": [
                            {"id": f"{achievement}#criterion-core-level-not-yet", "name": "Not yet", "points": "0"},
                            {
                                "id": f"{achievement}#criterion-core-level-Exemplary",
                                "name": "Exemplary",
                                "points": "35",
                            },
                        ],
                    },
                    {
                        "id": f"{achievement}#score",
                        "resultType": "RubricScore",
                        "valueMax": "100",
                        "requiredValue": "80",
                    },
                ],
            },
            "result": [
                {
                    "resultDescription": f"{achievement}#criterion-core",
                    "achievedLevel": f"{achievement}#criterion-core-level-Exemplary",
                    "value": "Exemplary",
                },
                {"resultDescription": f"{achievement}#score", "value": "92.5"},
            ],
        },
        "evidence": [
            {"id": "http://127.0.0.1:9/ledger.git#commit=abc123", "name": "Repo", "narrative": "n"},
            {"id": "javascript:alert(1)#commit=x", "name": "Hostile", "narrative": ""},
        ],
    }


def test_rubric_and_evidence_rows() -> None:
    rows, total = rubric_rows(_document())
    assert rows == [
        {
            "name": "Core",
            "level": "Exemplary",
            "points": "35",
            "max": "35",
            "levels": [
                {"name": "Not yet", "points": "0", "achieved": False},
                {"name": "Exemplary", "points": "35", "achieved": True},
            ],
        }
    ]
    assert total == {"value": "92.5", "max": "100", "required": "80"}
    evidence = evidence_rows(_document())
    assert evidence[0]["link"] == "http://127.0.0.1:9/ledger.git" and evidence[0]["commit"] == "abc123"
    assert evidence[1]["link"] == ""  # never a javascript: link
    assert rubric_rows({"credentialSubject": "nonsense"}) == ([], None)


def test_baked_png_holds_the_credential_in_the_default_badge() -> None:
    settings = Settings(public_url="https://grader.example")
    document = _document()
    image = badge_png_for(settings, document)
    assert image == default_badge_png("py-ledger", "Ledger")
    assert extract_credential(bake(image, document)) == document


def test_verifier_input() -> None:
    document = _document()
    text = json.dumps(document)
    assert _unpack(b"", text) == (text.encode(), None)
    assert _unpack(text.encode(), "ignored")[0] == text.encode()
    baked = bake(default_badge_png("x", "X"), document)
    body, problem = _unpack(baked, "")
    assert problem is None and body is not None and json.loads(body) == document
    assert "no credential baked" in str(_unpack(default_badge_png("x", "X"), "")[1])
    assert "Paste a credential" in str(_unpack(b"", "  ")[1])
    assert "neither" in str(_unpack(b"hello", "")[1])
    assert "too large" in str(_unpack(b"{" + b" " * (10 * 1024 * 1024), "")[1])
