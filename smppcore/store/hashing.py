"""Keyed hashing of MSISDNs, so stored opt-outs and audit records hold no clear number."""

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

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the hash secret must be at least 16 bytes")
        self._key = secret

    def __call__(self, value: str) -> str:
        """Hash a number (any of its written forms gives the same hash) or an account name."""
        text = value.strip()
        if text and all(ch.isdigit() or ch in "+ -()" for ch in text):
            material = "n:" + canonical_msisdn(text)
        else:
            material = "a:" + text
        return hmac.new(self._key, material.encode("utf-8"), hashlib.sha256).hexdigest()
