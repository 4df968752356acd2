#!/usr/bin/env python3
"""Screenshots of the public pages for the README, written to docs/screenshots/ (run on purpose:
`.venv/bin/python scripts/screenshots.py`; tests never write tracked files).

Starts the service as the browser tests do (tests/browser/conftest.py: Redis, API and workers on
loopback, Docker), publishes the bundled py-ledger assignment, grades its reference solution, and takes
each public page (credential, issuer, achievement, verifier with a verified result, verifier with a
tampered credential, a revoked credential) at desktop (1280 px) and phone (360 px) widths.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import conftest as browser  # noqa: E402
from tests.integration.test_service_stack import running_services  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 360}


def main() -> int:
    import tempfile

    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="grader-screens-") as tmp:
        services = stack.enter_context(running_services(postgres=False))
        web = stack.enter_context(browser.running_web_stack(services, Path(tmp) / "home", Path(tmp) / "git"))
        done = web.issue_reference()
        revoked_submission = web.submit("reference", "revoked@example.org")
        with web.client() as client:
            credential = client.get(f"/api/v1/credentials/{done['credential_id']}").json()
            revoked = client.get(f"/api/v1/credentials/{revoked_submission['credential_id']}").json()
            client.post(f"/api/v1/credentials/{revoked['id']}/revoke", json={"reason": "issued in error"})
        document = credential["document"]
        tampered = copy.deepcopy(document)
        tampered["credentialSubject"]["achievement"]["name"] = "A different achievement"
        playwright = stack.enter_context(sync_playwright())
        chromium = playwright.chromium.launch(executable_path=browser.CHROMIUM, args=browser.CHROMIUM_ARGS)
        stack.callback(chromium.close)

        def verified(page: Any, body: dict[str, Any]) -> None:
            page.goto(f"{web.base_url}/verify")
            page.locator("#credential").fill(json.dumps(body))
            page.get_by_role("button", name="Verify").click()
            page.locator("#result").wait_for()

        shots: dict[str, Any] = {
            "credential": lambda page: page.goto(credential["public_url"]),
            "credential-revoked": lambda page: page.goto(revoked["public_url"]),
            "issuer": lambda page: page.goto(document["issuer"]["url"]),
            "achievement": lambda page: page.goto(document["credentialSubject"]["achievement"]["id"]),
            "verify": lambda page: page.goto(f"{web.base_url}/verify"),
            "verify-verified": lambda page: verified(page, document),
            "verify-tampered": lambda page: verified(page, tampered),
        }
        for label, width in WIDTHS.items():
            context = chromium.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
            page = context.new_page()
            for name, visit in shots.items():
                visit(page)
                target = OUT / f"{name}-{label}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target.relative_to(ROOT))
            context.close()
        _learner_and_author_shots(web, chromium, done)
    return 0


def _learner_and_author_shots(web: Any, chromium: Any, done: dict[str, Any]) -> None:
    """The learner's pages (signed in by the outbox link as the reference's learner) and the author's
    (signed in with the admin key), at both widths."""
    from tests.browser import test_author_pages as author
    from tests.browser import test_learner_pages as learner

    submission = f"{web.base_url}/learn/submissions/{done['id']}"
    learner_shots: dict[str, str] = {
        "learner-dashboard": f"{web.base_url}/learn",
        "learner-assignment": f"{web.base_url}/learn/assignments/py-ledger",
        "learner-progress": submission,
        "learner-feedback": f"{submission}/feedback",
    }
    author_shots: dict[str, str] = {
        "author-assignments": f"{web.base_url}/author",
        "author-class-results": f"{web.base_url}/author/assignments/py-ledger",
        "author-version": f"{web.base_url}/author/assignments/py-ledger/versions/{done['version']}",
    }
    for label, width in WIDTHS.items():
        for sign_in, shots in (
            (lambda page: learner.sign_in(page, web, done["learner"]), learner_shots),
            (lambda page: author.sign_in(page, web, web.admin_key), author_shots),
        ):
            context = chromium.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
            page = context.new_page()
            sign_in(page)
            page.wait_for_url(re.compile(r"/(learn|author)$"))
            for name, url in shots.items():
                page.goto(url)
                target = OUT / f"{name}-{label}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target.relative_to(ROOT))
            context.close()


if __name__ == "__main__":
    raise SystemExit(main())
