"""End-to-end LTI fixtures: the grader's web stack (API + workers + Redis + Docker, tests/browser's), the
test LMS and lti-provider-mock in their own processes on other loopback addresses, each registered with
the grader the way an administrator does it, and Chromium pages (tests/browser's fixtures).

- `lti_web` (module): the running grader (tests/browser's WebStack) whose outbound guard lets it reach the
  platforms' loopback addresses; py-ledger published once.
- `lms` (module): the test LMS (tests/lti/platform), registered with the grader through the admin's
  LMS page (client id `grader-tool`, deployment `deployment-1`) and told the grader's tool URLs.
- `mock_lms` (module): lti-provider-mock, registered from the command line (`grader lti add`).
- `browser_page`, `page_errors`, `axe_check`: tests/browser's (a fresh Chromium page with its own cookies;
  axe-core over a page).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import WebStack, running_web_stack
from tests.integration.test_service_stack import Services, running_services
from tests.lti.processes import (
    MOCK_HOST,
    PLATFORM_HOST,
    MockProvider,
    Platform,
    running_mock_provider,
    running_platform,
)

CLIENT_ID = "grader-tool"
DEPLOYMENT = "deployment-1"
OTHER_HOST = "127.0.0.4"  # a second test LMS, registered by Dynamic Registration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end modules (test_lti_*.py) drive Chromium against the integration stack."""
    for item in items:
        path = Path(str(item.fspath))
        if path.parent == Path(__file__).parent and path.name.startswith("test_lti_"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def lti_redis() -> Iterator[Services]:
    with running_services(postgres=False) as services:
        yield services


@pytest.fixture(scope="module")
def lti_web(lti_redis: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    with running_web_stack(
        lti_redis,
        tmp_path_factory.mktemp("lti-home"),
        tmp_path_factory.mktemp("lti-git"),
        GRADER_OUTBOUND_ALLOW=json.dumps(["127.0.0.1", PLATFORM_HOST, MOCK_HOST, OTHER_HOST]),
        # Passback retries come quickly, so a platform that is down for a while is tried again soon.
        GRADER_WEBHOOK_RETRY_BASE_S="1",
        GRADER_WEBHOOK_RETRIES="8",
    ) as web:
        web.publish_ledger()
        yield web


def tool_urls(web: WebStack) -> dict[str, str]:
    base = web.base_url
    return {
        "oidc_login_url": f"{base}/lti/login",
        "launch_url": f"{base}/lti/launch",
        "jwks_url": f"{base}/lti/jwks",
        "deep_link_url": f"{base}/lti/launch",
    }


def author_signed_in(page: Any, web: WebStack) -> None:
    """The tenant's administrator signs in to the author pages with the admin key."""
    page.goto(f"{web.base_url}/author/sign-in")
    page.get_by_label("API key").fill(web.admin_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/author$"))


def register_platform(
    page: Any, web: WebStack, registration: dict[str, str], client_id: str, deployment: str, name: str
) -> None:
    """The administrator adds a platform on the grader's LMS page (/author/lti), as from the LMS's own
    screen that shows its issuer, client id, deployment id and endpoints."""
    author_signed_in(page, web)
    page.goto(f"{web.base_url}/author/lti")
    form = page.locator("form[action='/author/lti/registrations']")
    form.locator("[name=name]").fill(name)
    form.locator("[name=issuer]").fill(registration["issuer"])
    form.locator("[name=client_id]").fill(client_id)
    form.locator("[name=auth_login_url]").fill(registration["auth_url"])
    form.locator("[name=token_url]").fill(registration["token_url"])
    form.locator("[name=jwks_url]").fill(registration["jwks_url"])
    form.locator("[name=deployments]").fill(deployment)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/author/lti$"))
    assert client_id in page.text_content("main"), page.text_content("main")


@pytest.fixture(scope="module")
def lms(lti_web: WebStack, _playwright_browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The test LMS registered with the grader. Like most platforms it reads the grader's key set only when
    it needs it (the first deep-linking response or client-credentials token)."""
    with running_platform(tmp_path_factory.mktemp("lms")) as platform:
        context = _playwright_browser.new_context()
        try:
            register_platform(context.new_page(), lti_web, platform.registration, CLIENT_ID, DEPLOYMENT, "Test LMS")
        finally:
            context.close()
        platform.set_tool(client_id=CLIENT_ID, deployment_id=DEPLOYMENT, name="Grader", **tool_urls(lti_web))
        yield platform


@pytest.fixture(scope="module")
def mock_lms(lti_web: WebStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    """lti-provider-mock, registered with the grader from the command line (`grader lti add`)."""
    urls = tool_urls(lti_web)
    with running_mock_provider(
        tmp_path_factory.mktemp("mock-lms"), login_url=urls["oidc_login_url"], launch_url=urls["launch_url"]
    ) as mock:
        made = json.loads(
            lti_web.stack.cli(
                "lti",
                "add",
                "--tenant",
                lti_web.tenant,
                "--issuer",
                mock.registration["issuer"],
                "--client-id",
                mock.client_id,
                "--auth-login-url",
                mock.registration["auth_url"],
                "--token-url",
                mock.registration["token_url"],
                "--jwks-url",
                mock.registration["jwks_url"],
                "--deployment",
                mock.deployment_id,
                "--name",
                "lti-provider-mock",
                "--json",
            )
        )
        assert made["client_id"] == mock.client_id, made
        yield mock
