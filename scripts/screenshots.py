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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
