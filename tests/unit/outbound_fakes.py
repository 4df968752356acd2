"""The borders of the outbound guard, faked for tests: DNS (a resolver answering from a script) and the
sockets under the guard (a network that records every connection it is asked to open)."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpcore


def http_response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class ScriptedResolver:
    """Answers each lookup of a name with the next of its scripted answers (the last one repeats)."""

    answers: dict[str, list[list[str]]]
    asked: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        script = self.answers[host]
        return script.pop(0) if len(script) > 1 else script[0]


@dataclass
class Connection:
    address: str
    port: int
    sent: bytearray = field(default_factory=bytearray)
    tls_name: str | None = None

    @property
    def request_head(self) -> str:
        return bytes(self.sent).split(b"\r\n\r\n", 1)[0].decode()


class CannedStream(httpcore.NetworkStream):
    def __init__(self, connection: Connection, answer: bytes) -> None:
        self.connection = connection
        self.chunks = [answer]

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.connection.sent += buffer

    def close(self) -> None:
        pass

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self.connection.tls_name = server_hostname  # no handshake: this network is a recording
        return self


class CannedNetwork(httpcore.NetworkBackend):
    """Every connection answers the next canned response (the last one repeats); all are recorded."""

    def __init__(self, answers: Iterable[bytes]) -> None:
        self.answers = list(answers)
        self.connections: list[Connection] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        connection = Connection(host, port)
        self.connections.append(connection)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return CannedStream(connection, answer)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(c.address, c.port) for c in self.connections]


class RoutedNetwork(httpcore.NetworkBackend):
    """A stand-in internet: connections to `public` addresses reach a real server on loopback, anything
    else is unreachable. Records the address every connection was opened to."""

    def __init__(self, public: Iterable[str], loopback_port: int) -> None:
        self.public = set(public)
        self.loopback_port = loopback_port
        self.opened: list[tuple[str, int]] = []
        self.real = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self.opened.append((host, port))
        if (host == "127.0.0.1" and port == self.loopback_port) or host in self.public:
            return self.real.connect_tcp("127.0.0.1", self.loopback_port, timeout, local_address, socket_options)
        raise httpcore.ConnectError(f"{host} is unreachable from the tests")
