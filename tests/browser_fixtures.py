"""The browser fixtures every browser test shares (tests/browser, tests/lti, the LTI launch test), one
plugin of the root conftest so that one Playwright (sync API) and one Chromium serve the whole session:
Playwright's sync API refuses a second instance while one is running in the thread.

- `_playwright_browser` (session): Debian's chromium launched through Playwright.
- `browser_page` (function): a page of its own context (own cookies), 1280 px wide; what went wrong on it
  lands in `page_errors`.
- `axe_check` (function): `axe_check(page)` runs axe-core and fails on serious or critical violations.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_VERSION = "4.10.3"


@pytest.fixture(scope="session")
def _playwright_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "chromium is needed for the browser tests (scripts/bootstrap.sh installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page_errors() -> list[str]:
    return []


@pytest.fixture
def browser_page(_playwright_browser: Any, page_errors: list[str]) -> Iterator[Any]:
    """A fresh page (own cookies) 1280 px wide; console errors and page errors land in `page_errors`."""
    context = _playwright_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    def on_console(message: Any) -> None:
        # A failed load is reported below with its URL; the console's own line names none.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page_errors.append(message.text)

    def on_response(response: Any) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            page_errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("response", on_response)
    try:
        yield page
    finally:
        context.close()


def _axe_dir() -> Path:
    base = Path(os.environ.get("GRADER_INTEROP_CACHE") or Path.home() / ".cache" / "capstone-grader")
    return base / f"axe-core-{AXE_VERSION}"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser build, installed with npm outside the checkout on first use."""
    target = _axe_dir()
    script = target / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        assert npm, "npm is needed for axe-core (scripts/bootstrap.sh installs it)"
        staging = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        (staging / "package.json").write_text('{"name": "axe-cache", "private": true}\n')
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--save-exact", f"axe-core@{AXE_VERSION}"],
            cwd=staging,
            check=True,
            capture_output=True,
            timeout=600,
        )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return script.read_text(encoding="utf-8")


@pytest.fixture
def axe_check(axe_source: str) -> Callable[[Any], list[dict[str, Any]]]:
    """`axe_check(page)`: axe-core over the page as it is now; fails on serious or critical violations.
    Returns every violation found (minor and moderate ones included) for the caller to look at."""

    def check(page: Any) -> list[dict[str, Any]]:
        # evaluate() runs through the DevTools protocol, so the page's CSP (no inline scripts) allows it.
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(axe_source + "\n;undefined")
        result: dict[str, Any] = page.evaluate(
            "async () => await window.axe.run(document, {resultTypes: ['violations']})"
        )
        violations: list[dict[str, Any]] = result["violations"]
        bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
        for violation in bad:
            print(f"axe {violation['impact']}: {violation['id']}: {violation['help']} ({violation['helpUrl']})")
            for node in violation["nodes"][:10]:
                print(f"    {node.get('target')}: {node.get('failureSummary', '').strip()}")
        assert not bad, f"{page.url}: {len(bad)} serious or critical accessibility violation(s): " + ", ".join(
            v["id"] for v in bad
        )
        return violations

    return check
