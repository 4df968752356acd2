"""A platform for the unit tests: its own RSA keys, a JWKS served by httpx.MockTransport (counting
fetches), id_tokens signed as a real LTI 1.3 platform signs them, and an in-memory stand-in for the
two Redis commands the launch uses."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from grader.lti import claims as c

ISSUER = "https://lms.example.edu"
CLIENT_ID = "client-1"
DEPLOYMENT = "dep-1"
JWKS_URL = "https://lms.example.edu/jwks"
AUTH_URL = "https://lms.example.edu/auth"
TOKEN_URL = "https://lms.example.edu/token"
TOOL = "http://testserver"

INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Platform:
    key: rsa.RSAPrivateKey = field(default_factory=rsa_key)
    kid: str = "platform-key-1"
    extra_keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    fetches: int = 0
    jwks_status: int = 200

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in {self.kid: self.key, **self.extra_keys}.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == JWKS_URL:
            self.fetches += 1
            return httpx.Response(self.jwks_status, json=self.jwks())
        return httpx.Response(404, json={"error": "not here"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def claims(self, nonce_value: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "user-42",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce_value,
            "name": "Ann Learner",
            "email": "Ann@Example.ORG",
            c.MESSAGE_TYPE: c.RESOURCE_LINK_REQUEST,
            c.VERSION: "1.3.0",
            c.DEPLOYMENT_ID: DEPLOYMENT,
            c.TARGET_LINK_URI: f"{TOOL}/lti/launch",
            c.RESOURCE_LINK: {"id": "link-1", "title": "Ledger"},
            c.ROLES: [LEARNER],
            c.CONTEXT: {"id": "course-1", "title": "Python 101", "label": "PY101"},
            c.CUSTOM: {"assignment": "py-ledger"},
            c.AGS_ENDPOINT: {
                "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                "lineitems": f"{ISSUER}/courses/1/lineitems",
                "lineitem": f"{ISSUER}/courses/1/lineitems/7",
            },
            c.NRPS: {"context_memberships_url": f"{ISSUER}/courses/1/members", "service_versions": ["2.0"]},
        }
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    def sign(self, claims: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


class MemoryKV:
    """SET (NX, EX) and GETDEL, as Redis does them; expiry is not simulated (no test waits)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.expiries: dict[str, int | None] = {}

    def set(self, name: str, value: str, *, ex: int | None = None, nx: bool = False) -> bool | None:
        if nx and name in self.data:
            return None
        self.data[name] = value
        self.expiries[name] = ex
        return True

    def getdel(self, name: str) -> str | None:
        self.expiries.pop(name, None)
        return self.data.pop(name, None)


def new_nonce() -> str:
    return uuid.uuid4().hex
