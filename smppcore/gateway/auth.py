"""Client bind authentication: who may bind, from where, how, and how often.

Owns: :func:`authenticate`, which decides one bind request and returns the account's
:class:`~smppcore.gateway.accounts.AccountRuntime` or a
:class:`~smppcore.gateway.rejection.Rejection`. Registration of the bind is the server's job.

Order of checks, and why:

1. **Lock-out** (:class:`~smppcore.gateway.lockout.BindLockout`, per source IP and per
   system_id): while locked → ``ESME_RBINDFAIL`` ``bind_locked`` without looking at the
   password, so the right password fails too and a guesser learns nothing.
2. **Credentials**: the scrypt hash is verified in a worker thread (it takes tens of ms).
   An unknown system_id is verified against a dummy hash so it costs the same time, and it
   gets the *same* answer as a wrong password: ``ESME_RINVPASWD`` ``bad_credentials``
   (never ``ESME_RINVSYSID``, which would confirm which ids exist). Counts as a failure.
3. **IP allow-list** (CIDR per account) → ``ESME_RINVPASWD`` ``ip_not_allowed``: the same
   answer as a wrong password (the reason is for metrics only). Checked after the password
   so the answer does not tell an outsider that the system_id exists, and answered like a
   wrong password so it does not tell them that the password they guessed is right; it also
   counts as a failure (a right password from a wrong place is still suspicious).
4. **Bind type** allowed for the account → ``ESME_RBINDFAIL`` ``bind_type_not_allowed``.
5. **Max simultaneous binds** → ``ESME_RBINDFAIL`` ``too_many_binds``.

Reasons are counted in ``smppcore_submits``-style metrics by the server; logs carry the
reason and the peer IP only (never the password, never the system_id of a failed attempt,
which is often a mistyped password).
"""

from __future__ import annotations

import threading
from typing import Final

import trio

from smppcore.gateway.accounts import AccountRuntime
from smppcore.gateway.binds import BindType
from smppcore.gateway.context import Gateway
from smppcore.gateway.lockout import LOCKED
from smppcore.gateway.rejection import ESME_RBINDFAIL, Rejection
from smppcore.passwords import hash_password, verify_password

__all__ = [
    "BAD_CREDENTIALS",
    "BIND_TYPE_NOT_ALLOWED",
    "ESME_RINVPASWD",
    "IP_NOT_ALLOWED",
    "TOO_MANY_BINDS",
    "authenticate",
]

ESME_RINVPASWD: Final = 0x0E
BAD_CREDENTIALS: Final = Rejection(ESME_RINVPASWD, "bad_credentials")
IP_NOT_ALLOWED: Final = Rejection(ESME_RINVPASWD, "ip_not_allowed")
BIND_TYPE_NOT_ALLOWED: Final = Rejection(ESME_RBINDFAIL, "bind_type_not_allowed")
TOO_MANY_BINDS: Final = Rejection(ESME_RBINDFAIL, "too_many_binds")

_dummy_lock = threading.Lock()
_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash to verify unknown system_ids against (made once, lazily, in a worker thread)."""
    global _dummy_hash
    with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = hash_password("not-a-password-anyone-has")
        return _dummy_hash


def _verify_blocking(password: str, encoded: str | None) -> bool:
    if encoded is None:
        verify_password(password, _dummy())
        return False
    return verify_password(password, encoded)


async def authenticate(
    gateway: Gateway,
    system_id: str,
    password: str,
    bind_type: BindType,
    peer_ip: str,
) -> AccountRuntime | Rejection:
    """Decide one bind (see module docstring). Records failures in the lock-out."""
    lockout = gateway.lockout
    if not lockout.allowed(peer_ip, system_id, gateway.clock()):
        lockout.record_failure(peer_ip, system_id, gateway.clock())
        return LOCKED
    account = gateway.directory.get(system_id)
    encoded = account.config.password_hash if account is not None else None
    ok = await trio.to_thread.run_sync(_verify_blocking, password, encoded)
    now = gateway.clock()
    if not ok or account is None:
        lockout.record_failure(peer_ip, system_id, now)
        return BAD_CREDENTIALS
    if not account.config.allows_ip(peer_ip):
        lockout.record_failure(peer_ip, system_id, now)
        return IP_NOT_ALLOWED
    lockout.record_success(peer_ip, system_id, now)
    if bind_type.value not in account.config.bind_types:
        return BIND_TYPE_NOT_ALLOWED
    if gateway.binds.count(system_id) >= account.config.max_binds:
        return TOO_MANY_BINDS
    return account
