"""The REST API (FastAPI): `create_app(settings)`."""

from grader.http.app import create_app

__all__ = ["create_app"]
