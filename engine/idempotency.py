"""Idempotency keys: a retried POST gets the stored answer of the request that already committed."""
import hashlib
import json
from dataclasses import dataclass

from .crypto import open_public
from .errors import InvalidSubmission
from .faults import checkpoint
from .models import Case, IdempotencyRow


@dataclass(frozen=True)
class Idempotency:
    """A client's key for one request, scoped to who sent it, with a fingerprint of what was sent."""

    scope: str
    key: str
    fingerprint: str

    @classmethod
    def for_request(cls, scope, key, method, path, body: bytes):
        """Build one from the request line and body; the fingerprint tells a retry from a different request."""
        if not 1 <= len(key) <= 200 or not key.isprintable():
            raise InvalidSubmission({"Idempotency-Key": ["Use a key of 1 to 200 printable characters."]})
        try:  # the same JSON sent again with other spacing or key order is the same request
            body = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            pass
        digest = hashlib.sha256(f"{method} {path}\n".encode() + (body or b"")).hexdigest()
        return cls(scope, key, digest)

    def stored(self, session):
        """The stored answer for this key, or None; a key reused for another request is refused."""
        row = session.get(IdempotencyRow, (self.scope, self.key))
        if row is None:
            return None
        if row.fingerprint != self.fingerprint:
            raise InvalidSubmission({"Idempotency-Key": ["This key was already used for a different request."]})
        if row.case_id is None:  # answers from before encryption that name no one (see migration 0008)
            return open_public(row.sealed_response)
        return session.get(Case, row.case_id).cipher.open("stored answer", row.sealed_response)

    def remember(self, session, response, case) -> None:
        """Store the answer, sealed with the case's key, in the same transaction as the change it describes."""
        session.add(IdempotencyRow(scope=self.scope, key=self.key, fingerprint=self.fingerprint, case_id=case.id,
                                   sealed_response=case.cipher.seal("stored answer", response)))


def finish(uow, idempotency, response, commit, case):
    """Remember the response (if the request carried a key), commit, and return it."""
    if idempotency is not None:
        idempotency.remember(uow.session, response, case)
    commit(uow)
    checkpoint("after_commit")
    return response
