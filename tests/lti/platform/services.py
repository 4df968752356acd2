"""The lti1p3platform library, fitted to this platform's state: its registration (key, issuer, the tool's
URLs and key set), the OIDC login initiation, the launch message (resource link and deep linking, with
the AGS and NRPS claims), and the Assignment and Grade Services and Names and Roles services, whose
abstract storage methods read and write PlatformState."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests
from lti1p3platform.exceptions import LineItemNotFoundException, LtiException, LtiServiceException
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import JWKS, LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.score import ActivityProgress, GradeProgress, TScore, UpdateScoreStatus
from lti1p3platform.service_connector import AssignmentsGradesService, NamesRoleProvisioningService, TPage

from tests.lti.platform.state import PlatformState

# A sub-second ISO 8601 timestamp is what the tests look for; any ISO 8601 one is accepted here.
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class PlatformConfig(LTI1P3PlatformConfAbstract):
    """A fresh one per request: the tool's key set is fetched from its JWKS URL each time, so a key the
    tool rotated in is always found."""

    state: PlatformState

    def init_platform_config(self, **kwargs: Any) -> None:
        self.state = kwargs["state"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        state = self.state
        registration = (
            Registration()
            .set_iss(state.issuer)
            .set_platform_private_key(state.private_pem)
            .set_platform_public_key(state.public_pem)
        )
        tool = state.tool
        if tool is not None:
            registration.set_client_id(tool.client_id).set_deployment_id(tool.deployment_id)
            registration.set_launch_url(tool.launch_url).set_oidc_login_url(tool.oidc_login_url)
            registration.set_deeplink_launch_url(tool.deep_link_url or tool.launch_url)
            registration.set_tool_key_set_url(tool.jwks_url)
        return registration

    def fetch_public_key(self, key_set_url: str) -> JWKS:
        """The tool's key set; raises LtiException naming what came back when it is not a JWKS (the
        library's own fetch takes any JSON)."""
        try:
            answer = requests.get(key_set_url, timeout=5)
        except requests.RequestException as error:
            raise LtiException(f"the tool's JWKS {key_set_url} could not be fetched: {error}") from error
        try:
            document = answer.json()
        except ValueError:
            document = None
        if answer.status_code != 200 or not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise LtiException(f"the tool's JWKS {key_set_url} answered {answer.status_code}: {answer.text[:300]}")
        return document


def platform_config(state: PlatformState) -> PlatformConfig:
    config = PlatformConfig(state=state)
    config.get_registration()
    return config


class PlatformRequest(Request):
    """The library's request, built from what the route already read (the body is async in FastAPI)."""

    def __init__(self, data: TRequest) -> None:
        self.request = data


def library_request(
    method: str, path: str, headers: Mapping[str, str], query: dict[str, str], body: Any = None
) -> PlatformRequest:
    # The library adds 1 to `page` and compares `limit`: numbers, not the strings a query string gives.
    get_data: dict[str, Any] = {k: (int(v) if k in ("page", "limit") and v.isdigit() else v) for k, v in query.items()}
    return PlatformRequest(
        {
            "method": method,
            "form_data": {},
            "get_data": get_data,
            "headers": headers,
            "content_type": headers.get("content-type"),
            "path": path,
            "json": body,
        }
    )


class OIDCLogin(OIDCLoginAbstract):
    """Third-party initiated login: the URL of the tool's login endpoint with iss, login_hint,
    target_link_uri, lti_message_hint, client_id and lti_deployment_id."""

    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class MessageLaunch(LTIAdvantageMessageLaunchAbstract):
    """The id_token of one launch, signed with the platform's key (kid = its JWK thumbprint)."""

    def __init__(self, config: PlatformConfig, preflight: dict[str, Any]) -> None:
        super().__init__(library_request("GET", "/auth", {}, preflight), config)
        self._preflight = preflight

    def get_preflight_response(self) -> dict[str, Any]:
        return self._preflight

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class GradeService(AssignmentsGradesService):
    """Line items of the course and the scores posted to them."""

    def __init__(self, request: Request, state: PlatformState, line_item_id: str | None = None) -> None:
        super().__init__(
            request,
            platform_config(state),
            state.url("/ags/lineitems"),
            state.line_item_url(line_item_id) if line_item_id else None,
            allow_creating_lineitems=True,
        )
        self.state = state

    def _item(self, line_item_id: str) -> dict[str, Any]:
        item = self.state.line_items.get(line_item_id)
        if item is None:
            raise LineItemNotFoundException(line_item_id)
        return item

    def find_lineitems(
        self,
        page: int = 1,
        limit: int | None = None,
        line_item_id: str | None = None,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        **_: Any,
    ) -> TPage:
        with self.state.lock:
            items = [
                item
                for item in self.state.line_items.values()
                if (resource_link_id is None or item.get("resourceLinkId") == resource_link_id)
                and (resource_id is None or item.get("resourceId") == resource_id)
                and (tag is None or item.get("tag") == tag)
            ]
        return _page(items, page, limit)

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        with self.state.lock:
            return self._item(line_item_id)

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        data = dict(creation_data)
        label, maximum = data.get("label"), data.get("scoreMaximum")
        if not isinstance(label, str) or not label or not isinstance(maximum, int | float) or maximum <= 0:
            raise LtiServiceException("a line item needs a label and a positive scoreMaximum", 400)
        return self.find_lineitem(self.state.add_line_item(data))

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        with self.state.lock:
            short = str(update_data["id"]).rsplit("/", 1)[-1]
            item = self._item(short)
            item.update({k: v for k, v in update_data.items() if k != "id"})
            return item

    def delete_lineitem(self, line_item_id: str) -> None:
        with self.state.lock:
            self._item(line_item_id)
            del self.state.line_items[line_item_id]

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        with self.state.lock:
            item = self._item(line_item_id)
            problem = score_problem(dict(score), self.state)
            if problem:
                raise LtiServiceException(problem, 400)
            earlier = [
                s
                for s in self.state.scores
                if s["line_item"] == line_item_id and s["score"]["userId"] == score["userId"]
            ]
            if earlier and _instant(str(earlier[-1]["score"]["timestamp"])) > _instant(str(score["timestamp"])):
                return UpdateScoreStatus.OLD_TIMESTAMP
            self.state.scores.append({"line_item": line_item_id, "label": item.get("label"), "score": dict(score)})
            return UpdateScoreStatus.SUCCESS

    def get_results(
        self, line_item_id: str, page: int = 1, limit: int | None = None, user_id: str | None = None, **_: Any
    ) -> TPage:
        with self.state.lock:
            self._item(line_item_id)
            latest: dict[str, dict[str, Any]] = {}
            for received in self.state.scores:
                if received["line_item"] == line_item_id:
                    latest[str(received["score"]["userId"])] = received["score"]
        results = [
            {
                "id": self.state.url(f"/ags/lineitems/{line_item_id}/results/{user}"),
                "scoreOf": self.state.line_item_url(line_item_id),
                "userId": user,
                "resultScore": score.get("scoreGiven"),
                "resultMaximum": score.get("scoreMaximum"),
                "comment": score.get("comment"),
            }
            for user, score in latest.items()
            if user_id is None or user == user_id
        ]
        return _page(results, page, limit)


def score_problem(score: dict[str, Any], state: PlatformState) -> str:
    """What is wrong with a score (AGS 2.0 "Score publish service"), or "" when nothing is."""
    if score.get("userId") not in state.people:
        return f"userId {score.get('userId')!r} is not a member of the course"
    given, maximum = score.get("scoreGiven"), score.get("scoreMaximum")
    if given is not None and not isinstance(given, int | float):
        return "scoreGiven must be a number"
    if given is not None and (not isinstance(maximum, int | float) or maximum <= 0):
        return "scoreMaximum must be a positive number when scoreGiven is sent"
    if not isinstance(score.get("timestamp"), str) or not ISO_8601.match(score["timestamp"]):
        return "timestamp must be an ISO 8601 date-time"
    if score.get("activityProgress") not in {p.value for p in ActivityProgress}:
        return f"activityProgress {score.get('activityProgress')!r} is not one of the spec's values"
    if score.get("gradingProgress") not in {p.value for p in GradeProgress}:
        return f"gradingProgress {score.get('gradingProgress')!r} is not one of the spec's values"
    return ""


def _instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _page(items: list[Any], page: int, limit: int | None) -> TPage:
    if not limit:
        return {"content": items, "has_next": False, "next": None}
    start = (page - 1) * limit
    return {"content": items[start : start + limit], "has_next": start + limit < len(items), "next": None}


class RosterService(NamesRoleProvisioningService):
    """The course's members, a page of `state.page_size` at a time unless the tool asks for another size."""

    def __init__(self, request: Request, state: PlatformState) -> None:
        super().__init__(request, platform_config(state), state.url("/nrps/memberships"))
        self.state = state

    def get_context_by_id(self) -> Context:
        context = self.state.context
        return Context(id=context["id"], label=context["label"], title=context["title"])

    def is_resource_link_valid(self, context_id: str, resource_link_id: str) -> bool:
        return context_id == self.state.context["id"] and resource_link_id in self.state.links

    def get_member_data_page(
        self, page: int = 1, limit: int | None = None, role: str | None = None, since: str | None = None, **_: Any
    ) -> TPage:
        with self.state.lock:
            members = [
                {
                    "user_id": person.id,
                    "roles": person.roles,
                    "name": person.name,
                    "given_name": person.given_name,
                    "family_name": person.family_name,
                    "email": person.email,
                    "status": "Active",
                }
                for person in self.state.people.values()
                if role is None or any(r == role or r.endswith("#" + role) for r in person.roles)
            ]
        return _page(members, page, limit)
