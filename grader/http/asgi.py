"""The ASGI entry point uvicorn imports (settings from GRADER_* environment variables)."""

from grader.http.app import create_app

app = create_app()
