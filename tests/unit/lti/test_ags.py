"""Assignment and Grade Services requests: the score body and its media type, the scores URL, finding
our line item across pages (and creating it when the platform has none), and failures sorted into
ones worth another try and refusals."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from grader.lti import ags

LINEITEMS = "https://lms.example.edu/api/lti/courses/7/line_items"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def test_the_score_body_has_every_field_and_a_sub_second_timestamp() -> None:
    at = datetime.now(UTC).replace(microsecond=0)  # a whole second still gets its fraction written out
    body = ags.score_body("user-9", 87.5, 100.0, "see https://grader.example/feedback", at)
    assert body["userId"] == "user-9"
    assert (body["scoreGiven"], body["scoreMaximum"]) == (87.5, 100.0)
    assert (body["activityProgress"], body["gradingProgress"]) == ("Completed", "FullyGraded")
    assert body["comment"] == "see https://grader.example/feedback"
    assert ISO_MS.match(body["timestamp"]), body["timestamp"]
    assert datetime.fromisoformat(body["timestamp"]) == at
    later = ags.score_body("user-9", 1, 2, "", at + timedelta(milliseconds=1))
    assert later["timestamp"] > body["timestamp"] and "comment" not in later  # ordered within one second


def test_a_timestamp_in_another_zone_is_written_in_utc() -> None:
    moment = datetime.now(UTC)
    other_zone = moment.astimezone(datetime.now().astimezone().tzinfo)
    assert ags.timestamp(other_zone) == ags.timestamp(moment) and ISO_MS.match(ags.timestamp(other_zone))


@pytest.mark.parametrize(
    ("lineitem", "scores"),
    [
        ("https://lms.example.edu/li/5", "https://lms.example.edu/li/5/scores"),
        ("https://lms.example.edu/li/5/", "https://lms.example.edu/li/5/scores"),
        ("https://lms.example.edu/mod/lti/services.php/2/lineitems/9/lineitem?type_id=1",
         "https://lms.example.edu/mod/lti/services.php/2/lineitems/9/lineitem/scores?type_id=1"),
    ],
)
def test_the_scores_url_keeps_the_query(lineitem: str, scores: str) -> None:
    assert ags.scores_url(lineitem) == scores


def test_post_score_sends_the_score_media_type_and_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    body = ags.score_body("u", 3, 4, "", datetime.now(UTC))
    assert ags.post_score(http, "tok", "https://lms.example.edu/li/5?x=1", body) == 204
    (request,) = seen
    assert str(request.url) == "https://lms.example.edu/li/5/scores?x=1"
    assert request.headers["content-type"] == "application/vnd.ims.lis.v1.score+json"
    assert request.headers["authorization"] == "Bearer tok"
    assert json.loads(request.content) == body


@pytest.mark.parametrize(("status", "transient"), [(500, True), (503, True), (429, True), (401, True), (400, False), (403, False), (404, False), (422, False)])
def test_score_failures_say_whether_to_try_again(status: int, transient: bool) -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status, text="no")))
    with pytest.raises(ags.AgsError) as caught:
        ags.post_score(http, "tok", "https://lms.example.edu/li/5", ags.score_body("u", 1, 1, "", datetime.now(UTC)))
    assert caught.value.status_code == status and caught.value.transient is transient
    assert "https://lms.example.edu/li/5/scores" in str(caught.value)


class LineItems:
    """A container paged two at a time (relative `next` links), ignoring the filter like some platforms."""

    def __init__(self, items: list[dict[str, object]]) -> None:
        self.items = items
        self.gets: list[httpx.Request] = []
        self.posts: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer tok"
        if request.method == "POST":
            self.posts.append(request)
            assert request.headers["content-type"] == "application/vnd.ims.lis.v2.lineitem+json"
            created = {**json.loads(request.content), "id": f"{LINEITEMS}/{len(self.items) + 1}"}
            self.items.append(created)
            return httpx.Response(201, json=created)
        self.gets.append(request)
        assert request.headers["accept"] == "application/vnd.ims.lis.v2.lineitemcontainer+json"
        page = int(request.url.params.get("page", "0"))
        headers = {"Link": f'</api/lti/courses/7/line_items?page={page + 1}>; rel="next"'} if 2 * page + 2 < len(self.items) else {}
        return httpx.Response(200, json=self.items[2 * page : 2 * page + 2], headers=headers)


WANTED = ags.LineItem(score_maximum=100, label="Ledger", resource_id="py-ledger", resource_link_id="link-1", tag="grader")


def test_the_line_item_is_found_on_a_later_page_and_not_created() -> None:
    items: list[dict[str, object]] = [
        {"id": f"{LINEITEMS}/1", "scoreMaximum": 10, "label": "Quiz", "resourceLinkId": "other"},
        {"id": f"{LINEITEMS}/2", "label": "no maximum, unreadable"},
        {"id": f"{LINEITEMS}/3", "scoreMaximum": 100, "label": "Ledger", "resourceLinkId": "link-1", "resourceId": "py-ledger"},
    ]
    platform = LineItems(items)
    http = httpx.Client(transport=httpx.MockTransport(platform))
    found, created = ags.find_or_create_lineitem(http, "tok", LINEITEMS, WANTED)
    assert (found.id, created) == (f"{LINEITEMS}/3", False)
    assert platform.posts == [] and len(platform.gets) == 2
    assert platform.gets[0].url.params["resource_link_id"] == "link-1"
    assert platform.gets[0].url.params["resource_id"] == "py-ledger"


def test_a_missing_line_item_is_created_with_its_maximum_label_and_ids() -> None:
    platform = LineItems([{"id": f"{LINEITEMS}/1", "scoreMaximum": 10, "label": "Quiz", "resourceLinkId": "other"}])
    http = httpx.Client(transport=httpx.MockTransport(platform))
    item, created = ags.find_or_create_lineitem(http, "tok", LINEITEMS, WANTED)
    assert created and item.id == f"{LINEITEMS}/2"
    (post,) = platform.posts
    assert json.loads(post.content) == {
        "scoreMaximum": 100.0, "label": "Ledger", "resourceId": "py-ledger", "resourceLinkId": "link-1", "tag": "grader"
    }
    again, created_again = ags.find_or_create_lineitem(http, "tok", LINEITEMS, WANTED)
    assert (again.id, created_again) == (item.id, False) and len(platform.posts) == 1


def test_a_next_link_to_another_origin_is_not_followed() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, json=[], headers={"Link": '<https://elsewhere.example/steal>; rel="next"'})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    assert ags.find_lineitem(http, "tok", LINEITEMS, "link-1", None) is None
    assert len(asked) == 1


def test_a_created_line_item_without_an_id_is_refused() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=[]) if r.method == "GET" else httpx.Response(201, json={"scoreMaximum": 100, "label": "x"})))
    with pytest.raises(ags.AgsError) as caught:
        ags.find_or_create_lineitem(http, "tok", LINEITEMS, WANTED)
    assert not caught.value.transient and "no id" in str(caught.value)
