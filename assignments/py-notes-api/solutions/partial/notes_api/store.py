"""Notes kept in memory: validation of incoming fields and the queries the API answers."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

MAX_BODY = 10_000
MAX_TAGS = 10
TAG = re.compile(r"^[a-z0-9-]{1,20}$")


class InvalidNote(ValueError):
    """A request's fields break a rule; the message says which."""


@dataclass
class Note:
    id: int
    title: str
    body: str = ""
    tags: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "body": self.body, "tags": list(self.tags)}


def clean_title(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidNote("title must be a string")
    if not value:
        raise InvalidNote("title must not be empty")
    return value


def clean_body(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidNote("body must be a string")
    if len(value) > MAX_BODY:
        raise InvalidNote(f"body must be at most {MAX_BODY} characters")
    return value


def clean_tags(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise InvalidNote("tags must be a list of strings")
    tags = list(dict.fromkeys(value))
    if len(tags) > MAX_TAGS:
        raise InvalidNote(f"at most {MAX_TAGS} tags")
    bad = [t for t in tags if not TAG.match(t)]
    if bad:
        raise InvalidNote(f"tags must be 1-20 lowercase letters, digits or '-': {bad}")
    return tags


FIELDS = {"title": clean_title, "body": clean_body, "tags": clean_tags}


def clean_fields(data: object, *, partial: bool) -> dict[str, object]:
    if not isinstance(data, dict):
        raise InvalidNote("the request body must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS) - {"id"})
    if unknown:
        raise InvalidNote(f"unknown fields: {unknown}")
    if not partial and "title" not in data:
        raise InvalidNote("title is required")
    return {name: FIELDS[name](data[name]) for name in FIELDS if name in data}


class NoteStore:
    def __init__(self) -> None:
        self._notes: dict[int, Note] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    def create(self, data: object) -> Note:
        fields = clean_fields(data, partial=False)
        with self._lock:
            note = Note(id=self._next_id, **fields)  # type: ignore[arg-type]
            self._notes[note.id] = note
            self._next_id += 1
            return note

    def get(self, note_id: int) -> Note | None:
        with self._lock:
            return self._notes.get(note_id)

    def replace(self, note_id: int, data: object) -> Note | None:
        fields = clean_fields(data, partial=False)
        with self._lock:
            note = self._notes.get(note_id)
            if note is None:
                return None
            for name, value in fields.items():
                setattr(note, name, value)
            return note

    def update(self, note_id: int, data: object) -> Note | None:
        fields = clean_fields(data, partial=True)
        with self._lock:
            note = self._notes.get(note_id)
            if note is None:
                return None
            for name, value in fields.items():
                setattr(note, name, value)
            return note

    def delete(self, note_id: int) -> bool:
        with self._lock:
            return self._notes.pop(note_id, None) is not None

    def search(self, tag: str | None, text: str | None) -> list[Note]:
        with self._lock:
            notes = sorted(self._notes.values(), key=lambda n: n.id)
        if tag is not None:
            notes = [n for n in notes if tag in n.tags]
        return notes
