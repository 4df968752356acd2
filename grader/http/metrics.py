"""Prometheus metrics, read at scrape time from Redis (queue depth, stage durations, outcomes) so
that every worker on every machine is counted, whichever API replica is scraped."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Queue

from grader.jobs import metrics as job_metrics
from grader.jobs import queue as jobs


class ServiceCollector(Collector):
    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("grader_redis_up", "1 when Redis answered this scrape")
        try:
            depth = jobs.queue_depth(self.queue)
            stages = job_metrics.read_stage_metrics(self.queue.connection)
            outcomes = job_metrics.read_outcomes(self.queue.connection)
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        gauge = GaugeMetricFamily("grader_queue_jobs", "Jobs in the grading queue by state", labels=["state"])
        for state, count in depth.items():
            gauge.add_metric([state], count)
        yield gauge
        histogram = HistogramMetricFamily(
            "grader_stage_duration_seconds", "Time spent in each grading stage", labels=["stage"]
        )
        for stage, values in sorted(stages.items()):
            buckets = [(str(b), values.get(f"le:{b}", 0.0)) for b in job_metrics.STAGE_BUCKETS]
            buckets.append(("+Inf", values.get("count", 0.0)))
            histogram.add_metric([stage], buckets, values.get("sum", 0.0))
        yield histogram
        counter = CounterMetricFamily(
            "grader_submission_outcomes", "Finished submissions by outcome", labels=["outcome"]
        )
        for outcome, total in sorted(outcomes.items()):
            counter.add_metric([outcome], total)
        yield counter
