"""Runs the test platform in its own process: `python -m tests.lti.platform --host 127.0.0.2 --port 8123`."""

from __future__ import annotations

import argparse

import uvicorn

from tests.lti.platform.app import create_app
from tests.lti.platform.state import PlatformState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page-size", type=int, default=2, help="members per Names and Roles page")
    args = parser.parse_args()
    state = PlatformState(f"http://{args.host}:{args.port}", page_size=args.page_size)
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
