"""The author's pages in a browser on the real stack: an author-scoped key exchanged for a session, a
broken spec uploaded (its errors inline), a good one (checking, then published with the check table,
the page following the check by itself), class results and the gradebook. Every page is checked with
axe-core, and at 360 px wide."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from grader.demo.stack import CHECK_TIMEOUT_S
from tests.browser.conftest import LEDGER_DIR, WebStack
from tests.browser.test_learner_pages import fits_on_a_phone

Axe = Callable[[Any], Any]
WEB_VERSION = "1.0.1"  # not the version publish_ledger uploads, so this test sees its own check run


def ledger_tarball(target: Path, edit: dict[str, Any]) -> Path:
    """assignments/py-ledger with its spec edited, solutions included, as a .tar.gz file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(LEDGER_DIR.rglob("*")):
            rel = path.relative_to(LEDGER_DIR)
            if not path.is_file() or "__pycache__" in rel.parts:
                continue
            data = path.read_bytes()
            if rel.as_posix() == "assignment.yaml":
                spec = yaml.safe_load(data)
                spec.update(edit)
                data = yaml.safe_dump(spec, sort_keys=False).encode()
            info = tarfile.TarInfo(f"py-ledger/{rel.as_posix()}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target.write_bytes(buffer.getvalue())
    return target


def author_key(web_stack: WebStack, scope: str = "author") -> str:
    with web_stack.client() as client:
        made = client.post("/api/v1/api-keys", json={"scopes": [scope], "name": f"browser {scope}"})
        assert made.status_code == 201, made.text
        return str(made.json()["key"])


def sign_in(page: Any, web_stack: WebStack, key: str) -> None:
    page.goto(f"{web_stack.base_url}/author/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_author_uploads_a_bad_then_a_good_spec(
    web_stack: WebStack, browser_page: Any, axe_check: Axe, tmp_path: Path
) -> None:
    page = browser_page
    page.goto(f"{web_stack.base_url}/author/sign-in")
    axe_check(page)
    fits_on_a_phone(page)
    key = author_key(web_stack)
    sign_in(page, web_stack, key)
    page.wait_for_url(re.compile(r"/author$"))
    assert key not in page.content()
    axe_check(page)
    fits_on_a_phone(page)

    bad = ledger_tarball(tmp_path / "bad.tar.gz", {"version": "one"})
    page.get_by_label("Assignment folder (.tar.gz)").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and check").click()
    alert = page.locator("[role=alert]")
    alert.wait_for()
    text = alert.text_content()
    assert "was not accepted" in text and "assignment.yaml" in text and "version" in text
    assert "semantic version" in page.locator("#upload-errors").text_content()
    axe_check(page)
    fits_on_a_phone(page)

    good = ledger_tarball(tmp_path / "good.tar.gz", {"version": WEB_VERSION})
    page.get_by_label("Assignment folder (.tar.gz)").set_input_files(str(good))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(rf"/author/assignments/py-ledger/versions/{re.escape(WEB_VERSION)}$"))
    assert "checking" in page.text_content("#check-status")
    axe_check(page)
    fits_on_a_phone(page)
    # The page follows the check by itself (its script reloads it once the check has ended).
    page.locator(".status-published, .status-refused").first.wait_for(timeout=int(CHECK_TIMEOUT_S * 1000))
    assert "published" in page.text_content("#check-status"), page.text_content("main")
    table = page.locator("#check-table")
    assert "reference" in table.text_content()
    axe_check(page)
    fits_on_a_phone(page)

    page.get_by_role("link", name="Assignments").first.click()
    page.wait_for_url(re.compile(r"/author$"))
    assert page.locator(".status-published").count() >= 1
    page.get_by_role("link", name=re.compile("ledger", re.I)).first.click()
    page.wait_for_url(re.compile(r"/author/assignments/py-ledger$"))
    assert page.locator("svg.chart").count() == 1
    axe_check(page)
    fits_on_a_phone(page)


def test_class_results_show_a_graded_learner_and_the_gradebook(
    web_stack: WebStack, browser_page: Any, axe_check: Axe
) -> None:
    done = web_stack.issue_reference()
    page = browser_page
    sign_in(page, web_stack, author_key(web_stack, "admin"))
    page.goto(f"{web_stack.base_url}/author/assignments/py-ledger")
    learners = page.locator("#learners").text_content()
    assert done["learner"] in learners
    assert page.get_by_role("button", name=re.compile("Revoke")).count() >= 1  # an admin key may revoke
    axe_check(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the gradebook (CSV)").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.startswith("learner,attempts,best_score")
    assert done["learner"] in content and done["credential_id"] in content


def test_a_submit_key_opens_no_author_page(web_stack: WebStack, browser_page: Any, axe_check: Axe) -> None:
    page = browser_page
    sign_in(page, web_stack, author_key(web_stack, "submit"))
    assert "author or admin scope" in page.locator("[role=alert]").text_content()
    axe_check(page)
    page.goto(f"{web_stack.base_url}/author")
    assert page.url.endswith("/author/sign-in")
