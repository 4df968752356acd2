"""The worker pool: N rq work-horse processes on the grading queue plus the reconciler and the janitor,
in the foreground until SIGINT/SIGTERM. The janitor runs before the first worker starts (what a crashed
pool left behind is cleared by the next) and every `janitor_interval_s` after."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from types import FrameType

from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from grader.config import Settings, get_settings
from grader.jobs import janitor
from grader.jobs import queue as jobs
from grader.jobs.reconciler import reconcile
from grader.jobs.services import build_services

log = logging.getLogger(__name__)


def _work() -> None:
    """One worker process: an rq worker on the grading queue, with the retry scheduler.

    Jobs run in this process (rq's SimpleWorker), not in a work horse forked per job: a fresh horse
    re-imported the grading modules and rebuilt the job context (store engine, Redis, the Docker
    client, the runtime probe, unlocked issuer keys) for every submission, seconds per job. Learner code
    never runs here (only in the sandbox's containers, one set per submission), so the fork isolated
    nothing; a job that overruns its timeout is stopped by rq's alarm in this process, and a worker
    that dies is restarted by the pool."""
    settings = get_settings()
    _warm()
    services = build_services(settings)
    worker = SimpleWorker(
        [services.queue], connection=services.redis, serializer=JSONSerializer, job_class=jobs.AllowlistJob, queue_class=Queue
    )
    worker.work(with_scheduler=True, logging_level="INFO")


def _warm() -> None:
    """What every job needs, made before the first one: the grading modules, the job context and the
    Docker engine's runtimes (a fault here is left for the first job to meet and report)."""
    from grader.jobs import grading  # noqa: F401
    from grader.jobs.context import context
    from grader.sandbox.engine import available_runtimes

    with contextlib.suppress(Exception):
        context()
        available_runtimes()


class Pool:
    """N worker processes plus the reconciler, in the foreground until SIGINT/SIGTERM."""

    def __init__(self, settings: Settings, concurrency: int, exit_with_parent: bool = False) -> None:
        self.settings = settings
        self.concurrency = concurrency
        # `grader serve --grading-workers` starts the pool as a child; uvicorn ends its process by
        # re-raising the signal, so the pool watches its parent instead of waiting to be told.
        self.parent = os.getppid() if exit_with_parent else None
        self.spawn = multiprocessing.get_context("spawn")
        self.children: list[multiprocessing.process.BaseProcess] = []
        self.stopping = False

    def _start_child(self) -> multiprocessing.process.BaseProcess:
        process = self.spawn.Process(target=_work, daemon=False)
        process.start()
        return process

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self._sweep()
        self.children = [self._start_child() for _ in range(self.concurrency)]
        services = build_services(self.settings)
        factory, queue = services.factory, services.queue
        next_reconcile = 0.0
        next_sweep = time.monotonic() + self.settings.janitor_interval_s
        while not self.stopping:
            if self.parent is not None and os.getppid() != self.parent:
                break
            if any(not c.is_alive() for c in self.children):
                self.children = [c if c.is_alive() else self._start_child() for c in self.children]
                next_sweep = 0.0  # a worker died: clear what it left without waiting for the round
            if time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + self.settings.janitor_interval_s
            if time.monotonic() >= next_reconcile:
                try:
                    reconcile(factory, queue, self.settings)
                except Exception as exc:  # the reconciler must never take the pool down
                    log.warning("reconcile failed: %s", exc)
                next_reconcile = time.monotonic() + self.settings.reconcile_interval_s
            time.sleep(0.5)
        self._shutdown()

    def _sweep(self) -> None:
        try:
            janitor.sweep(self.settings)
        except Exception as exc:  # the janitor must never take the pool down (the engine may be away)
            log.warning("janitor failed: %s", exc)

    def _shutdown(self) -> None:
        for child in self.children:
            if child.is_alive() and child.pid is not None:
                # rq's warm shutdown: finish the current job, then exit.
                signal_child(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.job_timeout_s
        for child in self.children:
            child.join(max(0.0, deadline - time.monotonic()))


def signal_child(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def run_pool(settings: Settings, concurrency: int, exit_with_parent: bool = False) -> None:
    Pool(settings, concurrency, exit_with_parent).run()
