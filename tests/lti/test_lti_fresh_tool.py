"""A grader whose LTI signing key has never been used, and a platform that reads the grader's key set
only when it needs it (at the first client-credentials token, as most do): the first service call, an
instructor opening the course roster, must work. (tests/lti/test_lti_e2e.py's platform reads the key set
when the tool is added, and its deep linking signs with the key first.)"""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import WebStack
from tests.lti.processes import Platform
from tests.lti.test_lti_e2e import launch, platform_sign_in

CHECK_TOOL_KEYS = False  # read by tests/lti/conftest.py's `lms`


def test_the_first_service_call_of_a_fresh_tool_reads_the_roster(
    lti_web: WebStack, lms: Platform, browser_page: Any
) -> None:
    lms.add_link("Ledger", {"assignment": "py-ledger"})
    page = browser_page
    platform_sign_in(page, lms, "instructor-1")
    launch(page, lti_web, "Ledger")
    assert page.url == f"{lti_web.base_url}/author/assignments/py-ledger"
    page.get_by_role("link", name="The course roster").click()
    page.wait_for_url(re.compile(r"/lti/contexts/[^/]+/roster$"))
    assert page.locator("#roster tbody tr").count() == 6, page.text_content("main")
    assert lms.state()["token_refusals"] == []
