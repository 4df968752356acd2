"""httpx clients whose every connection goes to an address the guard checked.

The check sits in the network backend, the one place that opens sockets: `connect_tcp(host, port)`
resolves `host` once, judges every answer, and connects to one of those very addresses. There is no
second lookup for a rebinding DNS server to answer differently, redirects (followed by `request` or by
httpx itself) open their connections through the same backend, and no proxy is read from the
environment. TLS still verifies the certificate against the name (SNI) and the Host header is the
name's: only the socket's address is pinned.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable
from typing import Any

import anyio.to_thread
import httpcore
import httpx

from grader.config import Settings
from grader.core.netpolicy import Allowlist, DestinationRefused, check_url
from grader.outbound.guard import Guard, Resolver

REDIRECTS = frozenset({301, 302, 303, 307, 308})


class PinnedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the guard returned for the host asked for."""

    def __init__(self, guard: Guard, inner: httpcore.NetworkBackend | None = None) -> None:
        self.guard = guard
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Raises DestinationRefused, or httpcore.ConnectError when the name does not resolve or no
        checked address answers."""
        try:
            addresses = self.guard.addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        failure: Exception = httpcore.ConnectError(f"{host}: no address to connect to")
        for address in addresses:
            try:
                return self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise DestinationRefused("scheme", "outbound requests never use local sockets")


class AsyncPinnedBackend(httpcore.AsyncNetworkBackend):
    """PinnedBackend for async clients: the lookup runs in a worker thread, off the event loop."""

    def __init__(self, guard: Guard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.guard = guard
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Raises DestinationRefused, or httpcore.ConnectError (see PinnedBackend.connect_tcp)."""
        try:
            addresses = await anyio.to_thread.run_sync(functools.partial(self.guard.addresses, host, port))
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        failure: Exception = httpcore.ConnectError(f"{host}: no address to connect to")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("scheme", "outbound requests never use local sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _pool_options(verify: ssl.SSLContext | bool) -> dict[str, Any]:
    return {
        "ssl_context": httpx.create_ssl_context(verify=verify, trust_env=False),
        "max_connections": 20,
        "max_keepalive_connections": 5,
    }


def _client_options(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    return {"timeout": settings.outbound_timeout_s, "follow_redirects": False, **options, "trust_env": False}


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport (request and response mapping, errors) over a pool that connects through
    PinnedBackend. The pool replaces the one httpx built; tests/unit/test_outbound_client.py fails if a
    later httpx stops routing connections through it."""

    def __init__(
        self, guard: Guard, *, network: httpcore.NetworkBackend | None = None, verify: ssl.SSLContext | bool = True
    ) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore.ConnectionPool(network_backend=PinnedBackend(guard, network), **_pool_options(verify))


class AsyncGuardedTransport(httpx.AsyncHTTPTransport):
    """GuardedTransport for httpx.AsyncClient."""

    def __init__(
        self,
        guard: Guard,
        *,
        network: httpcore.AsyncNetworkBackend | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=AsyncPinnedBackend(guard, network), **_pool_options(verify)
        )


def client(
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    network: httpcore.NetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
    **options: Any,
) -> httpx.Client:
    """An httpx.Client whose connections all pass the guard (settings.outbound_allow lifts it), with
    settings.outbound_timeout_s as its timeout and no redirects followed unless asked (`options` go to
    httpx.Client). `resolver` and `network` are seams for tests: DNS, and the sockets under the guard.
    Raises ValueError when settings.outbound_allow is malformed; requests raise DestinationRefused."""
    transport = GuardedTransport(Guard.of(settings, resolver), network=network, verify=verify)
    return httpx.Client(transport=transport, **_client_options(settings, options))


def async_client(
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    network: httpcore.AsyncNetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
    **options: Any,
) -> httpx.AsyncClient:
    """client() for async code: the same guard, the DNS lookup in a worker thread."""
    transport = AsyncGuardedTransport(Guard.of(settings, resolver), network=network, verify=verify)
    return httpx.AsyncClient(transport=transport, **_client_options(settings, options))


def check_destination(settings: Settings, url: str, resolver: Resolver | None = None) -> None:
    """Judge a URL when it is configured (webhook registration, a platform's endpoints): the scheme is
    http or https and its host passes the guard now. Delivery checks again at connect time.
    Raises DestinationRefused naming the rule (`exc.rule`)."""
    Guard.of(settings, resolver).check_url(url)


def request(
    settings: Settings,
    method: str,
    url: str,
    *,
    http: httpx.Client | None = None,
    max_redirects: int | None = None,
    **options: Any,
) -> httpx.Response:
    """One request (read whole) with at most `max_redirects` (default settings.outbound_max_redirects)
    redirects followed by hand, each Location judged before it is asked for and its connection checked
    by the backend as well. 303, and 301/302 after a POST, become a GET without a body, as browsers do.
    `http` is a client from client() to reuse (one is made and closed otherwise). Raises
    DestinationRefused (a hop broke a rule), httpx.TooManyRedirects and httpx's transport errors."""
    hops = settings.outbound_max_redirects if max_redirects is None else max_redirects
    allow = Allowlist.parse(settings.outbound_allow)
    own = http is None
    session = client(settings) if http is None else http
    try:
        check_url(url, allow)
        response = session.request(method, url, follow_redirects=False, **options)
        for hop in range(hops + 1):
            if response.status_code not in REDIRECTS or "location" not in response.headers:
                return response
            if hop == hops:
                break
            target = response.url.join(response.headers["location"])
            check_url(str(target), allow)
            if response.status_code == 303 or (response.status_code in (301, 302) and method.upper() == "POST"):
                method = "GET"
                options = {k: v for k, v in options.items() if k not in ("content", "data", "files", "json")}
            response.close()
            response = session.request(method, target, follow_redirects=False, **options)
        raise httpx.TooManyRedirects(f"more than {hops} redirects from {url}", request=response.request)
    finally:
        if own:
            session.close()
