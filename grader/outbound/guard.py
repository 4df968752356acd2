"""The guard's shell: resolve a host with the system's resolver (or an injected one), then judge every
answer by the pure rule of grader.core.netpolicy. The network backends of grader.outbound.client
connect to what this returns and nothing else."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from grader.config import Settings
from grader.core.netpolicy import (
    Allowlist,
    DestinationRefused,
    IPAddress,
    check_host,
    check_resolved,
    check_url,
)

# host, port -> the addresses it resolves to, as text; raises OSError (socket.gaierror) when it cannot.
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The C resolver's answers, in its order of preference, without repeats. Raises OSError."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


def bounded(resolver: Resolver, timeout_s: float) -> Resolver:
    """`resolver` with a deadline: getaddrinfo cannot be cancelled, so it finishes in a daemon thread
    while the caller gets OSError at once (a destination whose DNS hangs costs a request, not a worker)."""

    def resolve(host: str, port: int) -> list[str]:
        answer: list[list[str]] = []
        failure: list[OSError] = []

        def run() -> None:
            try:
                answer.append(resolver(host, port))
            except OSError as exc:
                failure.append(exc)
            except Exception as exc:  # e.g. UnicodeError from the IDNA codec: a name that does not resolve
                failure.append(OSError(f"{host} does not resolve: {exc}"))

        thread = threading.Thread(target=run, name=f"resolve {host}", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if failure:
            raise failure[0]
        if not answer:
            raise OSError(f"looking up {host} took more than {timeout_s:g} s")
        return answer[0]

    return resolve


@dataclass(frozen=True)
class Guard:
    allow: Allowlist = field(default_factory=Allowlist)
    resolver: Resolver = system_resolver

    @classmethod
    def of(cls, settings: Settings, resolver: Resolver | None = None) -> Guard:
        """Raises ValueError when an entry of `settings.outbound_allow` is malformed."""
        return cls(
            Allowlist.parse(settings.outbound_allow), resolver or bounded(system_resolver, settings.outbound_timeout_s)
        )

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for `host`, every one of them checked; one DNS answer, used once.
        Raises DestinationRefused (a rule is broken) or OSError (the name does not resolve now)."""
        verdict = check_host(host, self.allow)
        answers = [] if verdict.address is not None else self.resolver(verdict.host, port)
        return check_resolved(verdict, answers, self.allow)

    def check_url(self, url: str) -> list[IPAddress]:
        """Judge a URL where it is configured (a webhook registered, a platform added): scheme, host and
        what it resolves to now. Raises DestinationRefused, 'unresolvable' included."""
        destination, verdict = check_url(url, self.allow)
        if verdict.trusted:  # allowlisted by name: the operator vouches for it, resolvable now or not
            return []
        try:
            return self.addresses(destination.host, destination.port)
        except OSError as exc:
            raise DestinationRefused("unresolvable", f"'{destination.host}' does not resolve: {exc}") from exc
