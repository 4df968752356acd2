"""Webhooks and the outbound guard: a URL the guard refuses is refused at registration through the API
(the real app on SQLite, a 422 naming the rule), and again at delivery time (the address is checked
when the connection opens), where the refusal is final; the operator's allowlist lets a loopback
receiver in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from grader.config import Settings
from grader.core.policy import Scope
from grader.core.webhook_signing import DELIVERY_HEADER, SIGNATURE_HEADER
from grader.http import create_app
from grader.notify import webhooks
from grader.store import tenancy
from grader.store.db import engine_for, session_factory, session_scope, upgrade

EVENTS = ["submission.graded"]


def app_settings(home: Path, *allow: str) -> Settings:
    return Settings(home=home, redis_url="redis://127.0.0.1:1/0", outbound_allow=list(allow))


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, str]]]]:
    got: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            got.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", got
    httpd.shutdown()
    httpd.server_close()


def admin_client(settings: Settings) -> tuple[TestClient, str]:
    upgrade(settings.resolved_database_url())
    with session_scope(session_factory(engine_for(settings.resolved_database_url()))) as session:
        tenant = tenancy.tenant_by_slug(session, "acme") or tenancy.create_tenant(session, "acme", "Acme")
        key = tenancy.create_api_key(session, tenant.id, [Scope.ADMIN])[1]
    return TestClient(create_app(settings), headers={"Authorization": f"Bearer {key}"}), key


@pytest.fixture(scope="module")
def guarded_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real app on SQLite, with no allowlist: one for the table below."""
    client, _key = admin_client(app_settings(tmp_path_factory.mktemp("guarded")))
    with client:
        yield client


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1:9000/hook", "loopback"),
        ("http://localhost/hook", "internal-name"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "internal-name"),
        ("http://10.0.0.8/", "private"),
        ("http://[fd00::8]/", "private"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://2130706433/", "loopback"),  # the URL type already reads it as 127.0.0.1
        ("http://0x7f.1/", "loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),
        ("http://224.0.0.251/", "multicast"),
    ],
)
def test_registering_a_webhook_to_a_forbidden_address_is_a_422_naming_the_rule(
    guarded_api: TestClient, url: str, rule: str
) -> None:
    answer = guarded_api.post("/api/v1/webhooks", json={"url": url, "events": EVENTS})
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/destination-refused"
    assert f"refused by rule '{rule}'" in problem["detail"]
    assert problem["errors"][0]["location"] == "body.url"
    assert guarded_api.get("/api/v1/webhooks").json() == []  # nothing was registered


def test_public_and_allowlisted_receivers_are_registered(tmp_path: Path, receiver: tuple[str, object]) -> None:
    client, _key = admin_client(app_settings(tmp_path, "127.0.0.0/8"))
    with client:
        for url in ("https://93.184.216.34/hooks", receiver[0]):
            answer = client.post("/api/v1/webhooks", json={"url": url, "events": EVENTS})
            assert answer.status_code == 201, answer.text
        assert len(client.get("/api/v1/webhooks").json()) == 2


def test_delivery_checks_again_when_it_connects(tmp_path: Path, receiver: tuple[str, list[dict[str, str]]]) -> None:
    """A URL registered while it was allowed (or whose DNS changed since) is refused at delivery, finally."""
    url, got = receiver
    payload = {"type": "submission.graded", "id": "evt-1", "data": {}}
    refused = webhooks.send(app_settings(tmp_path), url, "s" * 32, payload, "dlv-1", 1_700_000_000)
    assert refused.refused and not refused.delivered and got == []
    assert refused.error is not None and "refused by rule 'loopback'" in refused.error
    sent = webhooks.send(app_settings(tmp_path, "127.0.0.1"), url, "s" * 32, payload, "dlv-2", 1_700_000_000)
    assert sent.delivered and not sent.refused and sent.status_code == 204
    assert len(got) == 1 and got[0][DELIVERY_HEADER.lower()] == "dlv-2" and SIGNATURE_HEADER.lower() in got[0]
