"""The client the tests drive the learner's service with. The grader sets GRADER_SERVICE_URL."""

from __future__ import annotations

import http.client
import json
import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class Api:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80

    def request(self, method: str, path: str, payload=None, raw: bytes | None = None) -> Response:
        body = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, payload=None, raw=None):
        return self.request("POST", path, payload, raw)

    def put(self, path, payload):
        return self.request("PUT", path, payload)

    def patch(self, path, payload):
        return self.request("PATCH", path, payload)

    def delete(self, path):
        return self.request("DELETE", path)

    def create(self, **fields):
        response = self.post("/notes", fields)
        assert response.status == 201, (response.status, response.body)
        return response.json


@pytest.fixture(scope="session")
def api() -> Api:
    return Api(os.environ["GRADER_SERVICE_URL"])


@pytest.fixture
def tag() -> str:
    """A tag no other test uses, so tests sharing one running service never see each other's notes."""
    return "t-" + uuid.uuid4().hex[:12]
