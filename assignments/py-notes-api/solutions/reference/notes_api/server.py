"""The HTTP side: routing, JSON in and out, status codes."""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .store import InvalidNote, NoteStore

MAX_REQUEST = 64 * 1024
NOTE_PATH = re.compile(r"^/notes/(\d+)$")
ALLOWED = {"/health": "GET", "/notes": "GET, POST", "note": "GET, PUT, PATCH, DELETE"}


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


class NotesHandler(BaseHTTPRequestHandler):
    server: NotesServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    # -- plumbing --------------------------------------------------------------------------
    def _send(self, status: HTTPStatus, payload: object | None, headers: dict[str, str] | None = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json_body(self) -> object:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "the request body is not valid JSON") from None

    def _dispatch(self, method: str) -> None:
        try:
            status, payload, headers = self._route(method)
        except ApiError as exc:
            status, payload, headers = exc.status, {"error": str(exc)}, exc.headers
        except InvalidNote as exc:
            status, payload, headers = HTTPStatus.BAD_REQUEST, {"error": str(exc)}, {}
        self._send(status, payload, headers)

    def _route(self, method: str) -> tuple[HTTPStatus, object | None, dict[str, str]]:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        store = self.server.store
        if path == "/health":
            self._allow(method, "/health")
            return HTTPStatus.OK, {"status": "ok"}, {}
        if path == "/notes":
            self._allow(method, "/notes")
            if method == "POST":
                note = store.create(self._json_body())
                return HTTPStatus.CREATED, note.as_json(), {"Location": f"/notes/{note.id}"}
            return HTTPStatus.OK, self._list(parse_qs(parts.query)), {}
        match = NOTE_PATH.match(path)
        if match is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no such resource: {path}")
        self._allow(method, "note")
        note_id = int(match.group(1))
        if method == "DELETE":
            if not store.delete(note_id):
                raise ApiError(HTTPStatus.NOT_FOUND, f"no note {note_id}")
            return HTTPStatus.NO_CONTENT, None, {}
        if method == "GET":
            found = store.get(note_id)
        elif method == "PUT":
            found = store.replace(note_id, self._json_body())
        else:
            found = store.update(note_id, self._json_body())
        if found is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no note {note_id}")
        return HTTPStatus.OK, found.as_json(), {}

    def _allow(self, method: str, resource: str) -> None:
        allowed = ALLOWED[resource]
        if method not in [m.strip() for m in allowed.split(",")]:
            raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed here", {"Allow": allowed})

    def _list(self, query: dict[str, list[str]]) -> dict[str, object]:
        limit = _int_param(query, "limit", 100, 1, 100)
        offset = _int_param(query, "offset", 0, 0, 10**9)
        tag = query.get("tag", [None])[-1]
        text = query.get("q", [None])[-1]
        notes = self.server.store.search(tag, text)
        return {"notes": [n.as_json() for n in notes[offset : offset + limit]], "total": len(notes)}

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class NotesServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, NotesHandler)
        self.store = NoteStore()
