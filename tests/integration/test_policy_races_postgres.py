"""The policy-race tests of tests/unit/service/test_policy_races.py on PostgreSQL (started by
scripts/start-services.sh): the advisory locks, not SQLite's single writer, keep admissions in turn."""

from __future__ import annotations

import pytest

from tests.integration.test_service_stack import Services, postgres_service
from tests.unit.service.test_policy_races import services as services
from tests.unit.service.test_policy_races import (
    test_a_cooldown_admits_exactly_one_of_many_concurrent_submissions,
    test_a_locked_store_is_refused_at_once_with_nothing_written,
    test_a_tenant_rate_limit_holds_across_learners,
    test_an_attempt_limit_admits_exactly_that_many_numbered_one_to_n,
    test_the_database_refuses_a_repeated_attempt_number,
)

pytestmark = pytest.mark.integration

__all__ = [
    "postgres_service",
    "test_a_cooldown_admits_exactly_one_of_many_concurrent_submissions",
    "test_a_locked_store_is_refused_at_once_with_nothing_written",
    "test_a_tenant_rate_limit_holds_across_learners",
    "test_an_attempt_limit_admits_exactly_that_many_numbered_one_to_n",
    "test_the_database_refuses_a_repeated_attempt_number",
]


@pytest.fixture(scope="module")
def store_url(postgres_service: Services) -> str:
    assert postgres_service.database_url is not None and postgres_service.database_url.startswith("postgresql")
    return postgres_service.database_url
