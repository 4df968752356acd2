"""The store tests of tests/unit/service/test_store.py, on PostgreSQL started by scripts/start-services.sh."""

from __future__ import annotations

import pytest

from tests.integration.test_service_stack import Services, postgres_service
from tests.unit.service.test_store import factory as factory
from tests.unit.service.test_store import ledger_archive as ledger_archive
from tests.unit.service.test_store import (
    test_api_keys_are_stored_hashed_and_checked,
    test_datetimes_come_back_in_utc,
    test_history_events_and_stuck_submissions,
    test_idempotency_key_is_unique_per_tenant,
    test_learner_history_counts,
    test_migrations_match_the_models_and_go_down_and_up,
    test_one_grade_per_run_and_one_credential_per_submission,
    test_queries_never_cross_tenants,
    test_status_list_allocation_and_revocation,
    test_versions_are_immutable_and_round_trip,
    test_webhook_events_are_queued_once_per_endpoint,
)

pytestmark = pytest.mark.integration

__all__ = [
    "postgres_service",
    "test_api_keys_are_stored_hashed_and_checked",
    "test_datetimes_come_back_in_utc",
    "test_history_events_and_stuck_submissions",
    "test_idempotency_key_is_unique_per_tenant",
    "test_learner_history_counts",
    "test_migrations_match_the_models_and_go_down_and_up",
    "test_one_grade_per_run_and_one_credential_per_submission",
    "test_queries_never_cross_tenants",
    "test_status_list_allocation_and_revocation",
    "test_versions_are_immutable_and_round_trip",
    "test_webhook_events_are_queued_once_per_endpoint",
]


@pytest.fixture(scope="module")
def store_url(postgres_service: Services) -> str:
    assert postgres_service.database_url is not None
    assert postgres_service.database_url.startswith("postgresql")
    return postgres_service.database_url


def test_the_store_under_test_is_postgres(factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        assert session.get_bind().dialect.name == "postgresql"
