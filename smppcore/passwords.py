"""Client credentials: scrypt password hashes in a self-describing string.

Owns the hash format ``scrypt$<n>$<r>$<p>$<salt_b64>$<hash_b64>`` (standard base64, no
padding stripped) used for ``accounts[].password_hash`` in the config, and the functions that
make and check such hashes. The KDF is :func:`hashlib.scrypt` (stdlib, memory-hard).

Default cost is ``n=2**14, r=8, p=1`` (16 MiB, ~40 ms on one core of the development
machine): slow for an attacker holding the hash, cheap enough that a bind does not stall.
It is still CPU work, so trio callers use :func:`verify_password_in_thread` (or run
:func:`verify_password` through ``trio.to_thread.run_sync`` themselves) rather than calling it
on the event loop.

Nothing here logs. A password, a hash or a salt must never reach a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

import attrs
import trio

__all__ = [
    "DEFAULT_N",
    "DEFAULT_P",
    "DEFAULT_R",
    "ScryptHash",
    "hash_password",
    "parse_hash",
    "verify_password",
    "verify_password_in_thread",
]

DEFAULT_N = 2**14
DEFAULT_R = 8
DEFAULT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
# Refuse parameters that would make one verification cost more than ~1 GiB or a long stall:
# a hash comes from a trusted config, but a typo there must not take the daemon down.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MAX_MEMORY = 1 << 30


@attrs.frozen
class ScryptHash:
    """A parsed ``scrypt$...`` string."""

    n: int
    r: int
    p: int
    salt: bytes = attrs.field(repr=False)
    key: bytes = attrs.field(repr=False)

    def encode(self) -> str:
        salt = base64.b64encode(self.salt).decode("ascii")
        key = base64.b64encode(self.key).decode("ascii")
        return f"scrypt${self.n}${self.r}${self.p}${salt}${key}"


def _derive(password: str, n: int, r: int, p: int, salt: bytes, dklen: int) -> bytes:
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen
    )


def hash_password(
    password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P
) -> str:
    """Hash ``password`` with a fresh random salt; returns the ``scrypt$...`` string."""
    _check_params(n, r, p)
    salt = os.urandom(_SALT_BYTES)
    key = _derive(password, n, r, p, salt, _KEY_BYTES)
    return ScryptHash(n=n, r=r, p=p, salt=salt, key=key).encode()


def parse_hash(encoded: str) -> ScryptHash:
    """Parse a ``scrypt$n$r$p$salt$hash`` string; raises ``ValueError`` saying what is wrong
    (the message never contains the string itself)."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            "not a password hash of the form scrypt$n$r$p$salt$hash "
            "(make one with `smppcore hash-password`)"
        )
    try:
        n, r, p = (int(x) for x in parts[1:4])
    except ValueError:
        raise ValueError("scrypt parameters n, r, p must be integers") from None
    _check_params(n, r, p)
    try:
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("salt and hash must be base64") from None
    if len(salt) < 8:
        raise ValueError("salt is shorter than 8 bytes")
    if len(key) < 16:
        raise ValueError("hash is shorter than 16 bytes")
    return ScryptHash(n=n, r=r, p=p, salt=salt, key=key)


def _check_params(n: int, r: int, p: int) -> None:
    if n < 2 or n & (n - 1) or n > _MAX_N:
        raise ValueError(f"scrypt n must be a power of two between 2 and {_MAX_N}")
    if not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        raise ValueError(f"scrypt r must be 1..{_MAX_R} and p 1..{_MAX_P}")
    if 128 * r * n * p > _MAX_MEMORY:
        raise ValueError("scrypt parameters need more than 1 GiB of memory")


def verify_password(password: str, encoded: str | ScryptHash) -> bool:
    """True if ``password`` matches the hash. The comparison is constant-time.

    Raises ``ValueError`` if ``encoded`` is not a valid hash string (the config loader
    rejects such strings, so at run time this does not happen).
    """
    parsed = encoded if isinstance(encoded, ScryptHash) else parse_hash(encoded)
    candidate = _derive(password, parsed.n, parsed.r, parsed.p, parsed.salt, len(parsed.key))
    return hmac.compare_digest(candidate, parsed.key)


async def verify_password_in_thread(password: str, encoded: str | ScryptHash) -> bool:
    """:func:`verify_password` in a trio worker thread, so the event loop keeps running."""
    return await trio.to_thread.run_sync(verify_password, password, encoded)
