"""Client accounts at run time: config compiled into the rules and state the hot path uses.

Owns: :class:`AccountRuntime` (one account's compiled
:class:`~smppcore.gateway.policy.AccountRules`, its throughput
:class:`~smppcore.gateway.ratelimit.TokenBucket`, its pre-bound metrics, its retention and
receipt mode) and :class:`AccountDirectory` (``system_id`` → runtime, plus the cross-account
:class:`~smppcore.gateway.ownership.OwnershipIndex` that routes replies by number ownership).

Decisions:

* Source rules: ``default_country`` of the account, else ``[policy] default_country``;
  allowed types: the account's ``allowed_number_types``, else ``[policy] reply_capable_types``.
  Destination rules: the same default country, ``[policy] destination_countries`` (empty = any)
  and the SMS-capable types (mobile, fixed-line-or-mobile).
* ``reload`` builds a new directory from a new config and carries over the token buckets (and
  their current fill) of accounts that remain, with the new rate/burst applied, so a SIGHUP
  neither resets nor refills anyone's allowance.
* Overlapping number ownership between accounts raises
  :class:`~smppcore.gateway.ownership.OwnershipConflict`; the loader refuses such a config
  with the same index (:func:`smppcore.config.load_config`), so ``check-config``, ``run``
  and a SIGHUP reload all report it as a config error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import attrs

from smppcore.config.model import AccountConfig, Config
from smppcore.config.values import NUMBER_TYPES
from smppcore.gateway.numbers import REPLY_CAPABLE_TYPES, AddressRules
from smppcore.gateway.ownership import NumberSet, OwnershipIndex
from smppcore.gateway.policy import AccountRules
from smppcore.gateway.ratelimit import TokenBucket
from smppcore.metrics import AccountMetrics, Metrics

__all__ = ["AccountDirectory", "AccountRuntime", "build_rules", "retention_seconds"]

_HOUR = 3600.0


def _specs(account: AccountConfig) -> list[str]:
    return [str(pattern) for pattern in account.source_numbers]


def build_rules(account: AccountConfig, config: Config) -> AccountRules:
    """Compile one account's address rules and owned numbers."""
    policy = config.policy
    region = account.default_country or policy.default_country
    type_names = (
        account.allowed_number_types
        if account.allowed_number_types is not None
        else policy.reply_capable_types
    )
    source = AddressRules(
        default_region=region,
        allowed_types=frozenset(NUMBER_TYPES[name] for name in type_names),
    )
    destination = AddressRules(
        default_region=region,
        allowed_types=REPLY_CAPABLE_TYPES,
        allowed_regions=policy.destination_countries or None,
    )
    return AccountRules(
        owned=NumberSet.compile(_specs(account)), source=source, destination=destination
    )


def retention_seconds(hours: float, account: AccountConfig, config: Config) -> float:
    """``hours`` of a data class in seconds; at most ``temporary_account_hours`` for temporary
    accounts."""
    if account.temporary:
        hours = min(hours, config.retention.temporary_account_hours)
    return hours * _HOUR


@attrs.define(eq=False)
class AccountRuntime:
    """One account as the server and the return path use it."""

    config: AccountConfig
    rules: AccountRules
    bucket: TokenBucket
    metrics: AccountMetrics
    retention_seconds: float
    receipt_mode: Literal["each_segment", "final"]

    @property
    def system_id(self) -> str:
        return self.config.system_id


def _runtime(
    account: AccountConfig,
    config: Config,
    metrics: Metrics,
    now: float,
    bucket: TokenBucket | None = None,
) -> AccountRuntime:
    if bucket is None:
        bucket = TokenBucket(account.throughput, account.effective_burst, now)
    else:
        bucket.rate = float(account.throughput)
        bucket.burst = float(account.effective_burst)
        bucket.tokens(now)  # refill at the old rate up to now, then cap to the new burst
    return AccountRuntime(
        config=account,
        rules=build_rules(account, config),
        bucket=bucket,
        metrics=metrics.account(account.system_id),
        retention_seconds=retention_seconds(config.retention.message_hours, account, config),
        receipt_mode=account.receipt_mode,
    )


class AccountDirectory:
    """``system_id`` → :class:`AccountRuntime`, and number → owning account."""

    __slots__ = ("_accounts", "_metrics", "ownership")

    def __init__(
        self, accounts: dict[str, AccountRuntime], ownership: OwnershipIndex, metrics: Metrics
    ) -> None:
        self._accounts = accounts
        self.ownership = ownership
        self._metrics = metrics

    @classmethod
    def build(cls, config: Config, metrics: Metrics, now: float) -> AccountDirectory:
        return cls._build(config, metrics, now, {})

    @classmethod
    def _build(
        cls, config: Config, metrics: Metrics, now: float, buckets: dict[str, TokenBucket]
    ) -> AccountDirectory:
        accounts = {
            a.system_id: _runtime(a, config, metrics, now, buckets.get(a.system_id))
            for a in config.accounts
        }
        ownership = OwnershipIndex.build({a.system_id: _specs(a) for a in config.accounts})
        return cls(accounts, ownership, metrics)

    def reload(self, config: Config, now: float) -> AccountDirectory:
        """A new directory for ``config``, keeping the token buckets of remaining accounts."""
        buckets = {name: rt.bucket for name, rt in self._accounts.items()}
        return self._build(config, self._metrics, now, buckets)

    def get(self, system_id: str) -> AccountRuntime | None:
        return self._accounts.get(system_id)

    def owner_of(self, e164: str) -> str | None:
        """The account owning the number (E.164 digits, no ``+``), or None."""
        return self.ownership.owner_of(e164)

    def __iter__(self) -> Iterator[AccountRuntime]:
        return iter(list(self._accounts.values()))

    def __len__(self) -> int:
        return len(self._accounts)
