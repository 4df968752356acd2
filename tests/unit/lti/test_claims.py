"""The pure checks of grader.lti.claims: each refusal names its check."""

from __future__ import annotations

import time
from typing import Any

import pytest

from grader.lti import claims as c
from grader.lti.errors import LtiRefused
from tests.unit.lti.platform import CLIENT_ID, DEPLOYMENT, INSTRUCTOR, ISSUER, TOOL, Platform


def expected(**overrides: Any) -> c.Expected:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "deployments": {DEPLOYMENT},
        "tool_origin": TOOL,
        "now": time.time(),
    }
    values.update(overrides)
    return c.Expected(**values)


@pytest.fixture(scope="module")
def platform() -> Platform:
    return Platform()


def refusal(claims: dict[str, Any], **overrides: Any) -> LtiRefused:
    with pytest.raises(LtiRefused) as caught:
        c.check_launch(claims, expected(**overrides))
    return caught.value


def test_a_good_resource_link_launch_gives_what_the_tool_needs(platform: Platform) -> None:
    launch = c.check_launch(platform.claims("n-1"), expected())
    assert (launch.sub, launch.deployment_id, launch.resource_link_id) == ("user-42", DEPLOYMENT, "link-1")
    assert launch.custom == {"assignment": "py-ledger"} and launch.context_title == "Python 101"
    assert launch.ags_lineitem == f"{ISSUER}/courses/1/lineitems/7"
    assert launch.nrps_memberships_url == f"{ISSUER}/courses/1/members"
    assert not launch.instructor and launch.deep_link is None


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"iss": "https://evil.example"}, "iss"),
        ({"aud": "someone-else"}, "aud"),
        ({"aud": ["someone-else", "another"], "azp": "someone-else"}, "aud"),
        ({"aud": [CLIENT_ID, "another"]}, "azp"),
        ({"aud": [CLIENT_ID, "another"], "azp": "another"}, "azp"),
        ({"azp": "another"}, "azp"),
        ({"nonce": None}, "nonce"),
        ({c.DEPLOYMENT_ID: "dep-unknown"}, "deployment_id"),
        ({c.DEPLOYMENT_ID: None}, "deployment_id"),
        ({c.MESSAGE_TYPE: "LtiSubmissionReviewRequest"}, "message_type"),
        ({c.VERSION: "1.1"}, "version"),
        ({c.TARGET_LINK_URI: "https://elsewhere.example/lti/launch"}, "target_link_uri"),
        ({"sub": None}, "sub"),
        ({c.RESOURCE_LINK: None}, "resource_link"),
        ({c.MESSAGE_TYPE: c.DEEP_LINKING_REQUEST}, "deep_linking_settings"),
        ({"exp": None}, "exp"),
    ],
)
def test_each_claim_check_refuses_and_names_itself(platform: Platform, overrides: dict[str, Any], check: str) -> None:
    assert refusal(platform.claims("n-1", **overrides)).check == check


def test_several_audiences_with_azp_naming_us_pass(platform: Platform) -> None:
    launch = c.check_launch(platform.claims("n-1", aud=["another", CLIENT_ID], azp=CLIENT_ID), expected())
    assert launch.client_id == CLIENT_ID


def test_expired_and_future_dated_tokens_are_refused_beyond_the_skew(platform: Platform) -> None:
    now = time.time()
    expired = platform.claims("n", exp=int(now) - c.SKEW_SECONDS - 5, iat=int(now) - 600)
    assert refusal(expired, now=now).check == "exp"
    future = platform.claims("n", iat=int(now) + c.SKEW_SECONDS + 30, exp=int(now) + 900)
    assert refusal(future, now=now).check == "iat"
    ancient = platform.claims("n", iat=int(now) - c.MAX_AGE_SECONDS - 2 * c.SKEW_SECONDS, exp=int(now) + 900)
    assert refusal(ancient, now=now).check == "iat"
    # Within the skew both pass: clocks differ a little.
    slightly = platform.claims("n", iat=int(now) + 10, exp=int(now) - 10)
    assert c.check_launch(slightly, expected(now=now)).sub == "user-42"


def test_a_deep_linking_request_carries_its_return_url_and_data(platform: Platform) -> None:
    settings = {"deep_link_return_url": f"{ISSUER}/deep_links", "data": "opaque", "accept_types": ["ltiResourceLink"]}
    claims = platform.claims(
        "n", **{c.MESSAGE_TYPE: c.DEEP_LINKING_REQUEST, c.DL_SETTINGS: settings, c.ROLES: [INSTRUCTOR]}
    )
    del claims[c.RESOURCE_LINK], claims[c.TARGET_LINK_URI]
    launch = c.check_launch(claims, expected())
    assert launch.deep_link is not None and launch.deep_link.return_url == f"{ISSUER}/deep_links"
    assert launch.deep_link.data == "opaque" and launch.instructor


@pytest.mark.parametrize(
    ("roles", "instructor"),
    [
        ([INSTRUCTOR], True),
        (["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"], True),
        (["Instructor"], True),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"], False),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"], False),
        ([], False),
    ],
)
def test_teaching_roles(roles: list[str], instructor: bool) -> None:
    assert c.is_instructor(roles) is instructor


def test_the_deep_linking_response_claims_and_item() -> None:
    item = c.resource_link_item(url=f"{TOOL}/lti/launch", title="Ledger", assignment="py-ledger", score_maximum=10.0)
    assert item["lineItem"] == {"scoreMaximum": 10.0, "label": "Ledger", "resourceId": "py-ledger"}
    assert item["custom"] == {"assignment": "py-ledger"} and item["type"] == "ltiResourceLink"
    body = c.deep_linking_response(
        client_id=CLIENT_ID, issuer=ISSUER, deployment_id=DEPLOYMENT, nonce="x", now=100, items=[item], data="d"
    )
    assert (body["iss"], body["aud"], body[c.MESSAGE_TYPE]) == (CLIENT_ID, ISSUER, c.DEEP_LINKING_RESPONSE)
    assert body[c.DL_CONTENT_ITEMS] == [item] and body[c.DL_DATA] == "d" and body["exp"] > body["iat"]


@pytest.mark.parametrize(
    ("email", "mapped"),
    [
        ("Ann@Example.ORG", "Ann@example.org"),
        ("  bob@school.example ", "bob@school.example"),
        ("not an email", None),
        ("a@b", None),
        ("x<y>@evil.example", None),
        (None, None),
    ],
)
def test_the_learner_a_platform_user_becomes(email: str | None, mapped: str | None) -> None:
    from grader.lti.launch import learner_identity
    from grader.store.models import LtiRegistration

    launch = c.check_launch(Platform().claims("n", email=email), expected())
    registration = LtiRegistration(id="r" * 32, tenant_id="t")
    found = learner_identity(registration, launch)
    if mapped is None:
        assert found.startswith("lti-") and found.endswith("@lms.invalid")
        assert found == learner_identity(registration, launch)  # stable
        other = learner_identity(LtiRegistration(id="s" * 32, tenant_id="t"), launch)
        assert other != found  # per registration: another platform's same sub is someone else
    else:
        assert found == mapped
