"""Names and Roles: every page of a roster through `Link: rel="next"` (relative and absolute links),
the membership media type and the token on each request, duplicates across pages kept once, a next
link to another origin not followed, failures named; and `roster(session, context_id)` from the store
with a client-credentials token signed by the tool's key."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from grader.lti import nrps
from grader.lti.token import MemoryTokenCache
from grader.store.db import session_scope
from grader.store.models import LtiContext
from tests.unit.lti.lms_store import MEMBERSHIPS_URL, FakePlatform, placement

URL = "https://lms.example.edu/api/lti/courses/7/names_and_roles"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def member(n: int, role: str = LEARNER) -> dict[str, object]:
    return {"user_id": f"u{n}", "name": f"Learner {n}", "email": f"l{n}@example.org", "roles": [role], "status": "Active"}


class Roster:
    """Three pages: the first links relatively, the second absolutely; page 3 repeats a member."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["accept"] == "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
        assert request.headers["authorization"] == "Bearer tok"
        page = request.url.params.get("p", "1")
        if page == "1":
            return httpx.Response(200, json={"members": [member(1, INSTRUCTOR), member(2)]},
                                  headers={"Link": '</api/lti/courses/7/names_and_roles?p=2>; rel="next"'})
        if page == "2":
            return httpx.Response(200, json={"members": [member(3), {"name": "no user id"}]},
                                  headers={"Link": f'<{URL}?p=3>; rel="next", <{URL}?p=1>; rel="first"'})
        return httpx.Response(200, json={"members": [member(3), {**member(4), "status": "Inactive"}]})


def test_every_page_is_read_once_and_duplicates_are_kept_once() -> None:
    platform = Roster()
    members = nrps.fetch_members(httpx.Client(transport=httpx.MockTransport(platform)), lambda: "tok", URL)
    assert [m.user_id for m in members] == ["u1", "u2", "u3", "u4"]
    assert [r.url.params.get("p", "1") for r in platform.requests] == ["1", "2", "3"]
    assert members[0].instructor and not members[1].instructor
    assert members[3].status == "Inactive" and not members[3].active and members[1].active
    assert members[1].email == "l2@example.org" and members[1].name == "Learner 2"


def test_a_next_link_to_another_origin_is_not_followed() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, json={"members": [member(1)]}, headers={"Link": '<https://evil.example/r>; rel="next"'})

    members = nrps.fetch_members(httpx.Client(transport=httpx.MockTransport(handler)), lambda: "tok", URL)
    assert [m.user_id for m in members] == ["u1"] and asked == [URL]


@pytest.mark.parametrize(
    ("response", "transient", "words"),
    [
        (httpx.Response(503, text="down"), True, "HTTP 503"),
        (httpx.Response(403, text="scope"), False, "HTTP 403"),
        (httpx.Response(200, json={"id": "x"}), False, "no 'members' list"),
        (httpx.Response(200, text="<html>"), False, "not JSON"),
    ],
)
def test_failures_are_named(response: httpx.Response, transient: bool, words: str) -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    with pytest.raises(nrps.RosterUnavailable) as caught:
        nrps.fetch_members(http, lambda: "tok", URL)
    assert caught.value.transient is transient and words in str(caught.value)


def test_roster_from_the_store_with_a_token_signed_by_the_tool_key(tmp_path: Path) -> None:
    p = placement(tmp_path)
    platform = FakePlatform(members=[member(n) for n in (3, 1, 2)] + [member(9, INSTRUCTOR)], page_size=2)
    cache = MemoryTokenCache()
    with session_scope(p.factory) as session, platform.client() as http:
        members = nrps.roster(session, p.context_id, settings=p.settings, http=http, cache=cache)
        again = nrps.roster(session, p.context_id, settings=p.settings, http=http, cache=cache)
    assert [m.user_id for m in members] == ["u1", "u2", "u3", "u9"]  # sorted by name
    assert [m.user_id for m in again] == ["u1", "u2", "u3", "u9"]
    assert platform.token_requests == 1  # two pages, twice over: one token


def test_a_course_without_names_and_roles_says_so(tmp_path: Path) -> None:
    p = placement(tmp_path)
    with session_scope(p.factory) as session:
        context = session.get(LtiContext, p.context_id)
        assert context is not None and context.nrps_memberships_url == MEMBERSHIPS_URL
        context.nrps_memberships_url = None
    with session_scope(p.factory) as session, pytest.raises(nrps.RosterUnavailable) as caught:
        nrps.roster(session, p.context_id, settings=p.settings, http=FakePlatform().client())
    assert "offers no Names and Roles" in str(caught.value) and not caught.value.transient
    with session_scope(p.factory) as session, pytest.raises(nrps.RosterUnavailable):
        nrps.roster(session, "no-such-context", settings=p.settings, http=FakePlatform().client())
