"""The URL policy of DESIGN.md "Fetch": every rule, with the URL that breaks it and one that does not."""

from __future__ import annotations

import pytest

from grader.core.urlpolicy import UrlRefused, check_ref, check_repo_url

HOSTS = ["github.com", "git.example.edu:8443", "127.0.0.1:9418"]
SCHEMES = ["https"]


def refused_rule(url: str, hosts: list[str] = HOSTS, schemes: list[str] = SCHEMES) -> str:
    with pytest.raises(UrlRefused) as refused:
        check_repo_url(url, hosts, schemes)
    assert refused.value.rule in str(refused.value)
    return refused.value.rule


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("", "empty"),
        ("https://github.com/" + "a" * 2100, "too-long"),
        ("-uevil", "option-injection"),
        ("--upload-pack=touch /tmp/x", "option-injection"),
        ("ext::sh -c touch% /tmp/x", "transport-helper"),
        ("ext::sh", "transport-helper"),
        ("fd::3", "transport-helper"),
        ("https::github.com/a/b", "transport-helper"),
        ("https://github.com/a b.git", "control-characters"),
        ("https://github.com/a\n/b.git", "control-characters"),
        ("https://github.com/a\x00b.git", "control-characters"),
        ("/srv/git/repo.git", "local-path"),
        ("./repo", "local-path"),
        ("../repo", "local-path"),
        ("~/repo", "local-path"),
        ("C:\\repos\\x", "local-path"),
        ("file:///etc/passwd", "local-path"),
        ("FILE:///etc/passwd", "local-path"),
        ("github.com/a/b.git", "scheme"),
        ("git@github.com:a/b.git", "scheme"),
        ("http://github.com/a/b.git", "scheme"),
        ("ssh://github.com/a/b.git", "scheme"),
        ("git://github.com/a/b.git", "scheme"),
        ("https://user@github.com/a/b.git", "userinfo"),
        ("https://user:token@github.com/a/b.git", "userinfo"),
        ("https://github.com@evil.example/a/b.git", "userinfo"),
        ("https://github.com/a/b.git?x=1", "query"),
        ("https://github.com/a/b.git#main", "query"),
        ("https:///a/b.git", "host"),
        ("https://github.com:99999/a/b.git", "port"),
        ("https://evil.example/a/b.git", "host-not-allowed"),
        ("https://github.com.evil.example/a/b.git", "host-not-allowed"),
        ("https://github.com./a/b.git", "host-not-allowed"),
        ("https://api.github.com/a/b.git", "host-not-allowed"),
        ("https://git.example.edu/a/b.git", "host-not-allowed"),  # allowed only on port 8443
        ("https://github.com:8443/a/b.git", "host-not-allowed"),
        ("https://140.82.112.3/a/b.git", "host-not-allowed"),
        ("https://127.0.0.1/a/b.git", "host-not-allowed"),
        ("https://127.0.0.1:9419/a/b.git", "host-not-allowed"),
        ("https://localhost:9418/a/b.git", "host-not-allowed"),
        ("https://[::1]:9418/a/b.git", "host-not-allowed"),
        ("https://2130706433:9418/a/b.git", "host-not-allowed"),
        ("https://169.254.169.254/latest", "host-not-allowed"),
        ("https://github.com", "path"),
        ("https://github.com/", "path"),
        ("https://github.com/a/../b.git", "path"),
        ("https://github.com/a/./b.git", "path"),
        ("https://github.com/a/%2e%2e/b.git", "path"),
        ("https://github.com/a/b;rm.git", "path"),
        ("https://github.com/a/--upload-pack=x", "path"),
    ],
)
def test_each_rule_refuses_its_url(url: str, rule: str) -> None:
    assert refused_rule(url) == rule


def test_ip_literal_refusal_names_it() -> None:
    with pytest.raises(UrlRefused, match=r"IP address '10\.0\.0\.1'"):
        check_repo_url("https://10.0.0.1/a/b.git", HOSTS, SCHEMES)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/learner/ledger.git",
        "https://github.com/learner/ledger",
        "https://GitHub.com/learner/ledger.git",
        "https://git.example.edu:8443/course/learner-1.git",
        "https://127.0.0.1:9418/learner.git",
        "https://github.com/a.b/c_d~e-f.git",
    ],
)
def test_allowed_urls_pass(url: str) -> None:
    checked = check_repo_url(url, HOSTS, SCHEMES)
    assert checked.url == url
    assert checked.host == checked.host.lower()


def test_loopback_allowed_only_when_listed() -> None:
    assert refused_rule("http://127.0.0.1:8000/r.git", hosts=["github.com"], schemes=["http"]) == "host-not-allowed"
    assert check_repo_url("http://127.0.0.1:8000/r.git", ["127.0.0.1:8000"], ["http"]).port == 8000


def test_schemes_are_configuration() -> None:
    assert refused_rule("http://github.com/a/b.git") == "scheme"
    assert check_repo_url("http://github.com/a/b.git", HOSTS, ["http", "https"]).scheme == "http"


@pytest.mark.parametrize("ref", ["main", "feature/x", "v1.2.3", "a" * 40, "release-2024.01"])
def test_plain_refs_pass(ref: str) -> None:
    assert check_ref(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "-u",
        "--upload-pack=x",
        "main..dev",
        "HEAD@{1}",
        "a b",
        "a//b",
        "x.lock",
        "a/",
        "a.",
        "",
        "a" * 201,
        "refs/$(id)",
    ],
)
def test_refs_that_git_could_misread_are_refused(ref: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_ref(ref)
    assert refused.value.rule == "ref"
