"""The benchmark report's arithmetic and rendering (bench/report.py): medians, ratios of medians, goals
met or missed by how much, interleaving, the tables, the JSON round trip and the plot. No timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.report import (
    Goal,
    Row,
    Section,
    assess,
    interleaved,
    median,
    percentile,
    plot_throughput,
    ratio_of_medians,
    read_sections,
    render,
    shown,
    summary_table,
    throughput_points,
    verdict,
    write_section,
)


def test_median_and_ratio_of_medians() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    # The ratio of the medians, not the median of the ratios (which would be 2.0 here).
    assert ratio_of_medians([2.0, 9.0, 4.0], [1.0, 3.0, 2.0]) == 2.0
    assert ratio_of_medians([1.0, 8.0, 10.0], [4.0, 2.0, 5.0]) == 2.0


def test_no_samples_or_a_zero_baseline_is_an_error_not_a_figure() -> None:
    with pytest.raises(ValueError, match="no samples"):
        median([])
    with pytest.raises(ValueError, match="baseline's median is 0"):
        ratio_of_medians([1.0], [0.0, 0.0, 1.0])


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


def test_interleaved_runs_each_action_once_per_round_in_order() -> None:
    calls: list[str] = []

    def action(name: str, value: float) -> float:
        calls.append(name)
        return value + len(calls)

    samples = interleaved({"floor": lambda: action("floor", 0), "ours": lambda: action("ours", 100)}, rounds=3)
    assert calls == ["floor", "ours"] * 3
    assert samples == {"floor": [1, 3, 5], "ours": [102, 104, 106]}


def test_a_ratio_goal_met_and_missed_by_how_much() -> None:
    goal = Goal("ratio_max", 1.3, "<= 1.3x")
    assert assess(goal, value=2.0, ratio=1.2).met
    missed = assess(goal, value=2.0, ratio=1.95)
    assert not missed.met and missed.gap.startswith("50% over")
    at_least = Goal("ratio_min", 0.9, ">= 0.9x")
    short = assess(at_least, value=0.5, ratio=0.45)
    assert not short.met and short.gap.startswith("50% short")
    assert assess(at_least, value=0.5, ratio=0.9).met


def test_a_value_goal_reads_the_measured_value_not_the_ratio() -> None:
    assert assess(Goal("value_min", 1000, ">= 1,000 req/s"), value=1200, ratio=0.1).met
    slow = assess(Goal("value_max", 50, "<= 50 ms"), value=75, ratio=1.0)
    assert not slow.met and slow.gap.startswith("50% over")


def test_a_ratio_goal_without_a_baseline_is_refused() -> None:
    with pytest.raises(ValueError, match="no baseline"):
        assess(Goal("ratio_max", 1.3, "<= 1.3x"), value=1.0, ratio=None)


def _row() -> Row:
    return Row(
        figure="grade",
        unit="s",
        samples=[2.0, 2.2, 2.4],
        baseline="bare docker run",
        baseline_samples=[1.0, 1.1, 1.2],
        goals=[Goal("ratio_max", 1.3, "<= 1.3x"), Goal("value_max", 3.0, "under 3 s")],
    )


def test_a_row_prints_its_medians_ratio_and_each_missed_goal() -> None:
    row = _row()
    assert row.value == 2.2 and row.baseline_value == 1.1 and row.ratio == pytest.approx(2.0)
    assert verdict(row) == "not met: 54% over (2.00 against <= 1.3x)"
    assert verdict(Row(figure="x", unit="s", samples=[1.0])) == ""
    assert shown(row.ratio, "x") == "2.00x" and shown(1234.5, "req/s") == "1,234 req/s" and shown(None, "s") == "—"


def test_sections_round_trip_through_json_and_render(tmp_path: Path) -> None:
    section = Section(name="overhead", title="1. Overhead", command="python -m bench.overhead", rows=[_row()])
    write_section(section, tmp_path)
    other = Section(name="api", title="3. API", command="python -m bench.api_load")
    write_section(other, tmp_path)
    loaded = read_sections(tmp_path)
    assert [s.name for s in loaded] == ["overhead", "api"]  # the report's order, not the files'
    assert loaded[0].to_json() == section.to_json()
    text = render(loaded, {"command": "make bench", "date": "today", "commit": "abc", "machine": "2 cores"})
    assert "Command: `make bench`" in text and "| overhead | grade | 2.20 s | bare docker run: 1.10 s | 2.00x |" in text
    assert json.loads((tmp_path / "sections" / "overhead.json").read_text())["rows"][0]["ratio"] == pytest.approx(2.0)


def test_the_summary_lists_only_figures_with_goals() -> None:
    section = Section(name="x", title="x", command="c", rows=[_row(), Row(figure="no goal", unit="s", samples=[1.0])])
    lines = summary_table([section])
    assert len(lines) == 3 and "no goal" not in "\n".join(lines)


def test_the_throughput_plot_is_written_from_the_section(tmp_path: Path) -> None:
    section = Section(
        name="throughput",
        title="t",
        command="c",
        details={
            "points": [
                {"series": "service", "workers": 2, "per_second": 0.8},
                {"series": "service", "workers": 1, "per_second": 0.5},
                {"series": "bare", "workers": 1, "per_second": 0.9},
            ]
        },
    )
    points = throughput_points([section])
    assert points == {"service": [(1, 0.5), (2, 0.8)], "bare": [(1, 0.9)]}
    path = tmp_path / "throughput.png"
    assert plot_throughput(points, path, "t")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert not plot_throughput({}, tmp_path / "none.png", "t") and not (tmp_path / "none.png").exists()
