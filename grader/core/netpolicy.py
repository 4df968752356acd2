"""Which network destinations the service may call out to (webhooks, LMS platforms, did:web documents).
Pure: a host name or the addresses it resolved to in, the checked addresses or a named refusal out.

The rule: every address a destination resolves to must be a public (global unicast) one. Refused are
loopback, link-local (cloud metadata at 169.254.169.254 included), private and shared (carrier-grade NAT)
ranges, multicast, unspecified, reserved and broadcast addresses, and the same behind IPv6 forms that
embed an IPv4 address (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16).
Hosts written as IPv4 in another base or with fewer parts (2130706433, 0x7f.1, 017700000001) are refused
whatever they decode to, and so are names that only mean something inside a network (localhost,
*.internal such as metadata.google.internal, *.local, one-label names). An operator allowlist of networks
(CIDR) and host names lifts the rule for what it names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = [
    "Allowlist",
    "Destination",
    "DestinationRefused",
    "HostVerdict",
    "IPAddress",
    "check_host",
    "check_resolved",
    "check_url",
    "forbidden_range",
    "is_ip_literal",
    "loose_ipv4",
    "normalize_host",
]


class DestinationRefused(ValueError):
    """An outbound destination broke a named rule of the outbound policy (`rule`: loopback, private, ...)."""

    code = "destination-refused"

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"refused by rule '{rule}': {message}")


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# (rule, networks, why): checked in order, the first match names the refusal.
_FORBIDDEN: tuple[tuple[str, tuple[IPNetwork, ...], str], ...] = (
    ("unspecified", _nets("0.0.0.0/8", "::/128"), "the unspecified address ('this host')"),
    ("loopback", _nets("127.0.0.0/8", "::1/128"), "a loopback address (this machine)"),
    ("link-local", _nets("169.254.0.0/16", "fe80::/10"), "a link-local address (cloud metadata lives here)"),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"), "a private network address"),
    ("private", _nets("100.64.0.0/10"), "a shared address (carrier-grade NAT)"),
    ("private", _nets("fc00::/7", "fec0::/10"), "a unique- or site-local IPv6 address"),
    ("private", _nets("64:ff9b:1::/48"), "a local-use NAT64 address"),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8"), "a multicast address"),
    ("reserved", _nets("240.0.0.0/4"), "a reserved address (broadcast 255.255.255.255 included)"),
    (
        "reserved",
        _nets("192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24"),
        "a reserved address (protocol assignments, documentation, benchmarking, relay anycast)",
    ),
    ("reserved", _nets("100::/64", "2001::/23", "2001:db8::/32"), "a reserved IPv6 address (discard, Teredo, ...)"),
)

# IPv6 prefixes whose low 32 bits are an IPv4 address that the packet ends up at (NAT64, SIIT, mapped, compatible).
_EMBEDDING_LOW32 = _nets("::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")

# Names that mean something only inside a network: special-use (RFC 6761, 6762, 8375) and private-use suffixes.
_INTERNAL_SUFFIXES = (
    "localhost", "local", "localdomain", "internal", "intranet", "lan", "home", "corp", "private", "home.arpa",
    "arpa", "test", "invalid",
)  # fmt: skip
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]+|[0-9]+)$")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _SIXTOFOUR:
        return address.sixtofour
    for network in _EMBEDDING_LOW32:
        if address in network and int(address) > 1:  # :: and ::1 are themselves, not 0.0.0.0 and 0.0.0.1
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_range(address: IPAddress) -> tuple[str, str] | None:
    """(rule, why) when `address` is not a public unicast address, None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "link-local", "an address with a zone (scope) id"
        inner = _embedded_ipv4(address)
        if inner is not None:
            found = forbidden_range(inner)
            return None if found is None else (found[0], f"{inner} in an IPv6 form, {found[1]}")
    for rule, networks, why in _FORBIDDEN:
        if any(address in network for network in networks):
            return rule, why
    if not address.is_global:  # whatever the table above misses, the standard library's registry catches
        return "reserved", "not a globally routable address"
    return None


def _inet_aton_part(part: str) -> int | None:
    if part.startswith("0x"):
        return int(part[2:], 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if set(part) <= set("01234567") else None
    return int(part)


def loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """What the C resolver (inet_aton) reads `host` as: dotted with 1 to 4 parts, each decimal, octal
    (leading 0) or hex (0x); None when it is not such a number."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    values = [_inet_aton_part(p) for p in parts]
    if any(v is None for v in values):
        return None
    *head, last = [v for v in values if v is not None]
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def is_ip_literal(host: str) -> bool:
    """Whether `host` (brackets allowed around IPv6) is written as an IP address in its usual form."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Allowlist:
    """What an operator lets through despite the rule: networks (CIDR or single addresses) and host names."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Raises ValueError naming an entry that is neither a network, an address nor a host name."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not entry or not all(_LABEL.match(label) for label in entry.split(".")):
                raise ValueError(
                    f"outbound allowlist entry {raw!r} is neither a CIDR network, an address nor a host name"
                )
            hosts.add(entry)
        return cls(tuple(networks), frozenset(hosts))

    def allows_host(self, host: str) -> bool:
        return host in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


@dataclass(frozen=True)
class HostVerdict:
    """A host that passed the name rules: `address` when it is an IP literal, `trusted` when allowlisted
    by name (then whatever it resolves to is accepted)."""

    host: str
    address: IPAddress | None
    trusted: bool


def normalize_host(host: str) -> str:
    return host.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")


def check_host(host: str, allow: Allowlist) -> HostVerdict:
    """Apply the rules that need no DNS. Raises DestinationRefused naming the rule broken."""
    name = normalize_host(host)
    if not name:
        raise DestinationRefused("host", "the destination names no host")
    if allow.allows_host(name):
        return HostVerdict(name, None, trusted=True)
    if "%" in name:
        raise DestinationRefused("link-local", f"'{host}' names an interface (zone id)")
    if is_ip_literal(name):  # the usual forms only: the standard library refuses 0177.0.0.1 and 127.1
        address = ipaddress.ip_address(name)
        _check_address(name, address, allow)
        return HostVerdict(name, address, trusted=False)
    decoded = loose_ipv4(name)
    if decoded is not None:
        found = forbidden_range(decoded)
        kind = f"{found[0]}: {found[1]}" if found else "public"
        raise DestinationRefused(
            "encoded-ip",
            f"'{host}' is an IPv4 address written in another base or with fewer parts ({decoded}, {kind}); "
            "write addresses as four decimal parts",
        )
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels) or _NUMERIC_PART.match(labels[-1]):
        raise DestinationRefused("host", f"'{host}' is neither a host name nor an IP address")
    for suffix in _INTERNAL_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            raise DestinationRefused("internal-name", f"'{host}' is a name only a local network has (.{suffix})")
    if len(labels) == 1:
        raise DestinationRefused("internal-name", f"'{host}' is a one-label name, resolved only inside a network")
    return HostVerdict(name, None, trusted=False)


def _check_address(host: str, address: IPAddress, allow: Allowlist) -> None:
    if allow.allows_address(address):
        return
    found = forbidden_range(address)
    if found is not None:
        rule, why = found
        where = host if is_ip_literal(host) else f"{host} resolves to {address}, which"
        raise DestinationRefused(rule, f"{where} is {why}")


def check_resolved(verdict: HostVerdict, addresses: Sequence[str], allow: Allowlist) -> list[IPAddress]:
    """The addresses a host that passed check_host resolved to, parsed and each checked: one forbidden
    answer among public ones refuses the host (unless it is allowlisted by name). Raises DestinationRefused."""
    if verdict.address is not None:
        return [verdict.address]
    if not addresses:
        raise DestinationRefused("unresolvable", f"'{verdict.host}' resolves to no address")
    parsed: list[IPAddress] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:
            raise DestinationRefused("unresolvable", f"'{verdict.host}' resolved to {text!r}, not an address") from exc
        if not verdict.trusted:
            _check_address(verdict.host, address, allow)
        parsed.append(address)
    return parsed


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int


def check_url(
    url: str, allow: Allowlist, schemes: Sequence[str] = ("https", "http")
) -> tuple[Destination, HostVerdict]:
    """The scheme, host and port of an outbound URL with its host's verdict. Raises DestinationRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused("url", f"{url!r} is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise DestinationRefused("scheme", f"scheme '{scheme}' is not allowed; allowed: {list(schemes)}")
    host = parts.hostname or ""
    verdict = check_host(host, allow)
    return Destination(scheme, verdict.host, port or (443 if scheme == "https" else 80)), verdict
