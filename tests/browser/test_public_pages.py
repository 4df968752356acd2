"""The public pages in a browser: the credential page, the issuer and achievement pages, the verifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.browser.conftest import WebStack


def test_home_page_loads_without_errors_and_passes_axe(
    web_stack: WebStack, browser_page: Any, axe_check: Callable[[Any], Any], page_errors: list[str]
) -> None:
    response = browser_page.goto(web_stack.base_url + "/")
    assert response is not None and response.status == 200
    axe_check(browser_page)
    assert page_errors == []
