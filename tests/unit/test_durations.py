"""One ISO-8601 duration type (grader.core.spec.IsoDuration) validates a spec's `valid_for` and computes the
credential's validUntil, with calendar arithmetic; property tests check it against an independent
calendar implementation (dateutil's relativedelta) and against its own invariants."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from grader.core.credential_mapping import valid_until
from grader.core.spec import AssignmentSpec, CredentialSpec, IsoDuration, SpecError, parse_spec
from tests.conftest import LEDGER_DIR

UTC_TIMES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2400, 12, 31), timezones=st.just(UTC))
PARTS = ("Y", "M", "W", "D", "H", "TM", "S")
COUNTS = st.fixed_dictionaries({}, optional={part: st.integers(0, 500) for part in PARTS})
NONZERO = COUNTS.filter(lambda counts: any(counts.values()))


def text_of(counts: dict[str, int]) -> str:
    date = "".join(f"{counts[p]}{p}" for p in ("Y", "M", "W", "D") if p in counts)
    time = "".join(f"{counts[p]}{p[-1]}" for p in ("H", "TM", "S") if p in counts)
    return "P" + date + (f"T{time}" if time else "")


def achievement() -> dict[str, Any]:
    return {"name": "n", "description": "d", "criteria": "c"}


# -- the faults that were found ------------------------------------------------------------------


def test_a_time_part_adds_hours() -> None:
    start = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    spec = CredentialSpec.model_validate({"achievement": achievement(), "valid_for": "PT12H"})
    assert valid_until(start, spec.valid_for) == datetime(2026, 3, 1, 20, 30, tzinfo=UTC)
    assert valid_until(start, "P1DT1H30M15S") == datetime(2026, 3, 2, 10, 0, 15, tzinfo=UTC)


def test_years_from_the_31st_keep_the_day() -> None:
    assert valid_until(datetime(2026, 1, 31, 12, tzinfo=UTC), "P2Y") == datetime(2028, 1, 31, 12, tzinfo=UTC)


def test_a_month_from_the_31st_of_january_is_the_end_of_february() -> None:
    assert valid_until(datetime(2026, 1, 31, tzinfo=UTC), "P1M") == datetime(2026, 2, 28, tzinfo=UTC)
    assert valid_until(datetime(2028, 1, 31, tzinfo=UTC), "P1M") == datetime(2028, 2, 29, tzinfo=UTC)


def test_two_years_from_a_leap_day_is_the_28th_of_february() -> None:
    assert valid_until(datetime(2024, 2, 29, 9, tzinfo=UTC), "P2Y") == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert valid_until(datetime(2024, 2, 29, tzinfo=UTC), "P4Y") == datetime(2028, 2, 29, tzinfo=UTC)


def test_the_spec_field_is_the_parsed_type_and_round_trips_as_text() -> None:
    spec = CredentialSpec.model_validate({"achievement": achievement(), "valid_for": "P1Y6M"})
    assert isinstance(spec.valid_for, IsoDuration) and (spec.valid_for.years, spec.valid_for.months) == (1, 6)
    dumped = spec.model_dump(mode="json")
    assert dumped["valid_for"] == "P1Y6M"
    assert CredentialSpec.model_validate(dumped) == spec  # the store keeps specs as JSON and reads them back


def test_the_ledger_spec_still_validates_and_round_trips() -> None:
    spec = parse_spec((LEDGER_DIR / "assignment.yaml").read_text(), "assignment.yaml")
    assert spec.credential is not None and str(spec.credential.valid_for) == "P2Y"
    assert AssignmentSpec.model_validate(spec.model_dump(mode="json")) == spec


@pytest.mark.parametrize(
    "text", ["P", "PT", "2Y", "P2", "P-1Y", "P1.5Y", "PT1.5S", "P1Y2", "P0Y", "PT0S", "P0D", "p2y", "P2Y ", "P1H"]
)
def test_malformed_or_zero_durations_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        CredentialSpec.model_validate({"achievement": achievement(), "valid_for": text})


@pytest.mark.parametrize("text", ["P101Y", "P1201M", "P5300W", "P36526D", "PT876601H", "P100Y1D", "P9999999Y"])
def test_valid_for_is_at_most_a_century(text: str) -> None:
    with pytest.raises(ValidationError, match="longer than the most allowed, P100Y"):
        CredentialSpec.model_validate({"achievement": achievement(), "valid_for": text})


@pytest.mark.parametrize("text", ["P100Y", "P1200M", "P36525D"])
def test_a_century_itself_is_allowed(text: str) -> None:
    CredentialSpec.model_validate({"achievement": achievement(), "valid_for": text})


def test_a_spec_error_names_the_file_and_the_field() -> None:
    source = yaml.safe_load((LEDGER_DIR / "assignment.yaml").read_text())
    source["credential"]["valid_for"] = "PT0S"
    with pytest.raises(SpecError) as caught:
        parse_spec(yaml.safe_dump(source), "assignment.yaml")
    assert any(i.file == "assignment.yaml" and "valid_for" in i.field for i in caught.value.issues)


def test_a_number_is_not_a_duration() -> None:
    with pytest.raises(ValidationError, match="duration string"):
        CredentialSpec.model_validate({"achievement": achievement(), "valid_for": 2})


# -- properties ----------------------------------------------------------------------------------


@given(NONZERO, UTC_TIMES)
def test_it_agrees_with_an_independent_calendar(counts: dict[str, int], start: datetime) -> None:
    duration = IsoDuration.parse(text_of(counts))
    expected = start + relativedelta(
        years=counts.get("Y", 0),
        months=counts.get("M", 0),
        weeks=counts.get("W", 0),
        days=counts.get("D", 0),
        hours=counts.get("H", 0),
        minutes=counts.get("TM", 0),
        seconds=counts.get("S", 0),
    )
    assert duration.after(start) == expected


@given(NONZERO)
def test_text_round_trips(counts: dict[str, int]) -> None:
    text = text_of(counts)
    duration = IsoDuration.parse(text)
    assert str(duration) == text and IsoDuration.parse(str(duration)) == duration


@given(NONZERO, UTC_TIMES)
def test_a_duration_always_ends_later_than_it_starts(counts: dict[str, int], start: datetime) -> None:
    assert IsoDuration.parse(text_of(counts)).after(start) > start


@given(UTC_TIMES, st.integers(1, 1200))
def test_months_land_in_the_right_month_clamped_to_its_end(start: datetime, months: int) -> None:
    end = IsoDuration.parse(f"P{months}M").after(start)
    index = start.year * 12 + start.month - 1 + months
    assert (end.year, end.month) == (index // 12, index % 12 + 1)
    assert end.day == min(start.day, calendar.monthrange(end.year, end.month)[1])
    assert end.time() == start.time()


@given(UTC_TIMES, st.integers(1, 100_000), st.integers(0, 100_000))
def test_the_time_part_is_elapsed_time(start: datetime, hours: int, seconds: int) -> None:
    end = IsoDuration.parse(f"PT{hours}H{seconds}S").after(start)
    assert end - start == timedelta(hours=hours, seconds=seconds)


@given(UTC_TIMES, st.integers(1, 99))
def test_years_are_twelve_months(start: datetime, years: int) -> None:
    assert IsoDuration.parse(f"P{years}Y").after(start) == IsoDuration.parse(f"P{12 * years}M").after(start)
