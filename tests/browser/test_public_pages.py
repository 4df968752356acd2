"""The public pages in a browser, on the real service: a credential issued to the bundled py-ledger
reference (graded through the stack), every URL inside it, its page, the issuer and achievement pages,
the verifier (pasted, uploaded, tampered, revoked, other issuers), each checked with axe-core."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from credentials.bake import extract_credential
from tests.browser.conftest import WebStack

ROOT = Path(__file__).resolve().parents[2]
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # what chromium sends
LD = {"Accept": "application/ld+json"}
Axe = Callable[[Any], Any]


@pytest.fixture(scope="module")
def issued(web_stack: WebStack) -> dict[str, Any]:
    """The reference's credential as the API returns it (document, public_url...)."""
    submission = web_stack.issue_reference()
    with web_stack.client() as client:
        credential: dict[str, Any] = client.get(f"/api/v1/credentials/{submission['credential_id']}").json()
    return credential


def _urls(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, url) of every http(s) URL in the document, @context aside."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "@context":
                yield from _urls(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _urls(item, key)
    elif isinstance(node, str) and node.startswith(("http://", "https://")):
        yield key, node


def _media(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip()


def test_every_url_in_the_credential_resolves_for_a_browser_and_a_machine(
    web_stack: WebStack, issued: dict[str, Any]
) -> None:
    document = issued["document"]
    base = web_stack.base_url
    urls = {url.split("#")[0] for _, url in _urls(document)}
    evidence = {e["id"].split("#")[0] for e in document["evidence"]}
    ours = urls - evidence
    subject = document["credentialSubject"]
    achievement = subject["achievement"]
    image = achievement["image"]["id"]
    assert image == f"{achievement['id']}/image.png"
    assert {
        document["issuer"]["url"],
        achievement["id"],
        image,
        document["credentialStatus"]["statusListCredential"],
    } <= ours
    assert all(u.startswith(base) for u in ours), ours
    did_url = f"{base}/tenants/{web_stack.tenant}/did.json"
    pages = {issued["public_url"], document["issuer"]["url"], achievement["id"]}
    seen = []
    for url in sorted(ours | {issued["public_url"], did_url}):
        as_browser = httpx.get(url, headers=HTML, timeout=30)
        as_machine = httpx.get(url, headers=LD, timeout=30)
        assert as_browser.status_code == 200, (url, as_browser.text[:300])
        assert as_machine.status_code == 200, (url, as_machine.text[:300])
        if url in pages:
            expected_browser, expected_machine = "text/html", "application/ld+json"
        elif url == image:
            expected_browser = expected_machine = "image/png"
        elif url == did_url:
            expected_browser = expected_machine = "application/did+json"
        else:  # the status list credential: a document for everyone
            expected_browser = expected_machine = "application/ld+json"
        assert _media(as_browser) == expected_browser, url
        assert _media(as_machine) == expected_machine, url
        seen.append(url)
    assert len(seen) >= 6
    # The JSON-LD behind the pages is what the credential says.
    assert httpx.get(issued["public_url"], headers=LD).json() == document
    assert httpx.get(issued["public_url"], headers={"Accept": "application/json"}).json() == document
    profile = httpx.get(document["issuer"]["url"], headers=LD).json()
    assert profile["id"] == document["issuer"]["id"] and "Profile" in profile["type"]
    served = httpx.get(achievement["id"], headers=LD).json()
    assert {k: v for k, v in served.items() if k not in ("@context", "creator")} == achievement
    assert served["criteria"]["narrative"] and any(
        d["resultType"] == "RubricCriterionLevel" for d in served["resultDescription"]
    )
    # The evidence repository (on the loopback git server) answers as a git remote.
    for repository in evidence:
        refs = httpx.get(f"{repository}/info/refs?service=git-upload-pack", timeout=30)
        assert refs.status_code == 200, repository
    # The default image is deterministic.
    assert httpx.get(image).content == httpx.get(image).content


def test_credential_page_shows_the_credential_and_its_checks_passing(
    web_stack: WebStack, issued: dict[str, Any], browser_page: Any, axe_check: Axe, page_errors: list[str]
) -> None:
    page = browser_page
    document = issued["document"]
    response = page.goto(issued["public_url"])
    assert response.status == 200 and response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    name = document["credentialSubject"]["achievement"]["name"]
    assert page.locator("h1").inner_text() == name
    assert "Verified" in page.locator("#status").inner_text()
    outcomes = {
        li.get_attribute("data-check"): li.get_attribute("data-outcome") for li in page.locator(".checks li").all()
    }
    assert outcomes["proof"] == outcomes["status"] == outcomes["issuer_key"] == outcomes["evidence"] == "passed"
    assert "failed" not in outcomes.values()
    assert page.locator("img.badge").evaluate("img => img.naturalWidth") > 0
    issuer_link = page.get_by_role("link", name=document["issuer"]["name"])
    assert issuer_link.get_attribute("href") == document["issuer"]["url"]
    # Rubric results: every criterion with the level reached.
    rows = page.locator("table tbody tr")
    assert rows.count() == 4
    assert "Exemplary" in page.locator("table").inner_text()
    # Evidence: the repository at its commit, linked.
    evidence = document["evidence"][0]["id"]
    repository, commit = evidence.split("#commit=")
    assert page.locator(f'a[href="{repository}"]').count() == 1
    assert commit in page.locator(".commit").inner_text()
    # Open Graph and Twitter cards.
    meta = {
        m.get_attribute("property") or m.get_attribute("name"): m.get_attribute("content")
        for m in page.locator("meta[property], meta[name]").all()
    }
    assert meta["og:title"] == name and meta["og:url"] == issued["public_url"]
    assert meta["og:image"].startswith(web_stack.base_url) and meta["og:image"].endswith("/image.png")
    assert meta["twitter:card"] == "summary" and meta["twitter:title"] == name
    # LinkedIn.
    linkedin = urlsplit(page.locator("#linkedin").get_attribute("href"))
    assert linkedin.netloc == "www.linkedin.com" and linkedin.path == "/profile/add"
    query = {k: v[0] for k, v in parse_qs(linkedin.query).items()}
    assert query["startTask"] == "CERTIFICATION_NAME" and query["name"] == name
    assert query["organizationName"] == document["issuer"]["name"] and query["certUrl"] == issued["public_url"]
    assert query["certId"] == document["id"] and query["issueYear"] == document["validFrom"][:4]
    # Downloads: the document, and the PNG with it baked in.
    json_href = page.get_by_role("link", name="Download the credential (JSON)").get_attribute("href")
    png_href = page.get_by_role("link", name="Download the badge with the credential baked in (PNG)").get_attribute(
        "href"
    )
    assert httpx.get(json_href).json() == document
    png = httpx.get(png_href)
    assert png.headers["content-type"] == "image/png"
    assert extract_credential(png.content) == document
    axe_check(page)
    page.set_viewport_size({"width": 360, "height": 800})
    axe_check(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page_errors == []


def test_issuer_and_achievement_pages(
    web_stack: WebStack, issued: dict[str, Any], browser_page: Any, axe_check: Axe, page_errors: list[str]
) -> None:
    page = browser_page
    document = issued["document"]
    achievement = document["credentialSubject"]["achievement"]
    page.goto(document["issuer"]["url"])
    assert page.locator("h1").inner_text() == document["issuer"]["name"]
    assert document["issuer"]["id"] in page.locator("main").inner_text()
    axe_check(page)
    # Other tests may publish more versions: the link of this credential's version.
    page.locator(f'main a[href="{achievement["id"]}"]').click()
    assert page.url == achievement["id"]
    assert page.locator("h1").inner_text() == achievement["name"]
    text = page.locator("main").inner_text()
    assert achievement["criteria"]["narrative"] in text
    assert "Accounts, posting and balances" in text and "Proficient" in text
    assert page.locator("img.badge").evaluate("img => img.naturalWidth") > 0
    axe_check(page)
    assert httpx.get(f"{web_stack.base_url}/tenants/nobody", headers=HTML).status_code == 404
    assert httpx.get(f"{achievement['id']}9", headers=LD).status_code == 404
    assert page_errors == []


def _press_verify(page: Any) -> None:
    """Submit the verifier's form and wait for the answer page (locators' all() does not wait)."""
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state("domcontentloaded")


def _outcomes(page: Any) -> dict[str, str]:
    return {li.get_attribute("data-check"): li.get_attribute("data-outcome") for li in page.locator(".checks li").all()}


def test_verifier_page_pasted_uploaded_and_tampered(
    web_stack: WebStack, issued: dict[str, Any], browser_page: Any, axe_check: Axe, tmp_path: Path
) -> None:
    page = browser_page
    document = issued["document"]
    page.goto(f"{web_stack.base_url}/verify")
    axe_check(page)
    page.locator("#credential").fill(json.dumps(document))
    _press_verify(page)
    assert "Verified" in page.locator("#outcome").inner_text()
    assert set(_outcomes(page).values()) <= {"passed", "skipped"} and _outcomes(page)["proof"] == "passed"
    axe_check(page)
    # A baked PNG, uploaded.
    png = tmp_path / "badge.png"
    png.write_bytes(httpx.get(f"{issued['public_url']}/badge.png").content)
    page.goto(f"{web_stack.base_url}/verify")
    page.locator("#file").set_input_files(str(png))
    _press_verify(page)
    assert "Verified" in page.locator("#outcome").inner_text()
    # Tampered: the name changed after signing.
    tampered = copy.deepcopy(document)
    tampered["credentialSubject"]["achievement"]["name"] = "Something else entirely"
    page.goto(f"{web_stack.base_url}/verify")
    page.locator("#credential").fill(json.dumps(tampered))
    _press_verify(page)
    assert "Not verified" in page.locator("#outcome").inner_text()
    assert _outcomes(page)["proof"] == "failed"
    reason = page.locator('[data-check="proof"] .reason').inner_text()
    assert reason
    axe_check(page)
    # Nothing to check, and garbage.
    page.goto(f"{web_stack.base_url}/verify")
    _press_verify(page)
    assert "Paste a credential" in page.locator("#problem").inner_text()
    page.locator("#credential").fill("not json at all")
    _press_verify(page)
    assert "neither" in page.locator("#problem").inner_text()


def test_verifier_works_without_javascript_and_needs_its_csrf_token(
    web_stack: WebStack, issued: dict[str, Any], browser_page: Any
) -> None:
    context = browser_page.context.browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{web_stack.base_url}/verify")
        page.locator("#credential").fill(json.dumps(issued["document"]))
        _press_verify(page)
        assert "Verified" in page.locator("#outcome").inner_text()
    finally:
        context.close()
    forged = httpx.post(f"{web_stack.base_url}/verify", data={"credential": json.dumps(issued["document"])})
    assert forged.status_code == 403


def test_verifier_drag_and_drop(
    web_stack: WebStack, issued: dict[str, Any], browser_page: Any, page_errors: list[str]
) -> None:
    page = browser_page
    page.goto(f"{web_stack.base_url}/verify")
    body = json.dumps(issued["document"])
    page.evaluate(
        """body => {
            const data = new DataTransfer();
            data.items.add(new File([body], "credential.json", {type: "application/json"}));
            document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
        }""",
        body,
    )
    page.wait_for_function("document.getElementById('credential').value.length > 0")
    assert page.locator("#file").evaluate("input => input.files.length") == 1
    _press_verify(page)
    assert "Verified" in page.locator("#outcome").inner_text()
    assert page_errors == []


def _other_issuer_credential(path: Path, issuer: str | None) -> Path:
    """A credential of another issuer: did:key (issuer None) or the given did:web, signed here."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from credentials.did import did_key, did_key_verification_method
    from credentials.models import Profile
    from credentials.proof import Ed25519Signer, sign_document
    from tests.unit.credentials.credsamples import sample_credential

    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    if issuer is None:
        issuer, method = did_key(public), did_key_verification_method(public)
    else:
        method = f"{issuer}#key-1"
    unsigned = sample_credential(issuer=Profile(id=issuer, name="Another Academy", url="https://other.example"))
    path.write_text(json.dumps(sign_document(unsigned, Ed25519Signer(key, method))))
    return path


def test_other_issuers_did_key_checked_and_did_web_said_to_be_unresolvable_offline(
    web_stack: WebStack, browser_page: Any, tmp_path: Path, axe_check: Axe
) -> None:
    page = browser_page
    page.goto(f"{web_stack.base_url}/verify")
    page.locator("#file").set_input_files(str(_other_issuer_credential(tmp_path / "key.json", None)))
    _press_verify(page)
    outcomes = _outcomes(page)
    assert outcomes["proof"] == "passed" and outcomes["issuer_key"] == "passed", outcomes
    assert "Verified" in page.locator("#outcome").inner_text()
    assert page.locator("#did-web-note").count() == 0
    page.goto(f"{web_stack.base_url}/verify")
    foreign = _other_issuer_credential(tmp_path / "web.json", "did:web:other.example")
    page.locator("#file").set_input_files(str(foreign))
    _press_verify(page)
    assert _outcomes(page)["issuer_key"] == "failed"
    assert "resolves did:web issuers only for this service's own issuers" in " ".join(
        page.locator("#did-web-note").inner_text().split()
    )
    axe_check(page)


def test_a_revoked_credential_shows_as_revoked_on_its_page_and_on_the_verifier(
    web_stack: WebStack, browser_page: Any, axe_check: Axe
) -> None:
    submission = web_stack.submit("reference", "revoked-learner@example.org")
    assert submission["credential_id"]
    with web_stack.client() as client:
        credential = client.get(f"/api/v1/credentials/{submission['credential_id']}").json()
        revoked = client.post(
            f"/api/v1/credentials/{submission['credential_id']}/revoke", json={"reason": "academic misconduct"}
        )
        assert revoked.status_code == 200, revoked.text
    page = browser_page
    page.goto(credential["public_url"])
    status = page.locator("#status").inner_text()
    assert "Revoked" in status and "academic misconduct" in status
    assert _outcomes(page)["status"] == "failed"
    assert "revoked" in page.locator('[data-check="status"] .reason').inner_text().lower()
    axe_check(page)
    page.goto(f"{web_stack.base_url}/verify")
    page.locator("#credential").fill(json.dumps(credential["document"]))
    _press_verify(page)
    assert "Revoked" in page.locator("#outcome").inner_text()
    assert _outcomes(page)["status"] == "failed"
