"""Personal-data operations: consent changes, erasure and export by MSISDN.

Owns: :func:`record_opt_out` / :func:`record_opt_in` (suppression list + audit, used by the
reply path and by ``smppcore optout``), :func:`erase_msisdn`, :func:`export_msisdn`,
:func:`list_optouts` (hashes, keyword and time only) and :func:`open_configured_store` (the
store a config names, opened without a running daemon: SQLite allows a second process).

Every consent change appends an :class:`AuditEvent` whose subject and scope are keyed hashes;
the detail names the keyword and where the change came from (``mo``, ``cli``), never a number
or message text. Retention of message data per account (a temporary account keeps it at most
``retention.temporary_account_hours``) is computed by ``Gateway.expires_at``; the purge in
the store deletes what has expired.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from smppcore.config import Config, ensure_hash_secret
from smppcore.store.base import AuditEvent, Store

__all__ = [
    "erase_msisdn",
    "export_msisdn",
    "list_optouts",
    "open_configured_store",
    "record_opt_in",
    "record_opt_out",
]


async def _audit_consent(
    store: Store, action: str, scope: str, recipient: str, now: float, detail: str
) -> None:
    """One consent audit event: subject and scope as keyed hashes, ``detail`` number-free."""
    await store.append_audit(
        AuditEvent(
            at=now,
            action=action,
            subject_hash=store.hash_msisdn(recipient),
            scope_hash=store.hash_msisdn(scope),
            detail=detail,
        )
    )


async def record_opt_out(
    store: Store, scope: str, recipient: str, keyword: str, now: float, *, source: str = "mo"
) -> bool:
    """Suppress ``recipient`` for ``scope`` (a sender number or an account name) and audit it.
    Returns True if the entry is new."""
    added = await store.add_suppression(scope, recipient, keyword, now)
    detail = f"keyword={keyword} source={source} new={int(added)}"
    await _audit_consent(store, "optout", scope, recipient, now, detail)
    return added


async def record_opt_in(
    store: Store,
    scopes: Iterable[str],
    recipient: str,
    keyword: str,
    now: float,
    *,
    source: str = "mo",
) -> int:
    """Lift every suppression of ``recipient`` for ``scopes``; one audit event per scope.
    Returns how many entries were removed."""
    removed = 0
    for scope in scopes:
        gone = await store.remove_suppression(scope, recipient)
        removed += int(gone)
        detail = f"keyword={keyword} source={source} removed={int(gone)}"
        await _audit_consent(store, "optin", scope, recipient, now, detail)
    return removed


async def erase_msisdn(store: Store, msisdn: str, now: float) -> dict[str, int]:
    """Remove every record mentioning ``msisdn`` except its hashed suppression entries (the
    store appends the audit record); returns counts per data class."""
    return await store.erase(msisdn, now)


async def export_msisdn(store: Store, msisdn: str) -> dict[str, Any]:
    """Everything held about ``msisdn``: the store's records per data class, plus the
    suppression entries and audit events that match its hash."""
    records: dict[str, Any] = dict(await store.export(msisdn))
    subject = store.hash_msisdn(msisdn)
    if "suppressions" not in records:
        records["suppressions"] = [
            {"scope_hash": s.scope_hash, "keyword": s.keyword, "created_at": s.created_at}
            for s in await store.list_suppressions()
            if s.recipient_hash == subject
        ]
    if "audit" not in records:
        records["audit"] = [
            {"at": e.at, "action": e.action, "scope_hash": e.scope_hash, "detail": e.detail}
            for e in await store.list_audit(limit=100_000)
            if e.subject_hash == subject
        ]
    return records


async def list_optouts(store: Store) -> list[dict[str, Any]]:
    """The suppression list as JSON-ready dicts: hashes, keyword and time, no numbers."""
    return [
        {
            "scope_hash": s.scope_hash,
            "recipient_hash": s.recipient_hash,
            "keyword": s.keyword,
            "created_at": s.created_at,
        }
        for s in await store.list_suppressions()
    ]


@asynccontextmanager
async def open_configured_store(config: Config) -> AsyncIterator[Store]:
    """Open the store ``config`` names (SQLite file in the data dir, or Redis)."""
    secret = ensure_hash_secret(config.store, config.daemon.data_dir)
    if config.store.backend == "redis":
        from smppcore.store.redis import open_redis_store

        async with open_redis_store(
            config.store.redis_url, hash_secret=secret, key_prefix=config.store.key_prefix
        ) as redis_store:
            yield redis_store
        return
    from smppcore.store.sqlite import open_sqlite_store

    path = config.store.path
    if not path.is_absolute():
        path = config.daemon.data_dir / path
    path.parent.mkdir(parents=True, exist_ok=True)
    async with open_sqlite_store(path, hash_secret=secret) as sqlite_store:
        yield sqlite_store
