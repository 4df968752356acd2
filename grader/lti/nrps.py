"""LTI Names and Role Provisioning Services 2.0: a course's roster, every page of it.

`fetch_members` is the request side (an HTTP client and a token source in, members out);
`roster(session, context_id)` is what the instructor's views call: it finds the course's memberships
URL and its registration in the store, gets a token and fetches.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from grader.config import Settings, get_settings
from grader.core.errors import SystemFault
from grader.core.gradebook import RosterEntry
from grader.core.netpolicy import DestinationRefused
from grader.lti.ags import next_page, transient_status
from grader.lti.keys import signing_key
from grader.lti.outbound import platform_client
from grader.lti.token import NRPS_MEMBERSHIP_READONLY, MemoryTokenCache, TokenCache, TokenSource, ToolClient
from grader.store.gradebook import learners_by_sub, placement_contexts
from grader.store.models import LtiContext, LtiRegistration

MEMBERSHIP_MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 200  # a roster page holds tens to hundreds of members; this is far past any course
INSTRUCTOR_ROLES = ("Instructor", "Administrator", "ContentDeveloper", "TeachingAssistant", "Mentor")

# The API process keeps tokens between requests; each process its own.
_PROCESS_TOKENS = MemoryTokenCache()


class RosterUnavailable(SystemFault):
    """The roster could not be read: the course has no Names and Roles claim, its registration is gone,
    or the platform refused or failed the request (`transient` says whether a later try may help)."""

    code = "lti-roster-unavailable"

    def __init__(self, message: str, *, status_code: int | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.transient = transient


class Member(BaseModel):
    """One member of the course as the platform reports it (unknown fields ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: str = Field(min_length=1, max_length=255)
    roles: list[str] = []
    status: str = "Active"
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    lis_person_sourcedid: str | None = None

    @property
    def instructor(self) -> bool:
        """Any teaching role, in the full URI form (…/membership#Instructor) or the short one."""
        return any(role.rsplit("#", 1)[-1].rsplit("/", 1)[-1] in INSTRUCTOR_ROLES for role in self.roles)

    @property
    def active(self) -> bool:
        return self.status.lower() == "active"


def fetch_members(http: httpx.Client, token: Callable[[], str], memberships_url: str) -> list[Member]:
    """Every member, following `Link: rel="next"` until the last page. A member the page lists twice
    (platforms page by offset while the roster changes) is kept once, as first seen. Raises
    RosterUnavailable."""
    members: dict[str, Member] = {}
    url: str | None = memberships_url
    pages = 0
    while url is not None:
        pages += 1
        if pages > MAX_PAGES:
            raise RosterUnavailable(f"roster {memberships_url}: more than {MAX_PAGES} pages", transient=False)
        headers = {"Authorization": f"Bearer {token()}", "Accept": MEMBERSHIP_MEDIA}
        try:
            response = http.get(url, headers=headers)
        except DestinationRefused as exc:  # the outbound guard: a private or loopback address, not allowlisted
            raise RosterUnavailable(f"roster {url}: {exc}"[:500], transient=False) from exc
        except httpx.HTTPError as exc:
            raise RosterUnavailable(f"roster {url}: {type(exc).__name__}: {exc}"[:500]) from exc
        if response.status_code != 200:
            code = response.status_code
            raise RosterUnavailable(
                f"roster {url}: HTTP {code}: {response.text[:300]}", status_code=code, transient=transient_status(code)
            )
        try:
            payload = response.json()
        except ValueError as exc:
            raise RosterUnavailable(f"roster {url}: the answer is not JSON", status_code=200, transient=False) from exc
        raw_members = payload.get("members") if isinstance(payload, dict) else None
        if not isinstance(raw_members, list):
            raise RosterUnavailable(f"roster {url}: the answer has no 'members' list", status_code=200, transient=False)
        for raw in raw_members:
            try:
                member = Member.model_validate(raw)
            except ValidationError:
                continue  # a member without a user_id cannot be matched to anyone
            members.setdefault(member.user_id, member)
        url = next_page(response, memberships_url)
    return list(members.values())


def roster(
    session: Session,
    context_id: str,
    *,
    settings: Settings | None = None,
    http: httpx.Client | None = None,
    cache: TokenCache | None = None,
) -> list[Member]:
    """The members of the course `context_id` (an `lti_contexts.id`), sorted by name then user id.
    The caller checks the tenant (the row's `tenant_id`) before showing it. Raises RosterUnavailable."""
    context = session.get(LtiContext, context_id)
    if context is None:
        raise RosterUnavailable(f"no LTI context {context_id!r}", transient=False)
    if not context.nrps_memberships_url:
        raise RosterUnavailable(
            f"the course {context.title or context.context_id!r} offers no Names and Roles service "
            "(its launches carried no context_memberships_url)",
            transient=False,
        )
    registration = session.get(LtiRegistration, context.registration_id)
    if registration is None or not registration.active:
        raise RosterUnavailable(f"the course {context.context_id!r} has no active registration", transient=False)
    resolved = settings or get_settings()
    own_http = http is None
    client = http or platform_client(resolved)
    try:
        tokens = TokenSource(
            client,
            ToolClient.of(registration),
            lambda: signing_key(session, resolved, registration.tenant_id),
            cache or _PROCESS_TOKENS,
        )
        try:
            members = fetch_members(
                client, lambda: tokens.token([NRPS_MEMBERSHIP_READONLY]), context.nrps_memberships_url
            )
        except SystemFault as exc:
            if isinstance(exc, RosterUnavailable):
                raise
            raise RosterUnavailable(str(exc), transient=getattr(exc, "transient", True)) from exc
    finally:
        if own_http:
            client.close()
    return sorted(members, key=lambda m: ((m.name or m.family_name or "").lower(), m.user_id))


def gradebook_roster(
    session: Session,
    tenant_id: str,
    assignment_id: str,
    *,
    settings: Settings | None = None,
    http: httpx.Client | None = None,
    cache: TokenCache | None = None,
) -> tuple[list[RosterEntry], list[str]]:
    """The active learners (no teaching role) of every course the assignment is placed in, for the
    gradebook, and what went wrong per course (a course whose roster cannot be read is named there and
    left out, never failing the export)."""
    entries: list[RosterEntry] = []
    problems: list[str] = []
    for context in placement_contexts(session, tenant_id, assignment_id):
        try:
            members = roster(session, context.id, settings=settings, http=http, cache=cache)
        except RosterUnavailable as exc:
            problems.append(f"{context.title or context.context_id}: {exc}")
            continue
        known = learners_by_sub(session, tenant_id, context.registration_id)
        entries.extend(
            RosterEntry(lms_user_id=m.user_id, learner=known.get(m.user_id), name=m.name, email=m.email)
            for m in members
            if m.active and not m.instructor
        )
    return entries, problems
