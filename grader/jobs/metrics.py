"""Job metrics kept in Redis, so that every worker on every machine adds to one set of numbers and the API
(any replica) can expose them at /metrics: stage durations as histograms, outcomes as counters."""

from __future__ import annotations

from typing import Any, Protocol

from redis import Redis

METRICS_PREFIX = "grader:metrics"
STAGE_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class JobMetrics(Protocol):
    """Where a job reports its stage durations and outcomes."""

    def stage(self, name: str, seconds: float) -> None: ...

    def outcome(self, name: str) -> None: ...


class RedisMetrics:
    """The shared numbers in Redis that /metrics reads."""

    def __init__(self, connection: Redis) -> None:
        self.connection = connection

    def stage(self, name: str, seconds: float) -> None:
        record_stage(self.connection, name, seconds)

    def outcome(self, name: str) -> None:
        record_outcome(self.connection, name)


def record_stage(connection: Redis, stage: str, seconds: float) -> None:
    key = f"{METRICS_PREFIX}:stage:{stage}"
    pipe = connection.pipeline()
    for bound in STAGE_BUCKETS:
        if seconds <= bound:
            pipe.hincrby(key, f"le:{bound}", 1)
    pipe.hincrby(key, "count", 1)
    pipe.hincrbyfloat(key, "sum", seconds)
    pipe.execute()


def record_outcome(connection: Redis, outcome: str) -> None:
    connection.hincrby(f"{METRICS_PREFIX}:outcomes", outcome, 1)


def read_stage_metrics(connection: Redis) -> dict[str, dict[str, float]]:
    stats: dict[str, dict[str, float]] = {}
    for key in connection.scan_iter(f"{METRICS_PREFIX}:stage:*"):
        name = key.decode() if isinstance(key, bytes) else str(key)
        raw: dict[Any, Any] = connection.hgetall(name)  # type: ignore[assignment]
        stats[name.rsplit(":", 1)[-1]] = {
            (k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()
        }
    return stats


def read_outcomes(connection: Redis) -> dict[str, float]:
    raw: dict[Any, Any] = connection.hgetall(f"{METRICS_PREFIX}:outcomes")  # type: ignore[assignment]
    return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}
