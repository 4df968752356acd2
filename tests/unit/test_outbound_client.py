"""The guarded clients (grader.outbound): every connection goes to an address that was checked, a DNS
answer that changes between check and connect cannot redirect it (the lookup happens once, in the
connect), redirects into forbidden addresses are refused, the operator's allowlist opens what it names.
DNS is a scripted resolver; the sockets are real on loopback, or a recording network under the guard."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from grader import outbound
from grader.config import Settings
from grader.outbound.guard import bounded
from tests.conftest import run_in_fresh_thread
from tests.unit.outbound_fakes import CannedNetwork, RoutedNetwork, ScriptedResolver, http_response

PUBLIC = "93.184.216.34"


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str]]

    def _answer(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Host", "")))
        body = b"inside"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, list[tuple[str, str, str]]]]:
    """A real HTTP server on loopback: what an attacker wants the service to reach."""
    seen: list[tuple[str, str, str]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def settings(tmp_path: Path, *allow: str) -> Settings:
    return Settings(home=tmp_path, outbound_allow=list(allow), outbound_timeout_s=3)


def test_loopback_is_refused_before_any_socket_opens_and_allowed_when_the_operator_says(
    tmp_path: Path, server: tuple[int, list[tuple[str, str, str]]]
) -> None:
    port, seen = server
    with outbound.client(settings(tmp_path)) as http, pytest.raises(outbound.DestinationRefused) as refused:
        http.get(f"http://127.0.0.1:{port}/admin")
    assert refused.value.rule == "loopback" and seen == []
    with outbound.client(settings(tmp_path, "127.0.0.0/8")) as http:
        assert http.get(f"http://127.0.0.1:{port}/hook").text == "inside"
    assert seen == [("GET", "/hook", f"127.0.0.1:{port}")]


def test_a_rebinding_dns_answer_cannot_redirect_the_connection(
    tmp_path: Path, server: tuple[int, list[tuple[str, str, str]]]
) -> None:
    """The name answers a public address first and loopback next (a rebinding DNS server). The check and
    the connection use one lookup: the socket goes to the public address that was checked, never to the
    second answer; a later connection that gets the loopback answer is refused."""
    port, seen = server
    resolver = ScriptedResolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
    network = RoutedNetwork(public=[PUBLIC], loopback_port=port)
    with outbound.client(settings(tmp_path), resolver=resolver, network=network) as http:
        assert http.get(f"http://rebind.example:{port}/first").status_code == 200
    assert network.opened == [(PUBLIC, port)]
    assert resolver.asked == ["rebind.example"]  # one lookup for check and connect
    assert seen == [("GET", "/first", f"rebind.example:{port}")]  # the Host header is still the name
    with (
        outbound.client(settings(tmp_path), resolver=resolver, network=network) as http,
        pytest.raises(outbound.DestinationRefused) as refused,
    ):
        http.get(f"http://rebind.example:{port}/second")
    assert refused.value.rule == "loopback" and "rebind.example resolves to 127.0.0.1" in str(refused.value)
    assert network.opened == [(PUBLIC, port)] and len(seen) == 1


def test_tls_keeps_the_name_while_the_socket_is_pinned_to_the_checked_address(tmp_path: Path) -> None:
    network = CannedNetwork([http_response(200, b"{}")])
    resolver = ScriptedResolver({"hooks.example.org": [[PUBLIC]]})
    with outbound.client(settings(tmp_path), resolver=resolver, network=network) as http:
        assert http.post("https://hooks.example.org/in", json={}).status_code == 200
    (connection,) = network.connections
    assert (connection.address, connection.port) == (PUBLIC, 443)
    assert connection.tls_name == "hooks.example.org"
    assert "\r\nHost: hooks.example.org\r\n" in connection.request_head + "\r\n"


def test_one_forbidden_answer_among_public_ones_refuses_the_name(tmp_path: Path) -> None:
    network = CannedNetwork([http_response(200)])
    resolver = ScriptedResolver({"mixed.example": [[PUBLIC, "10.0.0.9"]]})
    with (
        outbound.client(settings(tmp_path), resolver=resolver, network=network) as http,
        pytest.raises(outbound.DestinationRefused) as refused,
    ):
        http.get("https://mixed.example/")
    assert refused.value.rule == "private" and network.connections == []


@pytest.mark.parametrize(
    ("location", "rule"),
    [
        ("http://127.0.0.1/secret", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://2130706433/", "encoded-ip"),
        ("http://metadata.google.internal/", "internal-name"),
        ("http://inside.example/", "private"),  # a name that resolves to a private address
    ],
)
def test_redirects_into_forbidden_addresses_are_refused(tmp_path: Path, location: str, rule: str) -> None:
    resolver = ScriptedResolver({"hooks.example.org": [[PUBLIC]], "inside.example": [["192.168.7.7"]]})
    for follow in ("by hand", "by httpx"):
        network = CannedNetwork([http_response(302, headers={"Location": location}), http_response(200, b"secret")])
        with (
            outbound.client(settings(tmp_path), resolver=resolver, network=network) as http,
            pytest.raises(outbound.DestinationRefused) as refused,
        ):
            if follow == "by hand":
                outbound.request(settings(tmp_path), "GET", "https://hooks.example.org/", http=http)
            else:
                http.get("https://hooks.example.org/", follow_redirects=True)
        assert refused.value.rule == rule, (follow, str(refused.value))
        assert network.addresses == [(PUBLIC, 443)], follow  # nothing opened toward the redirect


def test_redirects_to_public_hosts_are_followed_up_to_the_limit(tmp_path: Path) -> None:
    resolver = ScriptedResolver({"a.example": [[PUBLIC]], "b.example": [["93.184.216.35"]]})
    network = CannedNetwork([http_response(303, headers={"Location": "https://b.example/done"}), http_response(200)])
    with outbound.client(settings(tmp_path), resolver=resolver, network=network) as http:
        answer = outbound.request(settings(tmp_path), "POST", "https://a.example/", http=http, json={"x": 1})
    assert answer.status_code == 200 and answer.request.method == "GET"  # a 303 is followed with a GET
    assert network.addresses == [(PUBLIC, 443), ("93.184.216.35", 443)]
    looping = CannedNetwork([http_response(302, headers={"Location": "/again"})])
    with (
        outbound.client(settings(tmp_path), resolver=resolver, network=looping) as http,
        pytest.raises(httpx.TooManyRedirects),
    ):
        outbound.request(settings(tmp_path), "GET", "https://a.example/", http=http, max_redirects=2)
    assert len(looping.connections) == 3  # the first request and two redirects, each on a fresh connection


def test_the_allowlist_opens_networks_and_names(tmp_path: Path) -> None:
    resolver = ScriptedResolver({"lms.campus.test": [["10.4.0.2"]], "other.example": [["10.4.0.3"]]})
    network = CannedNetwork([http_response(200)])
    allowed = settings(tmp_path, "lms.campus.test", "10.9.0.0/16")
    with outbound.client(allowed, resolver=resolver, network=network) as http:
        assert http.get("https://lms.campus.test/jwks").status_code == 200
        assert http.get("http://10.9.1.1/").status_code == 200
        with pytest.raises(outbound.DestinationRefused):
            http.get("https://other.example/")
    assert network.addresses == [("10.4.0.2", 443), ("10.9.1.1", 80)]


def test_a_name_that_does_not_resolve_is_a_network_error_at_delivery_and_a_refusal_at_configuration(
    tmp_path: Path,
) -> None:
    resolver = ScriptedResolver({})
    with outbound.client(settings(tmp_path), resolver=resolver) as http, pytest.raises(httpx.ConnectError):
        http.get("https://gone.example/")
    with pytest.raises(outbound.DestinationRefused) as refused:
        outbound.check_destination(settings(tmp_path), "https://gone.example/", resolver)
    assert refused.value.rule == "unresolvable"
    outbound.check_destination(settings(tmp_path), "https://ok.example/", ScriptedResolver({"ok.example": [[PUBLIC]]}))


def test_the_async_client_is_guarded_the_same_way(
    tmp_path: Path, server: tuple[int, list[tuple[str, str, str]]]
) -> None:
    port, seen = server

    async def run() -> None:
        async with outbound.async_client(settings(tmp_path)) as http:
            with pytest.raises(outbound.DestinationRefused):
                await http.get(f"http://127.0.0.1:{port}/")
        async with outbound.async_client(settings(tmp_path, "127.0.0.1")) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/async")).text == "inside"

    run_in_fresh_thread(run)  # the session's Playwright may hold the main thread's loop
    assert [path for _, path, _ in seen] == ["/async"]


def test_a_lookup_that_hangs_is_given_up_and_a_failed_one_reported() -> None:
    release = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        release.wait(30)
        return [PUBLIC]

    def failing(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    try:
        with pytest.raises(OSError, match=r"looking up slow\.example took more than 0\.2 s"):
            outbound.Guard(resolver=bounded(hanging, 0.2)).addresses("slow.example", 443)
    finally:
        release.set()
    with pytest.raises(OSError, match="no such name"):
        outbound.Guard(resolver=bounded(failing, 5)).addresses("gone.example", 443)
    assert outbound.Guard(resolver=bounded(lambda h, p: [PUBLIC], 5)).addresses("ok.example", 443)[0].exploded == PUBLIC
