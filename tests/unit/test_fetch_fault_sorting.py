"""Whose fault a failed `git fetch` is, from git's own words (grader.fetch.repository._explain): the git host not
answering is the system's; a missing repository or ref, a redirect or a stall is the learner's; and the
learner's URL, which git repeats back in quotes, never decides it."""

from __future__ import annotations

import pytest

from grader.core.errors import FaultKind, disposition
from grader.core.urlpolicy import check_repo_url
from grader.fetch.repository import FetchDiskFull, FetchFailed, FetchRefused, FetchUnavailable, _explain

HOSTS = ["github.com", "127.0.0.1:8080"]


def explain(stderr: str, url: str = "https://github.com/learner/ledger.git") -> Exception:
    return _explain(stderr, check_repo_url(url, HOSTS, ["https", "http"]))


@pytest.mark.parametrize(
    "stderr",
    [
        "fatal: unable to access 'https://github.com/learner/ledger.git/': Could not resolve host: github.com",
        "fatal: unable to access 'https://github.com/learner/ledger.git/': Failed to connect to github.com port "
        "443 after 2 ms: Couldn't connect to server",
        "fatal: unable to access 'https://github.com/learner/ledger.git/': Failed to connect to github.com port "
        "443 after 130000 ms: Connection timed out",
        "fatal: unable to access 'https://github.com/learner/ledger.git/': The requested URL returned error: 503",
        "fatal: unable to access 'https://github.com/learner/ledger.git/': Empty reply from server",
        "fatal: unable to access 'https://github.com/learner/ledger.git/': gnutls_handshake() failed",
    ],
)
def test_a_host_that_does_not_answer_is_a_fault_of_the_system(stderr: str) -> None:
    fault = explain(stderr)
    assert isinstance(fault, FetchUnavailable) and disposition(fault).kind is FaultKind.SYSTEM
    assert "github.com" in str(fault)


@pytest.mark.parametrize(
    ("url", "stderr", "kind"),
    [
        (
            "https://github.com/openssl/openssl.git",
            "fatal: repository 'https://github.com/openssl/openssl.git/' not found",
            FetchFailed,
        ),
        (
            "https://github.com/learner/connection-refused.git",
            "fatal: repository 'https://github.com/learner/connection-refused.git/' not found",
            FetchFailed,
        ),
        (
            "https://github.com/learner/ledger.git",
            "fatal: couldn't find remote ref no-such-branch",
            FetchFailed,
        ),
        (
            "https://github.com/learner/ledger.git",
            "fatal: unable to access 'https://github.com/learner/ledger.git/': The requested URL returned error: 302",
            FetchRefused,
        ),
        (
            "https://github.com/learner/ledger.git",
            "error: RPC failed; curl 28 Operation too slow. Less than 1024 bytes/sec transferred the last 15 seconds",
            FetchRefused,
        ),
    ],
)
def test_the_learners_own_faults_stay_theirs(url: str, stderr: str, kind: type[Exception]) -> None:
    fault = explain(stderr, url)
    assert isinstance(fault, kind) and disposition(fault).kind is FaultKind.LEARNER, fault


@pytest.mark.parametrize(
    "stderr",
    [
        "error: unable to write file .git/objects/pack/tmp_pack_x: No space left on device\nfatal: write error",
        "fatal: write error: Disk quota exceeded",
        "error: unable to create temporary file: Read-only file system",
    ],
)
def test_our_disk_failing_git_is_a_fault_of_the_system(stderr: str) -> None:
    fault = explain(stderr)
    assert isinstance(fault, FetchDiskFull) and disposition(fault).kind is FaultKind.SYSTEM and disposition(fault).retry

