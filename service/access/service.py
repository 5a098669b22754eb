"""API keys: create (the token is shown once), list, revoke, and authenticate requests."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
import threading
import time

from service.domain.access import ApiKey, Principal, Role, check_collection
from service.domain.errors import InvalidInput, Unauthenticated
from service.domain.ports import KeyStore

TOKEN_PREFIX = "dsk_"
KEYLESS_RECHECK_S = 2.0  # how stale "no keys exist yet" may be (a key created elsewhere turns keys on)


def hash_token(token: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so a plain hash is enough (no salt or slow KDF)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _hostname(host_header: str) -> str:
    """The host of a Host header value (`127.0.0.1:8000`, `[::1]:8000`, `localhost`)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class KeyService:
    """Manages API keys and authenticates callers.

    Until the first key is created, a server bound to loopback runs keyless: every caller on this machine is an
    admin of every collection (said at startup), provided the request names a loopback host (a web page that
    rebinds its own domain to 127.0.0.1 does not). Once a key has been created (even if since revoked), or when
    `require_keys` is set, every request needs one.
    A server bound to any other address refuses to start without keys (see `startup_problem`).
    """

    def __init__(self, store: KeyStore, *, host: str, require_keys: bool = False) -> None:
        self.store = store
        self.host = host
        self.require_keys = require_keys
        self._keyless: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    def create(self, role: Role, collections: list[str] | None = None, name: str = "") -> tuple[ApiKey, str]:
        """A new key and its token (the only time the token exists outside the caller)."""
        if collections is not None:
            if not collections:
                raise InvalidInput("collections is empty; omit it for a key that sees every collection")
            try:
                collections = sorted({check_collection(c) for c in collections})
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            id="key_" + secrets.token_hex(6),
            name=name[:200] or role,
            role=role,
            collections=collections,
            prefix=token[: len(TOKEN_PREFIX) + 4],
            created_at=dt.datetime.now(dt.UTC),
        )
        self.store.add(key, hash_token(token))
        with self._lock:
            self._keyless = None
        return key, token

    def list(self) -> list[ApiKey]:
        return self.store.list()

    def revoke(self, key_id: str) -> bool:
        return self.store.revoke(key_id)

    def keyless(self) -> bool:
        """Whether requests without a key are served (loopback, no active key, keys not required)."""
        if self.require_keys or not is_loopback(self.host):
            return False
        with self._lock:
            now = time.monotonic()
            if self._keyless is None or now - self._keyless[0] > KEYLESS_RECHECK_S:
                self._keyless = (now, self.store.count() == 0)
            return self._keyless[1]

    def startup_problem(self) -> str | None:
        """Why this server must not start (bound beyond loopback with no key), or None."""
        if is_loopback(self.host) and not self.require_keys:
            return None
        if self.store.active_count() == 0:
            return (
                f"bound to {self.host}, Dossier refuses to start without API keys: create one with "
                "`dossier keys create --role admin` (or bind to 127.0.0.1)"
            )
        return None

    def authenticate(self, token: str | None, host: str = "localhost") -> Principal:
        key = self.store.by_hash(hash_token(token)) if token is not None else None
        if key is None and self.keyless() and is_loopback(_hostname(host)):
            # No key exists, so an unknown token means nothing: OpenAI clients insist on sending one.
            return Principal(key_id=None, role="admin")
        if token is None:
            raise Unauthenticated("an API key is required: send `Authorization: Bearer <key>`")
        if key is None:
            raise Unauthenticated("unknown API key")
        if key.revoked_at is not None:
            raise Unauthenticated(f"API key {key.id} was revoked")
        collections = frozenset(key.collections) if key.collections is not None else None
        return Principal(key_id=key.id, role=key.role, collections=collections)
