"""Encryption at rest: every case has its own key, wrapped by the master key; purging a case destroys its key.

Sealed values are text: "s1.<base64url(nonce | AES-256-GCM ciphertext)>" of a JSON value, or "t1.<...>" of a
text kept as it is (a case's workflow state, itself JSON: encoding it again as a JSON string cost a copy with
every quote escaped, both ways, on every change). Each is bound to what it is (the associated data names
the column), so a sealed reporter token cannot be passed off as case data.
A few system events are deliberately public ("p1.<json>"): the record that a case was purged must stay
readable after its key is gone.
"""
import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED = "s1."
SEALED_TEXT = "t1."
PUBLIC = "p1."
WRAPPED = "w1."


class MasterKeyError(Exception):
    """The master key is missing, malformed, or not the one that wrapped a case's key."""


class SealedValueError(Exception):
    """A sealed value does not open with its case's key: altered, moved from another column, or corrupt."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class MasterKey:
    """The key that wraps every case key; read from INCIDENTS_MASTER_KEY or the master key file."""

    def __init__(self, raw: bytes):
        if len(raw) != 32:
            raise MasterKeyError(f"the master key must be 32 bytes (base64 encoded), not {len(raw)}")
        self._aead = AESGCM(raw)
        # names the key in wrapped case keys, so a wrong key is reported as such, not as corrupt data
        self.id = hashlib.sha256(b"incidents master key\n" + raw).hexdigest()[:12]
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"incidents system secrets").derive(raw)
        self.system_cipher = CaseCipher(derived)  # for credentials the system keeps (webhook URLs), not case data
        self._exclusion_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                   info=b"incidents excluded staff").derive(raw)

    def exclusion_digest(self, username: str) -> str:
        """What a case row keeps of a staff member the reporter excluded: a keyed digest, not the name.

        Inboxes compare the reader's own digest with it; reading the database tells no one whom a
        reporter distrusted (the names themselves are in the sealed case data).
        """
        return digest(self._exclusion_key, "excluded staff", username)

    @classmethod
    def from_text(cls, text: str, where: str) -> "MasterKey":
        try:
            raw = _unb64(text.strip())
        except ValueError:
            raise MasterKeyError(f"{where} is not base64") from None
        try:
            return cls(raw)
        except MasterKeyError as err:
            raise MasterKeyError(f"{where}: {err}") from None

    def new_case_key(self) -> tuple["CaseCipher", str]:
        """A fresh case key: its cipher, and the key wrapped for storing on the case row."""
        raw = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        wrapped = f"{WRAPPED}{self.id}.{_b64(nonce + self._aead.encrypt(nonce, raw, b'case key'))}"
        return CaseCipher(raw), wrapped

    def unwrap(self, wrapped: str, case_id=None) -> "CaseCipher":
        """The cipher of a case whose stored key is `wrapped`."""
        what = f"case {case_id}" if case_id is not None else "a case"
        try:
            prefix, key_id, body = wrapped.split(".", 2)
        except (AttributeError, ValueError):
            raise MasterKeyError(f"the key of {what} is not in a known format") from None
        if f"{prefix}." != WRAPPED:
            raise MasterKeyError(f"the key of {what} is not in a known format")
        if key_id != self.id:
            raise MasterKeyError(f"the key of {what} was wrapped by master key {key_id}, but the configured "
                                 f"master key is {self.id}: set INCIDENTS_MASTER_KEY or INCIDENTS_MASTER_KEY_FILE "
                                 "to the key this database was created with")
        blob = _unb64(body)
        try:
            return CaseCipher(self._aead.decrypt(blob[:12], blob[12:], b"case key"))
        except InvalidTag:
            raise MasterKeyError(f"the stored key of {what} was altered") from None


class CaseCipher:
    """Seals and opens one case's values with its own key, and digests them with a key derived from it."""

    def __init__(self, raw: bytes):
        self._aead = AESGCM(raw)
        # one-way from the case key: it checks plaintext against digests but opens nothing
        self.digest_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                               info=b"incidents case digest key").derive(raw)

    def digest(self, purpose: str, value) -> str:
        """The case's keyed digest of a JSON value (see `digest`)."""
        return digest(self.digest_key, purpose, value)

    def seal(self, purpose: str, value) -> str:
        """Encrypt a JSON value; `purpose` (the column it is for) is bound to it."""
        nonce = os.urandom(12)
        return SEALED + _b64(nonce + self._aead.encrypt(nonce, _json(value), purpose.encode()))

    def seal_text(self, purpose: str, text: str) -> str:
        """Encrypt a text as it is (`open_text` reads it back); `purpose` is bound to it."""
        nonce = os.urandom(12)
        return SEALED_TEXT + _b64(nonce + self._aead.encrypt(nonce, text.encode("utf-8"), purpose.encode()))

    def open_text(self, purpose: str, sealed: str) -> str:
        """The text sealed for `purpose` by `seal_text` (or, as stored before it, by `seal`)."""
        if not sealed.startswith(SEALED_TEXT):
            return self.open(purpose, sealed)
        blob = _unb64(sealed[len(SEALED_TEXT):])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], purpose.encode()).decode("utf-8")
        except InvalidTag:
            raise SealedValueError(f"a {purpose} value does not open with its case's key") from None

    def open(self, purpose: str, sealed: str):
        """The JSON value sealed for `purpose`; public values open without a key."""
        if sealed.startswith(PUBLIC):
            return json.loads(sealed[len(PUBLIC):])
        if not sealed.startswith(SEALED):
            raise SealedValueError(f"a {purpose} value is not sealed")
        blob = _unb64(sealed[len(SEALED):])
        try:
            return json.loads(self._aead.decrypt(blob[:12], blob[12:], purpose.encode()))
        except InvalidTag:
            raise SealedValueError(f"a {purpose} value does not open with its case's key") from None


def digest(key: bytes, purpose: str, value) -> str:
    """HMAC-SHA256 of a JSON value's canonical encoding, bound to `purpose`.

    Keyed per case, so a digest kept in plain sight allows no guessing of the data, and it is
    destroyed with the case key when the case is purged.
    """
    return hmac.new(key, purpose.encode() + b"\n" + _json(value), hashlib.sha256).hexdigest()


def public(value) -> str:
    """A value stored readable on purpose (it names no one), for records that must outlive a case's key."""
    return PUBLIC + _json(value).decode("utf-8")


def open_public(sealed: str):
    """A public value, or None for a sealed one (whose key is gone)."""
    return json.loads(sealed[len(PUBLIC):]) if sealed.startswith(PUBLIC) else None


def token_digest(token: str) -> str:
    """What is stored to find a reporter's link: the link itself is only kept sealed."""
    return hashlib.sha256(b"incidents reporter link\n" + token.encode("utf-8")).hexdigest()


def load_master_key(settings, create: bool = False) -> MasterKey:
    """The master key from INCIDENTS_MASTER_KEY, else from the key file (created by `incidents init`)."""
    if settings.master_key:
        return MasterKey.from_text(settings.master_key, "INCIDENTS_MASTER_KEY")
    path = Path(settings.master_key_file)
    if not path.exists():
        if not create:
            raise MasterKeyError(f"no master key: set INCIDENTS_MASTER_KEY, or run `incidents init` to create "
                                 f"{path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(_b64(secrets.token_bytes(32)) + "\n")
        except FileExistsError:
            pass  # another process created it first
    return MasterKey.from_text(path.read_text(), str(path))


def generate_master_key() -> str:
    """A new master key as INCIDENTS_MASTER_KEY expects it."""
    return _b64(secrets.token_bytes(32))
