"""The outbound rule (grader.core.netpolicy), as a table: each form of a forbidden address, refused with
its rule; public destinations allowed; the operator's allowlist; resolved answers judged all together."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from grader.core.netpolicy import Allowlist, DestinationRefused, check_host, check_resolved, check_url, loose_ipv4

NOTHING = Allowlist()

REFUSED = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.8.9.10:8080/hook", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.254/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "private"),  # carrier-grade NAT
    ("http://[fc00::1]/", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0.1.2.3/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://255.255.255.255/", "reserved"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.10/", "reserved"),
    ("http://198.18.0.1/", "reserved"),
    ("http://[2001:db8::1]/", "reserved"),
    # IPv4 inside IPv6: mapped, compatible, SIIT, NAT64 (well-known and local-use), 6to4
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[::127.0.0.1]/", "loopback"),
    ("http://[::ffff:0:127.0.0.1]/", "loopback"),
    ("http://[64:ff9b::127.0.0.1]/", "loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),
    ("http://[64:ff9b:1::1]/", "private"),
    ("http://[2002:c0a8:101::1]/", "private"),  # 6to4 of 192.168.1.1
    # IPv4 in other bases or with fewer parts: refused whatever they decode to, public ones too
    ("http://2130706433/", "encoded-ip"),
    ("http://0x7f.1/", "encoded-ip"),
    ("http://0x7f000001/", "encoded-ip"),
    ("http://017700000001/", "encoded-ip"),
    ("http://0177.0.0.1/", "encoded-ip"),
    ("http://127.1/", "encoded-ip"),
    ("http://127.000.000.001/", "encoded-ip"),
    ("http://134744072/", "encoded-ip"),  # 8.8.8.8
    # names only a local network has
    ("http://localhost:8000/", "internal-name"),
    ("http://LOCALHOST./", "internal-name"),
    ("http://api.localhost/", "internal-name"),
    ("http://metadata.google.internal/computeMetadata/v1/", "internal-name"),
    ("http://metadata/", "internal-name"),
    ("http://printer.local/", "internal-name"),
    ("http://router.home.arpa/", "internal-name"),
    # not a destination at all
    ("ftp://example.com/", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://example.com:70/", "scheme"),
    ("http://1.2.3.4.5/", "host"),
    ("http://example.123/", "host"),
    ("http:///nohost", "host"),
    ("http://example.com:99999/", "url"),
]

ALLOWED = [
    "https://example.com/hooks/grader",
    "http://93.184.216.34:8080/x",
    "https://[2606:4700:4700::1111]/",
    "https://[64:ff9b::808:808]/",  # NAT64 of 8.8.8.8
    "https://[::ffff:8.8.8.8]/",
    "https://Hooks.Example.ORG./in",
]


@pytest.mark.parametrize(("url", "rule"), REFUSED)
def test_each_forbidden_form_is_refused_with_its_rule(url: str, rule: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        check_url(url, NOTHING)
    assert refused.value.rule == rule, str(refused.value)
    assert f"refused by rule '{rule}'" in str(refused.value)


@pytest.mark.parametrize("url", ALLOWED)
def test_public_destinations_pass(url: str) -> None:
    destination, verdict = check_url(url, NOTHING)
    assert destination.host == verdict.host and destination.port in (80, 443, 8080)


def test_the_message_names_what_an_embedded_address_really_is() -> None:
    with pytest.raises(DestinationRefused, match=r"127\.0\.0\.1 in an IPv6 form, a loopback address"):
        check_host("::ffff:127.0.0.1", NOTHING)
    with pytest.raises(DestinationRefused, match=r"\(127\.0\.0\.1, loopback"):
        check_host("2130706433", NOTHING)


@pytest.mark.parametrize(
    "text",
    ["2130706433", "0x7f.1", "0x7f000001", "017700000001", "0177.0.0.1", "127.1", "127.0.1", "1.2.3.4",
     "0", "0x", "0xff.0xff.0xff.0xff", "255.255.255.255", "4294967295", "4294967296", "256.1.1.1", "08.1",
     "1.2.3.4.5", "1..2", "0x1g", "1.65536", "1.2.65536", "1.0x1000000"],
)  # fmt: skip
def test_encoded_ipv4_is_read_as_the_c_library_reads_it(text: str) -> None:
    try:
        expected: ipaddress.IPv4Address | None = ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        expected = None
    assert loose_ipv4(text) == expected


def test_every_resolved_address_must_pass() -> None:
    verdict = check_host("hooks.example.org", NOTHING)
    assert check_resolved(verdict, ["93.184.216.34", "2606:2800:220:1::1"], NOTHING) == [
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("2606:2800:220:1::1"),
    ]
    with pytest.raises(DestinationRefused, match=r"hooks\.example\.org resolves to 10\.0\.0\.7") as refused:
        check_resolved(verdict, ["93.184.216.34", "10.0.0.7"], NOTHING)
    assert refused.value.rule == "private"
    with pytest.raises(DestinationRefused) as nothing:
        check_resolved(verdict, [], NOTHING)
    assert nothing.value.rule == "unresolvable"


def test_the_allowlist_lifts_the_rule_for_what_it_names_only() -> None:
    allow = Allowlist.parse(["127.0.0.0/8", "10.20.0.0/16", "::1", "lti-platform.test", "Hooks.Corp."])
    assert check_host("127.0.0.1", allow).address == ipaddress.ip_address("127.0.0.1")
    assert check_host("[::1]", allow).address == ipaddress.ip_address("::1")
    named = check_host("hooks.corp", allow)
    assert named.trusted and check_resolved(named, ["192.168.3.4"], allow)  # allowed by name: its addresses too
    assert check_host("lti-platform.test", allow).trusted
    inside = check_host("build.example.org", allow)
    assert check_resolved(inside, ["10.20.3.4"], allow) == [ipaddress.ip_address("10.20.3.4")]
    for host, rule in [("10.21.0.1", "private"), ("169.254.169.254", "link-local"), ("localhost", "internal-name")]:
        with pytest.raises(DestinationRefused) as refused:
            check_host(host, allow)
        assert refused.value.rule == rule
    with pytest.raises(DestinationRefused):
        check_resolved(inside, ["10.21.0.1"], allow)
    with pytest.raises(DestinationRefused) as encoded:  # an allowed network written another way is still refused
        check_host("2130706433", allow)
    assert encoded.value.rule == "encoded-ip"


@pytest.mark.parametrize("entry", ["127.0.0.1:8000", "http://hooks.example", "", "a b", "10.0.0.0/33"])
def test_a_malformed_allowlist_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="outbound allowlist entry"):
        Allowlist.parse([entry])
