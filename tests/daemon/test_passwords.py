"""scrypt credentials: format, verification, refusal of malformed or absurd hashes."""

from __future__ import annotations

import base64

import pytest
import trio

from smppcore.passwords import (
    DEFAULT_N,
    hash_password,
    parse_hash,
    verify_password,
    verify_password_in_thread,
)


def test_hash_and_verify() -> None:
    encoded = hash_password("demopass")
    assert verify_password("demopass", encoded)
    assert not verify_password("demopasS", encoded)
    assert not verify_password("", encoded)
    assert hash_password("demopass") != encoded  # fresh salt each time
    assert "demopass" not in encoded


def test_format_is_self_describing() -> None:
    encoded = hash_password("pw", n=2**10, r=4, p=2)
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "4", "2")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    parsed = parse_hash(encoded)
    assert (parsed.n, parsed.r, parsed.p) == (1024, 4, 2)
    assert parsed.encode() == encoded
    assert "salt" not in repr(parsed) and salt not in repr(parsed)
    assert verify_password("pw", parsed)
    assert parse_hash(hash_password("x")).n == DEFAULT_N


def test_unicode_password() -> None:
    encoded = hash_password("pässwörd-密码")
    assert verify_password("pässwörd-密码", encoded)
    assert not verify_password("passwort", encoded)


@pytest.mark.parametrize(
    ("encoded", "problem"),
    [
        ("demopass", "scrypt$n$r$p$salt$hash"),
        ("bcrypt$1$2$3$4$5", "scrypt$n$r$p$salt$hash"),
        ("scrypt$x$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==", "integers"),
        ("scrypt$1000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==", "power of two"),
        ("scrypt$4194304$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==", "power of two"),
        ("scrypt$16384$8$1$not base64!$AAAAAAAAAAAAAAAAAAAAAA==", "base64"),
        ("scrypt$16384$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==", "salt is shorter"),
    ],
)
def test_malformed_hashes_are_refused(encoded: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("$", r"\$")):
        parse_hash(encoded)
    with pytest.raises(ValueError):
        verify_password("pw", encoded)


async def test_verify_in_a_worker_thread() -> None:
    encoded = hash_password("demopass")
    with trio.fail_after(10):
        assert await verify_password_in_thread("demopass", encoded)
        assert not await verify_password_in_thread("nope", encoded)
