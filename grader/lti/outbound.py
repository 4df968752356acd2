"""The one place LMS service calls (tokens, line items, scores, rosters) get their HTTP client. Those
URLs are chosen by a tenant, so the client is grader.outbound's guarded one: loopback, private and
link-local addresses are refused at connect time unless the operator's allowlist
(GRADER_OUTBOUND_ALLOW) permits them, and redirects are never followed (a token or a score goes to
the URL the registration or the launch named, not wherever a response points)."""

from __future__ import annotations

import httpx

from grader.config import Settings
from grader.outbound.client import client

USER_AGENT = "grader-lti/1"


def platform_client(settings: Settings) -> httpx.Client:
    """A guarded client for calls to an LMS platform. Raises ValueError for a malformed allowlist."""
    return client(settings, follow_redirects=False, headers={"User-Agent": USER_AGENT})
