"""The learner's pages in a browser on the real stack: sign in through the link mailed to the outbox,
submit the bundled py-ledger reference (served by the stack's loopback git server), watch the grading
reach `graded` without the page reloading, read the feedback, follow on to the credential's page. Every
page is checked with axe-core, and at 360 px wide."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email import message_from_bytes
from itertools import count
from pathlib import Path
from typing import Any

from tests.browser.conftest import LEDGER_DIR, WebStack
from tests.distinct import publish_own

Axe = Callable[[Any], Any]
GRADING_TIMEOUT_MS = 600_000
_n = count()


def outbox_link(web_stack: WebStack, email: str, timeout: float = 20) -> str:
    """The sign-in link of the newest mail to `email` in the stack's outbox (<GRADER_HOME>/outbox)."""
    outbox = Path(web_stack.stack.home) / "outbox"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), reverse=True) if outbox.is_dir() else []:
            message = message_from_bytes(path.read_bytes())
            if str(message["To"]).lower() == email.lower():
                body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
                found = re.search(r"https?://\S+/sign-in/\S+", body)
                assert found, body
                return found.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {email} in {outbox}")


def fits_on_a_phone(page: Any) -> None:
    """At 360 px nothing makes the page scroll sideways (wide tables scroll inside their own box)."""
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 740})
    try:
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, f"{page.url} is {width} px wide at a 360 px viewport"
    finally:
        page.set_viewport_size(size)


def sign_in(page: Any, web_stack: WebStack, email: str, axe_check: Axe | None = None) -> None:
    page.goto(f"{web_stack.base_url}/t/{web_stack.tenant}/sign-in")
    if axe_check:
        axe_check(page)
        fits_on_a_phone(page)
    page.get_by_label("Your email address").fill(email)
    page.get_by_role("button", name="Mail me a sign-in link").click()
    page.wait_for_url(re.compile(r"/sign-in/sent$"))
    assert "We sent a sign-in link" in page.text_content("main")
    if axe_check:
        axe_check(page)
    page.goto(outbox_link(web_stack, email))
    if axe_check:
        axe_check(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/learn$"))


def test_learner_flow_end_to_end(
    web_stack: WebStack, browser_page: Any, axe_check: Axe, page_errors: list[str]
) -> None:
    web_stack.publish_ledger()
    page = browser_page
    email = f"learner-{next(_n)}@example.org"
    sign_in(page, web_stack, email, axe_check)
    assert email in page.text_content("main")
    axe_check(page)
    fits_on_a_phone(page)

    page.get_by_role("link", name=re.compile("ledger", re.I)).first.click()
    page.wait_for_url(re.compile(r"/learn/assignments/py-ledger$"))
    axe_check(page)
    fits_on_a_phone(page)
    repo = publish_own(web_stack.git, f"browser-reference-{next(_n)}", LEDGER_DIR / "solutions" / "reference")
    page.get_by_label("Git repository URL").fill(repo)
    page.get_by_role("button", name="Submit for grading").click()
    page.wait_for_url(re.compile(r"/learn/submissions/[0-9a-f]+$"))
    progress_url = page.url

    # The page is never reloaded while grading: a mark set now must still be there at the end.
    page.evaluate("() => { window.__notReloaded = true; }")
    axe_check(page)
    fits_on_a_phone(page)
    seen: list[str] = []
    page.expose_function("__seen", lambda text: seen.append(text))
    page.evaluate(
        "() => new MutationObserver(() => window.__seen(document.getElementById('stage-now').textContent))"
        ".observe(document.getElementById('stage-now'), {childList: true, characterData: true, subtree: true})"
    )
    page.locator("#result").wait_for(state="visible", timeout=GRADING_TIMEOUT_MS)
    assert page.evaluate("() => window.__notReloaded === true"), "the progress page reloaded"
    assert page.url == progress_url
    assert page.evaluate("() => document.getElementById('progress').value") == page.evaluate(
        "() => document.getElementById('progress').max"
    )
    assert "Graded" in page.text_content("#stage-now")
    assert seen, "no stage change was shown while grading"
    assert "Passed" in page.text_content("#result-summary")
    axe_check(page)

    page.get_by_role("link", name="Read your feedback").click()
    page.wait_for_url(re.compile(r"/feedback$"))
    main = page.text_content("main")
    assert "Passed" in main and "Rubric" in main and "Levels:" in main
    assert "test_core_hidden.py" not in main  # hidden tests: a summary only (the spec's rule)
    axe_check(page)
    fits_on_a_phone(page)

    page.get_by_role("link", name="See your credential").first.click()
    page.wait_for_url(re.compile(r"/api/v1/public/credentials/[0-9a-f]+"))
    assert page.url.split("/api/v1/public/credentials/")[1]

    page.goto(f"{web_stack.base_url}/learn")
    assert "Attempt 1" in page.text_content("main")
    axe_check(page)
    assert not [e for e in page_errors if "Content Security Policy" in e or "Refused" in e], page_errors


def test_a_used_link_does_not_sign_in_again(web_stack: WebStack, browser_page: Any, axe_check: Axe) -> None:
    page = browser_page
    email = f"learner-{next(_n)}@example.org"
    sign_in(page, web_stack, email)
    link = outbox_link(web_stack, email)
    page.context.clear_cookies()
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    assert "already used" in page.text_content("[role=alert]")
    axe_check(page)
    page.goto(f"{web_stack.base_url}/learn")
    assert page.url.endswith("/learn/sign-in")


def test_a_refused_url_is_told_in_the_form(web_stack: WebStack, browser_page: Any, axe_check: Axe) -> None:
    web_stack.publish_ledger()
    page = browser_page
    sign_in(page, web_stack, f"learner-{next(_n)}@example.org")
    page.goto(f"{web_stack.base_url}/learn/assignments/py-ledger")
    page.get_by_label("Git repository URL").fill("https://evil.example/me/ledger.git")
    page.get_by_role("button", name="Submit for grading").click()
    alert = page.locator("[role=alert]")
    assert "evil.example" in alert.text_content()
    assert page.get_by_label("Git repository URL").get_attribute("aria-invalid") == "true"
    axe_check(page)
