"""Exceptions raised by the credentials package.

Every error carries a human-readable message that names the offending thing (a context URL,
a term, a key id) so a verifier can show it as-is.
"""

from __future__ import annotations


class CredentialError(Exception):
    """Base class of every error raised by this package."""


class UnknownContextError(CredentialError):
    """A JSON-LD context URL that is not bundled (the network is never asked)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"unknown JSON-LD context {url!r}: only bundled, hash-pinned contexts are allowed")
        self.url = url


class ContextIntegrityError(CredentialError):
    """A bundled context file whose SHA-256 does not match its pin."""


class UndefinedTermError(CredentialError):
    """A property or type that the document's contexts do not define (JSON-LD safe mode)."""

    def __init__(self, term: str, detail: str) -> None:
        super().__init__(f"term {term!r} is not defined by the credential's contexts: {detail}")
        self.term = term


class JsonLdProcessingError(CredentialError):
    """The document is not valid JSON-LD (e.g. a protected term redefined)."""


class ProofError(CredentialError):
    """A proof cannot be created or is malformed."""


class KeyError_(CredentialError):
    """Base for keystore problems (named with a trailing underscore to avoid shadowing KeyError)."""


class KeyRetiredError(KeyError_):
    """A retired key was asked to sign."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"key {key_id!r} is retired: it can verify old credentials but cannot sign")
        self.key_id = key_id


class KeyNotFoundError(KeyError_):
    """No key with that id in the keystore."""


class DidResolutionError(CredentialError):
    """A DID or verification method cannot be resolved offline."""


class StatusListError(CredentialError):
    """A status list is malformed, full, or an index is invalid."""


class BakeError(CredentialError):
    """A PNG has no (or a malformed) embedded credential."""
