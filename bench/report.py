"""The benchmark report: medians and ratios of medians, goals met or the gap measured, one Markdown
table per benchmark, the JSON beside it and a PNG plot of throughput against workers.

Each benchmark module (bench/overhead.py, throughput.py, api_load.py, images.py, bridge.py,
credential_rates.py) writes one *section* as JSON into `<out>/sections/`; this module turns the
sections into `<out>/report.md`, `<out>/report.json` and `<out>/throughput.png`:

    .venv/bin/python -m bench.report --out docs/benchmarks

The arithmetic here is pure (no clock, no I/O) so the unit tests can check it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
SECTION_ORDER = ["overhead", "throughput", "api", "credentials", "images", "bridge"]

GoalKind = Literal["ratio_max", "ratio_min", "value_max", "value_min"]


def median(values: Sequence[float]) -> float:
    """The median; raises ValueError on no values (a figure with no samples is a bug, not a zero)."""
    if not values:
        raise ValueError("no samples")
    return float(statistics.median(values))


def ratio_of_medians(measured: Sequence[float], baseline: Sequence[float]) -> float:
    """median(measured) / median(baseline); raises ValueError when the baseline's median is not positive."""
    low = median(baseline)
    if low <= 0:
        raise ValueError(f"the baseline's median is {low}, a ratio to it means nothing")
    return median(measured) / low


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def interleaved(actions: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every action once per round, in order, so machine noise hits each alike; each action returns
    its own measurement (seconds, a rate...)."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            samples[name].append(action())
    return samples


@dataclass(frozen=True)
class Goal:
    """A goal of the issue's table: on the ratio (measured / baseline) or on the measured value."""

    kind: GoalKind
    limit: float
    text: str


@dataclass(frozen=True)
class Assessment:
    goal: str
    met: bool
    gap: str


def assess(goal: Goal, value: float, ratio: float | None) -> Assessment:
    """Whether `goal` is met and, when it is not, by how much it is missed (in the goal's own terms)."""
    observed = ratio if goal.kind.startswith("ratio") else value
    if observed is None:
        raise ValueError(f"goal {goal.text!r} is on a ratio, and this figure has no baseline")
    if goal.kind.endswith("_max"):
        met = observed <= goal.limit
        gap = "" if met else f"{observed / goal.limit - 1:.0%} over ({_num(observed)} against {goal.text})"
    else:
        met = observed >= goal.limit
        gap = "" if met else f"{1 - observed / goal.limit:.0%} short ({_num(observed)} against {goal.text})"
    return Assessment(goal=goal.text, met=met, gap=gap)


@dataclass
class Row:
    """One figure beside its baseline, both from the same run (interleaved where both are timed)."""

    figure: str
    unit: str
    samples: list[float]
    baseline: str = ""
    baseline_samples: list[float] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    # A rate's samples are rates already; `higher_is_better` only decides how the ratio reads.
    higher_is_better: bool = False
    note: str = ""

    @property
    def value(self) -> float:
        return median(self.samples)

    @property
    def baseline_value(self) -> float | None:
        return median(self.baseline_samples) if self.baseline_samples else None

    @property
    def ratio(self) -> float | None:
        return ratio_of_medians(self.samples, self.baseline_samples) if self.baseline_samples else None

    def assessments(self) -> list[Assessment]:
        return [assess(goal, self.value, self.ratio) for goal in self.goals]

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "unit": self.unit,
            "median": self.value,
            "samples": self.samples,
            "baseline": self.baseline,
            "baseline_median": self.baseline_value,
            "baseline_samples": self.baseline_samples,
            "ratio": self.ratio,
            "higher_is_better": self.higher_is_better,
            "goals": [asdict(goal) for goal in self.goals],
            "assessments": [asdict(a) for a in self.assessments()],
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(
            figure=data["figure"],
            unit=data["unit"],
            samples=list(data["samples"]),
            baseline=data.get("baseline", ""),
            baseline_samples=list(data.get("baseline_samples") or []),
            goals=[Goal(**goal) for goal in data.get("goals", [])],
            higher_is_better=bool(data.get("higher_is_better")),
            note=data.get("note", ""),
        )


@dataclass
class Section:
    """What one benchmark module measured: its rows, free-form details and the profile's top costs."""

    name: str
    title: str
    command: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "command": self.command,
            "started": self.started,
            "seconds": self.seconds,
            "rows": [row.to_json() for row in self.rows],
            "details": self.details,
            "notes": self.notes,
            "profile": self.profile,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        return cls(
            name=data["name"],
            title=data["title"],
            command=data["command"],
            rows=[Row.from_json(row) for row in data["rows"]],
            details=data.get("details", {}),
            notes=list(data.get("notes", [])),
            profile=list(data.get("profile", [])),
            started=data.get("started", ""),
            seconds=float(data.get("seconds", 0.0)),
        )


def _num(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def shown(value: float | None, unit: str) -> str:
    """A figure as the report prints it: `1.23 s`, `450 req/s`, `1.05x`."""
    if value is None:
        return "—"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{_num(value)} {unit}".rstrip()


def verdict(row: Row) -> str:
    """`met`, or each goal missed with its gap; empty when the figure has no goal."""
    found = row.assessments()
    if not found:
        return ""
    missed = [a for a in found if not a.met]
    if not missed:
        return "met"
    return "; ".join(f"not met: {a.gap}" for a in missed)


def section_table(section: Section) -> list[str]:
    lines = [
        "| figure | measured (median) | baseline | baseline (median) | ratio | goal | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in section.rows:
        goals = ", ".join(goal.text for goal in row.goals)
        lines.append(
            f"| {row.figure} | {shown(row.value, row.unit)} | {row.baseline or '—'} | "
            f"{shown(row.baseline_value, row.unit)} | {shown(row.ratio, 'x')} | {goals or '—'} | {verdict(row) or '—'} |"
        )
    return lines


def render_section(section: Section) -> list[str]:
    lines = [f"## {section.title}", "", f"Command: `{section.command}`", ""]
    lines += section_table(section)
    lines.append("")
    noted = [row for row in section.rows if row.note]
    lines += [f"- {row.figure}: {row.note}" for row in noted]
    if noted:
        lines.append("")
    for note in section.notes:
        lines.append(note)
    if section.notes:
        lines.append("")
    if section.profile:
        lines.append("Where the time goes (profile, top costs):")
        lines.append("")
        lines += [f"- {entry}" for entry in section.profile]
        lines.append("")
    return lines


def summary_table(sections: Iterable[Section]) -> list[str]:
    lines = [
        "| benchmark | figure | measured | baseline | ratio | goal | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for section in sections:
        for row in section.rows:
            if not row.goals:
                continue
            goals = ", ".join(goal.text for goal in row.goals)
            baseline = f"{row.baseline}: {shown(row.baseline_value, row.unit)}" if row.baseline else "—"
            lines.append(
                f"| {section.name} | {row.figure} | {shown(row.value, row.unit)} | {baseline} | "
                f"{shown(row.ratio, 'x')} | {goals} | {verdict(row)} |"
            )
    return lines


def ordered(sections: Iterable[Section]) -> list[Section]:
    rank = {name: i for i, name in enumerate(SECTION_ORDER)}
    return sorted(sections, key=lambda s: (rank.get(s.name, len(rank)), s.name))


def render(sections: list[Section], context: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks on the real stack",
        "",
        f"Command: `{context['command']}`. Started on commit {context['commit']}, report written "
        f"{context['date']}; {context['machine']}.",
        "",
        "Every figure is the median of its samples, printed beside a baseline measured in the same run "
        "(interleaved pair by pair where both are timed); ratios are ratios of medians. "
        "The machine was shared with other work while it ran: the ratios compare samples that shared that noise.",
        "",
        "## Summary: the goals",
        "",
        *summary_table(sections),
        "",
        "![throughput against workers](throughput.png)",
        "",
    ]
    for section in sections:
        lines += render_section(section)
    return "\n".join(lines).rstrip() + "\n"


def throughput_points(sections: Iterable[Section]) -> dict[str, list[tuple[int, float]]]:
    """(workers, per second) of the service and of the bare docker floor, from the throughput section."""
    for section in sections:
        if section.name == "throughput":
            points: dict[str, list[tuple[int, float]]] = {}
            for entry in section.details.get("points", []):
                points.setdefault(entry["series"], []).append((int(entry["workers"]), float(entry["per_second"])))
            return {series: sorted(values) for series, values in points.items()}
    return {}


def plot_throughput(points: dict[str, list[tuple[int, float]]], path: Path, title: str) -> bool:
    """Write the PNG; False (and nothing written) when there are no points."""
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for series, values in points.items():
        axes.plot([w for w, _ in values], [v for _, v in values], marker="o", label=series)
    workers = sorted({w for values in points.values() for w, _ in values})
    axes.set_xticks(workers)
    axes.set_xlabel("workers (parallel grades)")
    axes.set_ylabel("submissions graded per second")
    axes.set_ylim(bottom=0)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


# --------------------------------------------------------------------------- the run's context


def machine() -> str:
    cores = os.cpu_count() or 0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cores} cores, Python {platform.python_version()}, load average at the end [{load}]"


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(section: Section, out: Path) -> Path:
    folder = out / "sections"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{section.name}.json"
    path.write_text(json.dumps(section.to_json(), indent=2) + "\n")
    return path


def read_sections(out: Path) -> list[Section]:
    folder = out / "sections"
    return ordered(Section.from_json(json.loads(p.read_text())) for p in sorted(folder.glob("*.json")))


def print_section(section: Section) -> None:
    print("\n".join(render_section(section)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Assemble report.md, report.json and throughput.png")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--command", default="make bench", help="the command that produced the sections")
    parser.add_argument("--commit", default="", help="the checkout's commit when the run began (default: now)")
    args = parser.parse_args()
    sections = read_sections(args.out)
    context = {"command": args.command, "date": now_utc(), "commit": args.commit or git_commit(), "machine": machine()}
    text = render(sections, context)
    (args.out / "report.md").write_text(text)
    (args.out / "report.json").write_text(
        json.dumps({"context": context, "sections": [s.to_json() for s in sections]}, indent=2) + "\n"
    )
    plot_throughput(throughput_points(sections), args.out / "throughput.png", "throughput against workers")
    print(text)


if __name__ == "__main__":
    main()
