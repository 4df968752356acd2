"""Which repository URLs a learner may submit. Pure: a string in, a checked URL or a named refusal out.

Learners' repositories come only from the hosts the operator lists (`allowed_hosts`); the rule for
destinations the service does not list itself (webhooks, LMS platforms) is grader.core.netpolicy's."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel

from grader.core.errors import LearnerFault
from grader.core.netpolicy import is_ip_literal

MAX_URL_LENGTH = 2048
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
# git's own test for a remote helper: the URL's first colon is doubled (`ext::cmd`, `fd::3`). A "::"
# elsewhere (an IPv6 host such as [::1]) is judged by the host and path rules instead.
_HELPER = re.compile(r"^[^:/]*::")


class UrlRefused(LearnerFault, ValueError):
    """A URL broke a named rule of the fetch policy: a learner's fault, never retried."""

    code = "repo-url-refused"

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"refused by rule '{rule}': {message}")


class RepoUrl(BaseModel):
    url: str
    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host


def _host_allowed(host: str, port: int | None, allowed_hosts: list[str]) -> bool:
    candidates = {host} if port is None else {f"{host}:{port}"}
    return any(entry.lower() in candidates for entry in allowed_hosts)


def check_repo_url(url: str, allowed_hosts: list[str], allowed_schemes: list[str]) -> RepoUrl:
    """Apply every rule of DESIGN.md "Fetch"; raise UrlRefused naming the first rule broken."""
    if not url:
        raise UrlRefused("empty", "no URL was given")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused("too-long", f"URLs are limited to {MAX_URL_LENGTH} characters")
    if url.startswith("-"):
        raise UrlRefused("option-injection", "a URL may not start with '-' (it would be read as a git option)")
    if _HELPER.match(url):
        raise UrlRefused(
            "transport-helper", "'<name>::' selects a git remote helper such as ext::, which can run commands"
        )
    if _CONTROL.search(url):
        raise UrlRefused("control-characters", "the URL contains spaces or control characters")
    if url.startswith(("/", ".", "~")) or re.match(r"^[A-Za-z]:\\", url):
        raise UrlRefused("local-path", "local paths are not repositories a learner can submit")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        raise UrlRefused("local-path", "file:// URLs read the grader's own disk")
    if not scheme or "://" not in url:
        raise UrlRefused(
            "scheme", f"expected a URL such as https://host/owner/repo.git; allowed schemes: {allowed_schemes}"
        )
    if scheme not in allowed_schemes:
        raise UrlRefused("scheme", f"scheme '{scheme}' is not allowed; allowed: {allowed_schemes}")
    if "@" in parts.netloc or parts.username or parts.password:
        raise UrlRefused("userinfo", "credentials or user names in the URL are not allowed")
    if parts.query or parts.fragment:
        raise UrlRefused("query", "a repository URL has no query string or fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRefused("host", "the URL names no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("port", f"invalid port: {exc}") from exc
    if not _host_allowed(host, port, allowed_hosts):
        kind = "IP address" if is_ip_literal(host) else "host"
        raise UrlRefused(
            "host-not-allowed",
            f"{kind} '{host if port is None else f'{host}:{port}'}' is not on the allowlist {allowed_hosts}",
        )
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise UrlRefused("path", "the URL names no repository path")
    for segment in segments:
        if segment in (".", "..") or not _PATH_SEGMENT.match(segment):
            raise UrlRefused("path", f"path segment {segment!r} is not allowed (letters, digits, . _ ~ - only)")
    return RepoUrl(url=url, scheme=scheme, host=host, port=port, path="/" + "/".join(segments))


_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,200}(?<![./])$")


def check_ref(ref: str) -> str:
    """Branch, tag or commit SHA: refuse anything git could read as an option or a range."""
    if not _REF.match(ref) or ref.endswith(".lock"):
        raise UrlRefused("ref", f"{ref!r} is not a plain branch, tag or commit name")
    return ref
