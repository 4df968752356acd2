"""The grader as an LTI 1.3 tool, end to end, against real platforms in their own processes: the test LMS
on lti1p3platform (127.0.0.2) and lti-provider-mock (127.0.0.3), the grader on 127.0.0.1 (so to the
browser the LMS and the tool are different sites), Chromium clicking where a person clicks.

One grader stack for the module (tests/lti/conftest.py). Two submissions are graded for real (the
learner's, and the one whose score waits for the platform's score endpoint to come back)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest

from grader.core.spec import load_assignment
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, LEDGER_DIR, WebStack
from tests.distinct import publish_own
from tests.lti.conftest import CLIENT_ID, OTHER_HOST, author_signed_in
from tests.lti.processes import MockProvider, Platform, running_platform

GRADING_TIMEOUT_MS = 600_000
Axe = Callable[[Any], Any]
SETTLE_S = 6  # after a score arrived: long enough for several passback retries, had one been scheduled
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEDGER = load_assignment(LEDGER_DIR).spec
LEDGER_POINTS = sum(criterion.points for criterion in LEDGER.rubric.criteria)


def platform_sign_in(page: Any, lms: Platform, person: str) -> None:
    page.goto(lms.url("/"))
    page.get_by_label("Person").select_option(person)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/course$"))


def launch(page: Any, web: WebStack, title: str, by_post: bool = False) -> None:
    """Click the course link (or its "by a POST login" twin); the platform and the grader exchange the
    login and the id_token."""
    page.get_by_role("link", name=f"{title}, by a POST login" if by_post else title, exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(web.base_url) + r"/(learn|author|lti)(/|$)"))


def submit_reference(page: Any, web: WebStack, name: str) -> str:
    """On the assignment page: submit the bundled reference solution, in a repository of this learner's
    own (tests/distinct.py), and follow it to its grade."""
    repo = publish_own(web.git, name, LEDGER_DIR / "solutions" / "reference")
    page.get_by_label("Git repository URL").fill(repo)
    page.get_by_role("button", name="Submit for grading").click()
    page.wait_for_url(re.compile(r"/learn/submissions/[0-9a-f]+$"))
    submission_id: str = page.url.rsplit("/", 1)[1]
    page.locator("#result").wait_for(state="visible", timeout=GRADING_TIMEOUT_MS)
    assert "Passed" in page.text_content("#result-summary"), web.stack.tail_logs()
    return submission_id


@pytest.fixture(scope="module")
def ledger_link(lti_web: WebStack, lms: Platform, _playwright_browser: Any) -> dict[str, Any]:
    """The course's one placement of py-ledger, made as an instructor makes it: Deep Linking from the
    platform's course page, the assignment picked on the grader's page. Returns the platform's record of
    the placement ({"id", "title", "custom", "line_item_id", ...}) with the page it ended on."""
    context = _playwright_browser.new_context()
    try:
        page = context.new_page()
        platform_sign_in(page, lms, "instructor-1")
        page.get_by_role("link", name="Add an activity from the tool").click()
        page.wait_for_url(re.compile("^" + re.escape(lti_web.base_url) + "/lti/launch$"))
        heading = page.text_content("h1")
        page.get_by_label(re.compile(LEDGER.title)).check()
        page.get_by_role("button", name="Place in the course").click()
        page.wait_for_url(lms.url("/deep-link/return"))
        state = lms.state()
        returned = state["deep_link_returns"][-1]
        [link_id] = returned["links"]
        return {
            **state["links"][link_id],
            "picker_heading": heading,
            "returned_heading": page.text_content("h1"),
            "returned_text": page.text_content("main"),
            "content_items": returned["content_items"],
        }
    finally:
        context.close()


def scores_of(state: dict[str, Any], user: str) -> list[dict[str, Any]]:
    return [s for s in state["scores"] if s["score"]["userId"] == user]


def the_submission(web: WebStack, submission_id: str) -> dict[str, Any]:
    with web.client() as client:
        found: dict[str, Any] = client.get(f"/api/v1/submissions/{submission_id}").json()
    return found


def passbacks_of(web: WebStack, lms_user_id: str) -> list[dict[str, Any]]:
    """The grader's passback log for py-ledger (GET /api/v1/assignments/py-ledger/passbacks), one user's rows."""
    with web.client() as client:
        answer = client.get("/api/v1/assignments/py-ledger/passbacks")
    assert answer.status_code == 200, answer.text
    return [row for row in answer.json() if row["lms_user_id"] == lms_user_id]


def check_score(score: dict[str, Any], web: WebStack, submission: dict[str, Any]) -> None:
    assert score["scoreGiven"] == pytest.approx(submission["score"])
    assert score["scoreMaximum"] == pytest.approx(submission["max_score"])
    assert (score["activityProgress"], score["gradingProgress"]) == ("Completed", "FullyGraded")
    assert re.search(r"T\d{2}:\d{2}:\d{2}\.\d+", score["timestamp"]), score["timestamp"]
    assert f"{web.base_url}/learn/submissions/{submission['id']}/feedback" in score["comment"]


def test_deep_linking_places_an_assignment_with_its_line_item(
    lti_web: WebStack, lms: Platform, ledger_link: dict[str, Any], browser_page: Any
) -> None:
    assert "Place an assignment" in ledger_link["picker_heading"]
    assert "Added to the course" in ledger_link["returned_heading"] and LEDGER.title in ledger_link["returned_text"]
    [item] = ledger_link["content_items"]
    assert item["type"] == "ltiResourceLink" and item["title"] == LEDGER.title
    assert item["custom"] == {"assignment": "py-ledger"}
    assert item["lineItem"]["scoreMaximum"] == pytest.approx(LEDGER_POINTS)
    assert item["lineItem"]["label"] == LEDGER.title and item["lineItem"]["resourceId"] == "py-ledger"
    # The platform made the gradebook column the content item asked for, bound to the new placement.
    [column] = [i for i in lms.state()["line_items"] if i.get("resourceLinkId") == ledger_link["id"]]
    assert (column["label"], column["scoreMaximum"], column["resourceId"]) == (LEDGER.title, LEDGER_POINTS, "py-ledger")

    # The placed link launches a learner straight into that assignment.
    page = browser_page
    platform_sign_in(page, lms, "learner-3")
    launch(page, lti_web, LEDGER.title)
    assert page.url == f"{lti_web.base_url}/learn/assignments/py-ledger"


def test_a_learner_launches_submits_and_the_platform_receives_the_score_once(
    lti_web: WebStack,
    lms: Platform,
    ledger_link: dict[str, Any],
    browser_page: Any,
    axe_check: Axe,
    page_errors: list[str],
) -> None:
    page = browser_page
    platform_sign_in(page, lms, "learner-1")
    launch(page, lti_web, LEDGER.title)
    assert page.url == f"{lti_web.base_url}/learn/assignments/py-ledger"
    axe_check(page)
    page.goto(f"{lti_web.base_url}/learn")
    assert "lea.learner@example.org" in page.text_content("main")  # signed in as themselves
    page.go_back()

    submission_id = submit_reference(page, lti_web, "lti-learner-1")
    submission = the_submission(lti_web, submission_id)
    received = lms.wait_for("score for learner-1", lambda s: scores_of(s, "learner-1"), timeout=120)
    assert received[0]["line_item"] == ledger_link["line_item_id"]
    check_score(received[0]["score"], lti_web, submission)
    time.sleep(SETTLE_S)
    found = scores_of(lms.state(), "learner-1")
    assert len(found) == 1, found
    [row] = passbacks_of(lti_web, "learner-1")
    assert [(t["outcome"], t["status_code"]) for t in row["audit"]] == [("delivered", 200)], row
    assert not [e for e in page_errors if "Content Security Policy" in e or "Refused" in e], page_errors


def test_a_score_sent_while_the_platform_is_down_arrives_once_when_it_is_back(
    lti_web: WebStack, lms: Platform, ledger_link: dict[str, Any], browser_page: Any
) -> None:
    lms.scores_down(True)
    try:
        platform_sign_in(browser_page, lms, "learner-2")
        launch(browser_page, lti_web, LEDGER.title)
        submission_id = submit_reference(browser_page, lti_web, "lti-learner-2")

        def refused(state: dict[str, Any]) -> bool:
            return sum(1 for r in state["refused_scores"] if (r["score"] or {}).get("userId") == "learner-2") >= 2

        lms.wait_for("two refused tries for learner-2", refused, timeout=120)
        assert scores_of(lms.state(), "learner-2") == []
    finally:
        lms.scores_down(False)
    received = lms.wait_for("score for learner-2", lambda s: scores_of(s, "learner-2"), timeout=180)
    check_score(received[0]["score"], lti_web, the_submission(lti_web, submission_id))
    time.sleep(SETTLE_S)
    state = lms.state()
    found = scores_of(state, "learner-2")
    assert len(found) == 1, found

    # The grader's passback audit tells the same story: each refused try, then one delivery.
    [row] = passbacks_of(lti_web, "learner-2")
    assert row["status"] == "delivered" and row["delivered_score_given"] == found[0]["score"]["scoreGiven"]
    outcomes = [(t["outcome"], t["status_code"]) for t in row["audit"]]
    refused_here = sum(1 for r in state["refused_scores"] if (r["score"] or {}).get("userId") == "learner-2")
    assert outcomes == [("retry", 503)] * refused_here + [("delivered", 200)], outcomes


def test_an_instructor_launch_shows_the_class_results_and_the_paged_roster(
    lti_web: WebStack, lms: Platform, ledger_link: dict[str, Any], browser_page: Any, axe_check: Axe
) -> None:
    page = browser_page
    before = len(lms.state()["roster_requests"])
    platform_sign_in(page, lms, "instructor-1")
    launch(page, lti_web, LEDGER.title)
    assert page.url == f"{lti_web.base_url}/author/assignments/py-ledger"
    assert "Class results" in page.text_content("main")

    page.get_by_role("link", name="The course roster", exact=True).click()
    page.wait_for_url(re.compile(r"/lti/contexts/[^/]+/roster$"))
    rows = page.locator("#roster tbody tr")
    assert rows.count() == 6, page.text_content("main")  # three pages of two: every `next` was followed
    table = page.text_content("#roster")
    for name in ("Ines Teacher", "Lea Learner", "Bo Brown", "Cy Chen", "Di Diaz", "Ed Evans"):
        assert name in table
    assert "ines.teacher@example.org" in table
    instructor_row = page.locator("#roster tbody tr", has_text="Ines Teacher").text_content()
    assert "Instructor" in instructor_row
    axe_check(page)
    pages = [r.get("page", "1") for r in lms.state()["roster_requests"][before:]]
    assert sorted(pages)[:3] == ["1", "2", "3"], pages

    # The gradebook with the course roster: every learner of the course has a row with their LMS user id.
    page.go_back()
    link = page.get_by_role("link", name=re.compile("Download the gradebook with the course roster"))
    book = page.request.get(lti_web.base_url + link.get_attribute("href"))
    assert book.status == 200, book.text()
    rows = list(csv.DictReader(io.StringIO(book.text())))
    assert {r["lms_user_id"] for r in rows} >= {f"learner-{n}" for n in range(1, 6)}, rows
    assert "instructor-1" not in {r["lms_user_id"] for r in rows}


def test_a_replayed_launch_is_refused(
    lti_web: WebStack, lms: Platform, ledger_link: dict[str, Any], browser_page: Any
) -> None:
    page = browser_page
    platform_sign_in(page, lms, "learner-4")
    launch(page, lti_web, LEDGER.title)
    assert page.url == f"{lti_web.base_url}/learn/assignments/py-ledger"
    sent = [x for x in lms.state()["launches"] if x["user"] == "learner-4"][-1]
    form = {"id_token": sent["id_token"], "state": sent["state"]}

    # The same form posted again from the same browser (its cookies and all).
    again = page.request.post(f"{lti_web.base_url}/lti/launch", form=form, max_redirects=0)
    assert again.status in (400, 401, 403) and 'id="lti-check">state<' in again.text(), again.text()

    # The same id_token with a state of a fresh login: its nonce was spent.
    with httpx.Client(base_url=lti_web.base_url, timeout=10) as client:
        login = client.get(
            "/lti/login",
            params={
                "iss": lms.issuer,
                "login_hint": "learner-4",
                "target_link_uri": f"{lti_web.base_url}/lti/launch",
                "client_id": CLIENT_ID,
            },
        )
        assert login.status_code == 302, login.text
        fresh = dict(parse_qsl(urlsplit(login.headers["location"]).query))["state"]
        replayed = client.post("/lti/launch", data={"id_token": sent["id_token"], "state": fresh})
    assert replayed.status_code in (400, 401, 403) and 'id="lti-check">nonce<' in replayed.text, replayed.text


def test_a_login_initiated_by_post_launches_too(
    lti_web: WebStack, lms: Platform, ledger_link: dict[str, Any], browser_page: Any
) -> None:
    platform_sign_in(browser_page, lms, "learner-3")
    launch(browser_page, lti_web, LEDGER.title, by_post=True)
    assert browser_page.url == f"{lti_web.base_url}/learn/assignments/py-ledger"


def test_a_platform_that_rotated_its_key_is_trusted_with_the_new_one(
    lti_web: WebStack, lms: Platform, ledger_link: dict[str, Any], browser_page: Any
) -> None:
    """The grader has the platform's old key cached; the launch names a kid it does not know, so it reads
    the platform's JWKS again."""
    before = [x["id_token"] for x in lms.state()["launches"]]
    assert before, "an earlier launch would have cached the old key"
    kid = lms.rotate_key()
    platform_sign_in(browser_page, lms, "learner-2")
    launch(browser_page, lti_web, LEDGER.title)
    assert browser_page.url == f"{lti_web.base_url}/learn/assignments/py-ledger"
    signed = lms.state()["launches"][-1]["id_token"]
    assert jwt.get_unverified_header(signed)["kid"] == kid
    assert all(jwt.get_unverified_header(t)["kid"] != kid for t in before)


def test_an_instructor_on_a_link_without_an_assignment_is_asked_to_place_one(
    lti_web: WebStack, lms: Platform, browser_page: Any
) -> None:
    lms.add_link("Course tools")
    platform_sign_in(browser_page, lms, "instructor-1")
    launch(browser_page, lti_web, "Course tools")
    assert browser_page.url == f"{lti_web.base_url}/author"
    assert "place one from the course with Deep Linking" in browser_page.text_content("main")


DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
SPOILT = {
    "exp": {"exp_shift": -600},
    "iat": {"iat_shift": 600},
    "aud": {"claims": {"aud": "another-tool", "azp": "another-tool"}},
    "azp": {"claims": {"aud": [CLIENT_ID, "another-tool"]}, "drop": ["azp"]},
    "deployment_id": {"claims": {DEPLOYMENT_CLAIM: "deployment-unknown"}},
    "signature": {"forge": True},
    "kid": {"kid": "a-kid-the-platform-never-published"},
}


@pytest.mark.parametrize("check", list(SPOILT))
def test_a_spoilt_id_token_from_the_platform_is_refused(
    check: str, lti_web: WebStack, lms: Platform, ledger_link: dict[str, Any], browser_page: Any
) -> None:
    """The platform signs (or forges) a token that is wrong in one way; the launch page names that check."""
    platform_sign_in(browser_page, lms, "learner-4")
    lms.twist_next_launch(**SPOILT[check])
    launch(browser_page, lti_web, LEDGER.title)
    assert browser_page.url == f"{lti_web.base_url}/lti/launch"
    assert browser_page.text_content("#lti-check") == check, browser_page.text_content("main")
    # Nothing was left signed in: the grader's pages still ask who this is.
    browser_page.goto(f"{lti_web.base_url}/learn")
    assert "/sign-in" in browser_page.url


def test_a_launch_works_with_third_party_cookies_blocked(
    lti_web: WebStack, lms: Platform, ledger_link: dict[str, Any], _playwright_browser: Any
) -> None:
    # Third-party cookies blocked by Chromium's own switch, the platform on another site (127.0.0.2).
    browser = _playwright_browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--test-third-party-cookie-phaseout"]
    )
    try:
        page = browser.new_context().new_page()
        platform_sign_in(page, lms, "learner-5")
        launch(page, lti_web, LEDGER.title)
        assert page.url == f"{lti_web.base_url}/learn/assignments/py-ledger"
        assert page.get_by_label("Git repository URL").is_visible()
        page.goto(f"{lti_web.base_url}/learn")
        assert "ed.evans@example.org" in page.text_content("main")
    finally:
        browser.close()


def test_a_mock_provider_launch_passes_every_check_and_names_the_missing_assignment(
    lti_web: WebStack, mock_lms: MockProvider, browser_page: Any, axe_check: Axe
) -> None:
    """lti-provider-mock launches resource link `1` with no custom claims, so no assignment is named: every
    security check passes (state, signature, nonce, iss, aud, deployment) and the grader says which
    assignment is missing, instead of a security failure."""
    page = browser_page
    page.goto(mock_lms.base_url + "/login")
    page.get_by_label("User").select_option("mock-learner-1")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Mock course").click()
    page.wait_for_url(f"{lti_web.base_url}/lti/launch")
    assert page.text_content("#lti-check") == "assignment", page.text_content("main")
    axe_check(page)


def test_dynamic_registration_from_the_platforms_page(
    lti_web: WebStack, browser_page: Any, axe_check: Axe, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page = browser_page
    with running_platform(tmp_path_factory.mktemp("lms-dynamic"), host=OTHER_HOST) as other:
        author_signed_in(page, lti_web)
        page.goto(f"{lti_web.base_url}/author/lti")
        invite = page.text_content("#lti-invite").strip()
        page.goto(other.url("/admin/tools"))
        page.get_by_label("Tool registration URL").fill(invite)
        page.get_by_role("button", name="Register the tool").click()
        page.wait_for_url(re.compile("^" + re.escape(lti_web.base_url) + r"/lti/register\?"))
        tool = other.state()["tool"]
        assert tool is not None, other.state()["errors"]
        assert tool["client_id"] in page.text_content("#lti-registered")
        axe_check(page)
        assert tool["launch_url"] == f"{lti_web.base_url}/lti/launch"
        assert tool["jwks_url"] == f"{lti_web.base_url}/lti/jwks"

        other.add_link("Ledger (dynamic)", {"assignment": "py-ledger"})
        page.context.clear_cookies()
        platform_sign_in(page, other, "learner-1")
        launch(page, lti_web, "Ledger (dynamic)")
        assert page.url == f"{lti_web.base_url}/learn/assignments/py-ledger"
