"""Service mode: wait for the learner's service (in its own container) to answer before the tests run."""

from __future__ import annotations

import time
import urllib.error
import urllib.request


def wait_for_service(url: str, timeout_s: float) -> tuple[bool, float, str]:
    """Poll the learner's service until it answers below 400, or the timeout passes.
    Returns whether it answered, how long that took, and the last failure."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - started < timeout_s:
        try:
            with opener.open(url, timeout=2) as response:
                if response.status < 400:
                    return True, round(time.monotonic() - started, 3), ""
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            last = str(getattr(exc, "reason", exc))[:300]
        time.sleep(0.25)
    return False, round(time.monotonic() - started, 3), last
