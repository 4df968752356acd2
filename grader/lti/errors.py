"""Why a launch, a login or a registration was refused: one error type naming the check that failed.

Pure: no I/O. The routes turn a `LtiRefused` into an HTML page (its status, `check` and `detail`) and a log
line; nothing else of the request is echoed back.
"""

from __future__ import annotations


class LtiRefused(Exception):
    """A request the LTI routes refuse. `check` is the stable name of the failed rule (e.g. `nonce`,
    `signature`, `deployment_id`), `detail` a sentence for the person in front of the page."""

    def __init__(self, check: str, detail: str, status: int = 400) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail
        self.status = status


class PlatformUnavailable(LtiRefused):
    """The platform could not be reached or answered nonsense (its JWKS, its registration endpoint)."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(check, detail, status=502)
