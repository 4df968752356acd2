"""A first attempt at the notes API: create, read and list, nothing else yet."""

import argparse
import json
from http.server import BaseHTTPRequestHandler, HTTPServer

NOTES = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path.startswith("/notes/"):
            note = NOTES.get(int(self.path.split("/")[2]))
            if note is None:
                self.send_error(404)
            else:
                self.reply(200, note)
        elif self.path.startswith("/notes"):
            self.reply(200, {"notes": list(NOTES.values()), "total": len(NOTES)})
        else:
            self.send_error(404)

    def do_POST(self):
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        note = {"id": len(NOTES) + 1, "title": data.get("title"), "body": data.get("body"), "tags": data.get("tags")}
        NOTES[note["id"]] = note
        self.reply(201, note)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    HTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
