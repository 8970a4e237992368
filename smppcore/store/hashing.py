"""Keyed hashing of MSISDNs, so stored opt-outs and audit records hold no clear number.

The hasher memoises its results (a bounded dict, emptied when full): the hash is a pure
function of the value and the secret, so a cached hash can never be stale, and on the submit
path the scopes (sender numbers, account names) repeat, which saves two of the three HMACs
of every suppression check. The cache lives only in this process's memory, beside the
clear numbers the daemon holds anyway.
"""

from __future__ import annotations

import hashlib
import hmac


def canonical_msisdn(value: str) -> str:
    """The form every store keys numbers by: digits only, no ``+`` or leading ``00``."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if value.lstrip().startswith("00") and digits.startswith("00"):
        digits = digits[2:]
    return digits


class MsisdnHasher:
    """HMAC-SHA256 of canonical numbers (or account names) under a secret from config."""

    __slots__ = ("_cache", "_cache_max", "_key")

    def __init__(self, secret: bytes, cache_max: int = 65536) -> None:
        if len(secret) < 16:
            raise ValueError("the hash secret must be at least 16 bytes")
        self._key = secret
        self._cache: dict[str, str] = {}
        self._cache_max = cache_max

    def __call__(self, value: str) -> str:
        """Hash a number (any of its written forms gives the same hash) or an account name."""
        hashed = self._cache.get(value)
        if hashed is None:
            hashed = self._compute(value)
            if len(self._cache) >= self._cache_max:
                self._cache.clear()
            self._cache[value] = hashed
        return hashed

    def _compute(self, value: str) -> str:
        text = value.strip()
        if text and all(ch.isdigit() or ch in "+ -()" for ch in text):
            material = "n:" + canonical_msisdn(text)
        else:
            material = "a:" + text
        return hmac.new(self._key, material.encode("utf-8"), hashlib.sha256).hexdigest()
