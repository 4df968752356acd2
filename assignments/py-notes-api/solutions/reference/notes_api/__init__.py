"""A small REST API for notes (standard library only)."""

from .server import NotesServer
from .store import Note, NoteStore

__all__ = ["Note", "NoteStore", "NotesServer"]
