"""Browser tests: the real service (API + workers on loopback, Redis, Docker) driven by Debian's chromium
through Playwright, with axe-core for accessibility.

Fixtures (other browser test modules rely on these names):

- `web_stack` (session): the running service. `.base_url`, `.admin_key`, `.tenant` (slug), `.git` (a
  loopback git server), `.client(key=None)` (an httpx client on the API, the admin key by default),
  `.publish_ledger()` (uploads the bundled py-ledger assignment once and waits for its check:
  `grader.demo.stack.wait_checked`), `.submit(solution, learner)` (publishes a bundled py-ledger
  solution to the git server, submits it and follows it to its end; returns the submission as the API
  shows it), `.issue_reference()` (the reference graded once per session: its submission, with
  `credential_id`), and `.stack` (tests/integration's Stack: `.cli`, `.new_tenant`, `.tail_logs`).
- `browser_page` (function): a Playwright sync page on /usr/bin/chromium, 1280 px wide, with its own
  cookies. What went wrong on it lands in the `page_errors` fixture (a list): console errors (a CSP
  violation among them), uncaught script errors, and responses of status 400 or more (the favicon aside),
  so a page that navigates to an error on purpose should not assert it empty.
- `axe_check` (function): `axe_check(page)` runs axe-core on the page and fails on any serious or critical
  violation, printing each. axe-core comes from npm, installed outside the checkout on first use.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from grader.demo.gitserver import LoopbackGitServer
from grader.demo.stack import follow_to_the_end, free_port, wait_checked
from tests.browser_fixtures import AXE_VERSION, CHROMIUM, CHROMIUM_ARGS
from tests.distinct import publish_own, tarball_without_similarity
from tests.integration.test_service_stack import (
    Services,
    Stack,
    _start,
    _stop,
    _wait_ready,
    running_services,
    stack_env,
)

ROOT = Path(__file__).resolve().parents[2]
LEDGER_DIR = ROOT / "assignments" / "py-ledger"
__all__ = ["AXE_VERSION", "CHROMIUM", "CHROMIUM_ARGS", "LEDGER_DIR"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test, and needs the integration stack."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.integration)


_names = itertools.count()


@dataclass
class WebStack:
    stack: Stack
    admin_key: str
    tenant: str
    _published: dict[str, Any] | None = None
    _reference: dict[str, Any] | None = None
    _console: Console = field(default_factory=lambda: Console(stderr=True))

    @property
    def base_url(self) -> str:
        return self.stack.api

    @property
    def git(self) -> LoopbackGitServer:
        return self.stack.git

    def client(self, key: str | None = None) -> httpx.Client:
        return self.stack.client(key or self.admin_key)

    def publish_ledger(self) -> dict[str, Any]:
        """Upload assignments/py-ledger (once per session) and wait for its check; returns the check."""
        if self._published is None:
            with self.client() as client:
                upload = client.post(
                    "/api/v1/assignments",
                    content=tarball_without_similarity(LEDGER_DIR),  # many learners, one solution: tests/distinct.py
                    headers={"Content-Type": "application/gzip"},
                    timeout=120,
                )
                assert upload.status_code in (200, 201, 202), upload.text
                check = wait_checked(client, "py-ledger", _ledger_version())
            assert check["status"] == "published", f"{check}\n{self.stack.tail_logs()}"
            self._published = check
        return self._published

    def submit(self, solution: str = "reference", learner: str | None = None) -> dict[str, Any]:
        """A bundled py-ledger solution published to the git server, submitted and followed to its end."""
        self.publish_ledger()
        n = next(_names)
        url = publish_own(self.git, f"web-{solution}-{n}", LEDGER_DIR / "solutions" / solution)
        with self.client() as client:
            created = client.post(
                "/api/v1/submissions",
                json={"assignment": "py-ledger", "learner": learner or f"{solution}-{n}@example.org", "repo_url": url},
                headers={"Idempotency-Key": f"web-{solution}-{n}-{os.getpid()}"},
            )
            assert created.status_code in (200, 201, 202), created.text
            submission_id = created.json()["id"]
            final = follow_to_the_end(client, submission_id, self._console)
            assert final in ("graded", "failed", "refused"), f"ended in {final}\n{self.stack.tail_logs()}"
            done: dict[str, Any] = client.get(f"/api/v1/submissions/{submission_id}").json()
        return done

    def issue_reference(self) -> dict[str, Any]:
        """The reference solution graded once per session; its submission carries `credential_id`."""
        if self._reference is None:
            done = self.submit("reference", "reference-learner@example.org")
            assert done.get("credential_id"), f"no credential: {done}\n{self.stack.tail_logs()}"
            self._reference = done
        return self._reference


def _ledger_version() -> str:
    from grader.core.spec import load_assignment

    return load_assignment(LEDGER_DIR).spec.version


@pytest.fixture(scope="session")
def web_redis() -> Iterator[Services]:
    with running_services(postgres=False) as services:
        yield services


@contextmanager
def running_web_stack(redis: Services, home: Path, git_root: Path, **extra: str) -> Iterator[WebStack]:
    """The service as tests/integration runs it (API + 2 workers on SQLite, Redis, Docker), one tenant,
    a loopback git server. Used by the `web_stack` fixture, tests/lti and scripts/screenshots.py; `extra`
    adds settings (stack_env's)."""
    git = LoopbackGitServer(git_root)
    git.start()
    port = free_port()
    env = stack_env(
        home,
        redis.redis_url,
        port,
        git.host,
        queue=f"grader-web-{port}",
        passphrase="browser-test passphrase",
        **extra,
    )
    stack = Stack(api=f"http://127.0.0.1:{port}", env=env, home=home, git=git)
    try:
        stack.cli("db", "upgrade")
        tenant = "web-academy"
        made = stack.cli("tenant", "create", tenant, "--name", "Web Academy", "--json")
        admin_key = str(json.loads(made)["admin_key"])
        _start(stack, "api", "serve", "--port", str(port))
        _start(stack, "worker", "worker", "--concurrency", "2")
        _wait_ready(stack)
        yield WebStack(stack=stack, admin_key=admin_key, tenant=tenant)
    finally:
        for process in stack.processes:
            _stop(process)
        git.stop()


@pytest.fixture(scope="session")
def web_stack(web_redis: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    """The running service (see `running_web_stack`)."""
    with running_web_stack(web_redis, tmp_path_factory.mktemp("web-home"), tmp_path_factory.mktemp("web-git")) as made:
        yield made
