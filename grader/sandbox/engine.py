"""One place that connects to the Docker engine, so every caller gets the same clear error."""

from __future__ import annotations

from functools import lru_cache

import docker
from docker.errors import DockerException

from grader.core.errors import SystemFault


class EngineUnavailable(SystemFault, RuntimeError):
    """The Docker engine cannot be reached: a fault of the system, not of the submission."""


@lru_cache(maxsize=1)
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(
            f"cannot reach the Docker engine ({exc}); run scripts/ensure-docker.sh to install and start it"
        ) from exc
    return client


def available_runtimes() -> set[str]:
    info = docker_client().info()
    return set((info.get("Runtimes") or {}).keys())
