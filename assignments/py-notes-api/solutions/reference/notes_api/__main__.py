"""`python -m notes_api --host 0.0.0.0 --port 8000`"""

import argparse
import os

from .server import NotesServer


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the notes API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    server = NotesServer((args.host, args.port))
    print(f"notes API listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
