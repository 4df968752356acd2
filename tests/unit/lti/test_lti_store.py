"""The LMS tables' queries (grader.store.lti) and the tool's keys (grader.lti.keys): several registrations
per issuer, (issuer, client_id) unique, deployments, the learner mapping kept, keys encrypted at rest."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings
from grader.lti import keys as tool_keys
from grader.store import lti as store
from grader.store import tenancy
from grader.store.db import engine_for, session_factory, session_scope, upgrade
from grader.store.models import LtiToolKey


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, key_passphrase="correct horse", public_url="http://testserver")


@pytest.fixture
def factory(settings: Settings) -> sessionmaker[Session]:
    upgrade(settings.resolved_database_url())
    return session_factory(engine_for(settings.resolved_database_url()))


def reg(client_id: str, deployments: tuple[str, ...] = ()) -> store.RegistrationIn:
    return store.RegistrationIn(
        issuer="https://canvas.instructure.com",
        client_id=client_id,
        auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
        token_url="https://sso.canvaslms.com/login/oauth2/token",
        jwks_url="https://sso.canvaslms.com/api/lti/security/jwks",
        deployments=deployments,
    )


def test_one_issuer_several_registrations_each_client_id_once(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        a = tenancy.create_tenant(session, "a", "A")
        b = tenancy.create_tenant(session, "b", "B")
        store.create_registration(session, a.id, reg("1", ("d1", "d1", "d2")))
        store.create_registration(session, b.id, reg("2"))
        with pytest.raises(store.RegistrationConflict):
            store.create_registration(session, b.id, reg("1"))
        found = store.active_registrations_for(session, "https://canvas.instructure.com", None)
        assert [r.client_id for r in found] == ["1", "2"]
        (one,) = store.active_registrations_for(session, "https://canvas.instructure.com", "1")
        assert store.deployments_of(session, one) == ["d1", "d2"]
        assert store.add_deployment(session, one, "d3") and not store.add_deployment(session, one, "d3")
        assert store.remove_deployment(session, one, "d1") and not store.remove_deployment(session, one, "d1")
        assert store.deployments_of(session, one) == ["d2", "d3"]
        # Tenancy: another tenant cannot read it by id.
        assert store.registration_of(session, b.id, one.id) is None
        assert [r.client_id for r in store.registrations_of(session, a.id)] == ["1"]


def test_the_learner_mapping_is_made_once_and_kept(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, "a", "A")
        row = store.create_registration(session, tenant.id, reg("1"))
        first = store.upsert_user(session, row, "sub-1", learner="ann@example.org", name="Ann", email=None, roles=[])
        again = store.upsert_user(
            session, row, "sub-1", learner="other@example.org", name="Ann B", email="x@example.org", roles=["R"]
        )
        assert first.id == again.id and again.learner == "ann@example.org" and again.name == "Ann B"
        assert [u.sub for u in store.users_of_learner(session, tenant.id, "ann@example.org")] == ["sub-1"]


def test_context_and_resource_link_upserts_keep_the_known_line_item(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, "a", "A")
        row = store.create_registration(session, tenant.id, reg("1"))
        context = store.upsert_context(session, row, store.ContextIn(context_id="c1", deployment_id="d", title="T"))
        link = store.upsert_resource_link(session, context, "r1", assignment_id=None, title="x", lineitem_url="L1")
        same = store.upsert_resource_link(session, context, "r1", assignment_id=None, title="y", lineitem_url=None)
        assert link.id == same.id and same.ags_lineitem_url == "L1" and same.title == "y"
        updated = store.upsert_context(
            session, row, store.ContextIn(context_id="c1", deployment_id="d", nrps_memberships_url="https://m")
        )
        assert updated.id == context.id and updated.nrps_memberships_url == "https://m"


def test_the_tool_key_is_encrypted_at_rest_and_signs(factory: sessionmaker[Session], settings: Settings) -> None:
    with session_scope(factory) as session:
        key = tool_keys.signing_key(session, settings)
        row = session.query(LtiToolKey).one()
        assert row.kid == key.kid and "ciphertext" in row.private_key and "d" not in row.public_jwk
        # Unlocking needs the passphrase: a wrong one is told, never a traceback.
        with pytest.raises(tool_keys.ToolKeyError):
            tool_keys.decrypt(row.private_key, "wrong", row.kid)
        # The kid is bound to the blob (associated data): a row's key under another kid does not open.
        with pytest.raises(tool_keys.ToolKeyError):
            tool_keys.decrypt(row.private_key, "correct horse", "another-kid")
        unlocked = tool_keys.decrypt(row.private_key, "correct horse", row.kid)
        token = tool_keys.sign(tool_keys.SigningKey(row.kid, unlocked), {"hello": "world"})
        public = jwt.PyJWK(row.public_jwk)
        assert jwt.decode(token, public.key, algorithms=["RS256"]) == {"hello": "world"}


def test_rotating_keeps_the_old_key_published(factory: sessionmaker[Session], settings: Settings) -> None:
    with session_scope(factory) as session:
        old = tool_keys.signing_key(session, settings)
        new = tool_keys.create_key(session, settings)
        assert tool_keys.signing_key(session, settings).kid == new.kid != old.kid
        assert {k["kid"] for k in tool_keys.jwks(session)["keys"]} == {old.kid, new.kid}
        kid, _ = tool_keys.signing_key(session, settings)  # a tuple too, as the services' token code takes it
        assert kid == new.kid
