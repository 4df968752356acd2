"""Open Badges 3.0 / Verifiable Credentials 2.0: build, sign, verify, revoke and bake credentials.

A standalone package (it knows nothing of grading). The usual path::

    from credentials import (Keystore, StatusList, build_credential, sign_credential,
                             verify_credential, bake_credential)

    unsigned = build_credential(issuer, achievement, subject, results, evidence,
                                valid_from, valid_until, status_list.allocate_entry(), credential_id)
    signed = sign_credential(unsigned, keystore.signer())
    report = verify_credential(signed, status_list=published_list)

Names are imported lazily, so ``import credentials.verify`` does not pull in Pillow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # building
    "AchievementInput": "credentials.build",
    "AlignmentInput": "credentials.build",
    "CriterionResultInput": "credentials.build",
    "EvidenceInput": "credentials.build",
    "ResultsInput": "credentials.build",
    "RubricCriterionInput": "credentials.build",
    "RubricLevelInput": "credentials.build",
    "SubjectIdentity": "credentials.build",
    "build_credential": "credentials.build",
    "hash_email": "credentials.build",
    "identity_matches": "credentials.build",
    # models
    "BitstringStatusListEntry": "credentials.models",
    "OpenBadgeCredential": "credentials.models",
    "Profile": "credentials.models",
    # signing
    "Ed25519Signer": "credentials.proof",
    "Signer": "credentials.proof",
    "sign_credential": "credentials.proof",
    "verify_proof": "credentials.proof",
    "canonicalize": "credentials.canon",
    # keys and DIDs
    "Keystore": "credentials.keys",
    "DidDocumentCache": "credentials.did",
    "did_key": "credentials.did",
    "did_web": "credentials.did",
    "did_web_document": "credentials.did",
    # status
    "StatusList": "credentials.status",
    "StatusListState": "credentials.status",
    "read_status": "credentials.status",
    # verification
    "VerificationReport": "credentials.verify",
    "FetchedStatusList": "credentials.verify",
    "verify_credential": "credentials.verify",
    # baking
    "bake_credential": "credentials.bake",
    "extract_credential": "credentials.bake",
    # errors
    "CredentialError": "credentials.errors",
    "UndefinedTermError": "credentials.errors",
    "UnknownContextError": "credentials.errors",
    "KeyRetiredError": "credentials.errors",
    "StatusListError": "credentials.errors",
}

__all__ = [
    "AchievementInput",
    "AlignmentInput",
    "BitstringStatusListEntry",
    "CredentialError",
    "CriterionResultInput",
    "DidDocumentCache",
    "Ed25519Signer",
    "EvidenceInput",
    "FetchedStatusList",
    "KeyRetiredError",
    "Keystore",
    "OpenBadgeCredential",
    "Profile",
    "ResultsInput",
    "RubricCriterionInput",
    "RubricLevelInput",
    "Signer",
    "StatusList",
    "StatusListError",
    "StatusListState",
    "SubjectIdentity",
    "UndefinedTermError",
    "UnknownContextError",
    "VerificationReport",
    "bake_credential",
    "build_credential",
    "canonicalize",
    "did_key",
    "did_web",
    "did_web_document",
    "extract_credential",
    "hash_email",
    "identity_matches",
    "read_status",
    "sign_credential",
    "verify_credential",
    "verify_proof",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'credentials' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from credentials.bake import bake_credential, extract_credential
    from credentials.build import (
        AchievementInput,
        AlignmentInput,
        CriterionResultInput,
        EvidenceInput,
        ResultsInput,
        RubricCriterionInput,
        RubricLevelInput,
        SubjectIdentity,
        build_credential,
        hash_email,
        identity_matches,
    )
    from credentials.canon import canonicalize
    from credentials.did import DidDocumentCache, did_key, did_web, did_web_document
    from credentials.errors import (
        CredentialError,
        KeyRetiredError,
        StatusListError,
        UndefinedTermError,
        UnknownContextError,
    )
    from credentials.keys import Keystore
    from credentials.models import BitstringStatusListEntry, OpenBadgeCredential, Profile
    from credentials.proof import Ed25519Signer, Signer, sign_credential, verify_proof
    from credentials.status import StatusList, StatusListState, read_status
    from credentials.verify import FetchedStatusList, VerificationReport, verify_credential
