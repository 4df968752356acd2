"""The list of page routers the app mounts. Each page module adds its router here, in one line."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
