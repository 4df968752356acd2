"""LTI Assignment and Grade Services 2.0: find or create a placement's line item, publish a score.

Requests only; what to send and when is grader.lti.passback's. Every call takes the HTTP client and a
bearer token, so tests drive it through httpx.MockTransport and the job through the guarded client.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.core.errors import SystemFault
from grader.core.netpolicy import DestinationRefused

LINEITEM_MEDIA = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_MEDIA = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_MEDIA = "application/vnd.ims.lis.v1.score+json"
MAX_PAGES = 50  # of line items when looking for ours; a course has a few hundred at most


class AgsError(SystemFault):
    """A line item or score request failed. `transient` (network, 5xx, 408, 429) means a later try
    may succeed; otherwise the platform refused the request as it stands. 401 is transient too: the
    token is dropped and a new one asked for."""

    code = "lti-ags-failed"

    def __init__(self, message: str, *, status_code: int | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.transient = transient


class LineItem(BaseModel):
    """A platform line item (a gradebook column); the fields the tool reads and writes."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str | None = None
    score_maximum: float = Field(alias="scoreMaximum", gt=0)
    label: str
    resource_id: str | None = Field(default=None, alias="resourceId")
    resource_link_id: str | None = Field(default=None, alias="resourceLinkId")
    tag: str | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, exclude={"id"})


def transient_status(status_code: int) -> bool:
    return status_code >= 500 or status_code in (401, 408, 429)


def _failure(what: str, url: str, exc_or_response: httpx.HTTPError | DestinationRefused | httpx.Response) -> AgsError:
    """Refusals of the outbound guard (a private or loopback address not allowlisted) are final."""
    if isinstance(exc_or_response, DestinationRefused):
        return AgsError(f"{what} {url}: {exc_or_response}"[:500], transient=False)
    if isinstance(exc_or_response, httpx.Response):
        code = exc_or_response.status_code
        return AgsError(
            f"{what} {url}: HTTP {code}: {exc_or_response.text[:300]}",
            status_code=code,
            transient=transient_status(code),
        )
    return AgsError(f"{what} {url}: {type(exc_or_response).__name__}: {exc_or_response}"[:500])


def timestamp(at: datetime) -> str:
    """ISO 8601 with milliseconds and the zone, always sub-second (`...T15:04:05.000+00:00`): platforms
    keep the newest score by this value, so two grades within one second must still be ordered."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def score_body(user_id: str, score_given: float, score_maximum: float, comment: str, at: datetime) -> dict[str, Any]:
    """A score for a completed, fully graded activity."""
    body: dict[str, Any] = {
        "userId": user_id,
        "scoreGiven": score_given,
        "scoreMaximum": score_maximum,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": timestamp(at),
    }
    if comment:
        body["comment"] = comment
    return body


def scores_url(lineitem_url: str) -> str:
    """`/scores` appended to the line item's path, its query kept (AGS 2.0 section 3.4)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def _same_origin(a: str, b: str) -> bool:
    first, second = urlsplit(a), urlsplit(b)
    return (first.scheme, first.netloc) == (second.scheme, second.netloc)


def next_page(response: httpx.Response, first_url: str) -> str | None:
    """The `Link: rel="next"` URL, resolved against the response; None when absent or when it leaves
    the first page's origin (the bearer token goes only where the platform's claim pointed)."""
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    target = urljoin(str(response.url), link)
    return target if _same_origin(target, first_url) else None


def _auth(token: str, accept: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": accept}


def find_lineitem(
    http: httpx.Client, token: str, lineitems_url: str, resource_link_id: str, resource_id: str | None
) -> LineItem | None:
    """The line item of this resource link (and resource id, when given), following paging. Raises AgsError."""
    params = {"resource_link_id": resource_link_id}
    if resource_id:
        params["resource_id"] = resource_id
    url: str | None = lineitems_url
    first = True
    for _ in range(MAX_PAGES):
        if url is None:
            break
        try:
            response = http.get(url, params=params if first else None, headers=_auth(token, LINEITEMS_MEDIA))
        except (httpx.HTTPError, DestinationRefused) as exc:
            raise _failure("line items", url, exc) from exc
        if response.status_code != 200:
            raise _failure("line items", url, response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise AgsError(f"line items {url}: the answer is not JSON", status_code=200, transient=False) from exc
        for raw in payload if isinstance(payload, list) else []:
            try:
                item = LineItem.model_validate(raw)
            except ValidationError:
                continue  # a platform's other column we cannot read is none of ours
            # Platforms that ignore the filter parameters still return ours among the rest.
            if item.resource_link_id == resource_link_id and (not resource_id or item.resource_id == resource_id):
                return item
        url = next_page(response, lineitems_url)
        first = False
    return None


def create_lineitem(http: httpx.Client, token: str, lineitems_url: str, item: LineItem) -> LineItem:
    """POST a new line item to the container. Raises AgsError (also when the answer has no `id`)."""
    headers = {**_auth(token, LINEITEM_MEDIA), "Content-Type": LINEITEM_MEDIA}
    try:
        response = http.post(lineitems_url, json=item.body(), headers=headers)
    except (httpx.HTTPError, DestinationRefused) as exc:
        raise _failure("creating a line item at", lineitems_url, exc) from exc
    if response.status_code not in (200, 201):
        raise _failure("creating a line item at", lineitems_url, response)
    try:
        created = LineItem.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise AgsError(
            f"creating a line item at {lineitems_url}: the answer is no line item", status_code=200, transient=False
        ) from exc
    if not created.id:
        raise AgsError(f"creating a line item at {lineitems_url}: the answer has no id", transient=False)
    return created


def find_or_create_lineitem(
    http: httpx.Client, token: str, lineitems_url: str, wanted: LineItem
) -> tuple[LineItem, bool]:
    """Our line item for `wanted.resource_link_id`, created when the platform has none; the bool says
    whether it was created. Raises AgsError."""
    assert wanted.resource_link_id is not None
    found = find_lineitem(http, token, lineitems_url, wanted.resource_link_id, wanted.resource_id)
    if found is not None and found.id:
        return found, False
    return create_lineitem(http, token, lineitems_url, wanted), True


def post_score(http: httpx.Client, token: str, lineitem_url: str, body: dict[str, Any]) -> int:
    """POST one score; returns the status code of a 2xx answer. Raises AgsError otherwise."""
    url = scores_url(lineitem_url)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCORE_MEDIA, "Accept": "application/json"}
    try:
        response = http.post(url, json=body, headers=headers)
    except (httpx.HTTPError, DestinationRefused) as exc:
        raise _failure("score", url, exc) from exc
    if not 200 <= response.status_code < 300:
        raise _failure("score", url, response)
    return response.status_code
