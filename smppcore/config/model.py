"""The daemon's configuration as frozen attrs objects: one class per TOML section.

Owns the schema. Each field's TOML key is the attribute name; its annotation says the type
the loader accepts; ``metadata=check(...)`` lists per-key checks; ``repr=False`` marks secrets
(a config object can be logged or printed without leaking one). ``metadata={"base": ...}``
says what a relative path is relative to (``"config"``: the config file's directory,
``"data"``: the data dir); ``{"readable": True}`` makes the loader open the file once.
A class may define ``_problems()`` yielding ``(key, problem)`` for rules that span keys;
rules that span sections live in :mod:`smppcore.config.loader`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal

import attrs

from smppcore.config import values as v
from smppcore.config.values import ANY_NETWORK, Cidr, HostPort, NumberPattern, RouteTarget, check
from smppcore.gateway.rejection import SUPPRESSED_STATUS
from smppcore.protocol.receipt import ErrFormat, IdFormat

__all__ = [
    "AccountConfig",
    "Config",
    "ConnectorConfig",
    "DaemonConfig",
    "KeywordSet",
    "ListenerConfig",
    "LoggingConfig",
    "MetricsConfig",
    "PolicyConfig",
    "RetentionConfig",
    "RouteConfig",
    "SimulatorConfig",
    "StoreConfig",
]

BindType = Literal["transmitter", "receiver", "transceiver"]
_CONFIG_FILE = {"base": "config"}
_READABLE = {"base": "config", "readable": True}
_INTERNAL = {"internal": True}


@attrs.frozen
class DaemonConfig:
    """``drain_timeout``: seconds a SIGTERM/SIGINT gives the client listeners to answer what
    they have read and unbind (:mod:`smppcore.net.drain`) before cutting what is left."""

    data_dir: Path = attrs.field(default=Path("data"), metadata=_CONFIG_FILE)
    node_id: str = attrs.field(default="local", metadata=check(v.name))
    drain_timeout: float = attrs.field(default=10.0, metadata=check(v.positive))


@attrs.frozen
class ListenerConfig:
    """A client-facing SMPP listener. Timers are seconds."""

    name: str = attrs.field(default="default", metadata=check(v.name))
    host: str = "127.0.0.1"
    port: int = attrs.field(default=2775, metadata=check(v.port))
    tls_cert: Path | None = attrs.field(default=None, metadata=_READABLE)
    tls_key: Path | None = attrs.field(default=None, metadata=_READABLE)
    max_connections: int = attrs.field(default=1000, metadata=check(v.positive))
    session_init_timeout: float = attrs.field(default=30.0, metadata=check(v.positive))
    enquire_link_interval: float = attrs.field(default=30.0, metadata=check(v.positive))
    inactivity_timeout: float = attrs.field(default=300.0, metadata=check(v.positive))
    response_timeout: float = attrs.field(default=30.0, metadata=check(v.positive))
    window: int = attrs.field(default=10, metadata=check(v.positive))

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def _problems(self) -> Iterator[tuple[str, str]]:
        if (self.tls_cert is None) != (self.tls_key is None):
            yield (
                "tls_key" if self.tls_key is None else "tls_cert",
                ("tls_cert and tls_key must be given together"),
            )
        if self.inactivity_timeout <= self.enquire_link_interval:
            yield "inactivity_timeout", "must be longer than enquire_link_interval"


@attrs.frozen
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = attrs.field(default=9775, metadata=check(v.port))


@attrs.frozen
class LoggingConfig:
    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"


@attrs.frozen
class StoreConfig:
    """Where durable state lives, and the secret keying the suppression-list hashes.

    With neither ``hash_secret_env`` nor ``hash_secret_file`` a SQLite store uses a random
    secret generated once and kept in ``<data_dir>/hash_secret`` (fine for one daemon and the
    local demo). A Redis store is shared by several daemons, which must all use the same
    secret, so it requires one of the two settings.
    """

    backend: Literal["sqlite", "redis"] = "sqlite"
    path: Path = attrs.field(default=Path("smppcore.sqlite3"), metadata={"base": "data"})
    redis_url: str = attrs.field(default="redis://127.0.0.1:6379/0", metadata=check(v.redis_url))
    key_prefix: str = "smppcore:"
    hash_secret_env: str | None = None
    hash_secret_file: Path | None = attrs.field(default=None, metadata=_READABLE)
    #: The resolved secret (from the env var or file); ``None`` = generated in the data dir.
    hash_secret: bytes | None = attrs.field(default=None, repr=False, metadata=_INTERNAL)

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.hash_secret_env is not None and self.hash_secret_file is not None:
            yield "hash_secret_file", "give hash_secret_env or hash_secret_file, not both"


@attrs.frozen
class RetentionConfig:
    """How long each data class may be kept, in hours."""

    message_hours: float = attrs.field(default=24.0, metadata=check(v.positive))
    id_map_hours: float = attrs.field(default=24.0, metadata=check(v.positive))
    conversation_hours: float = attrs.field(default=24.0, metadata=check(v.positive))
    delivery_hours: float = attrs.field(default=72.0, metadata=check(v.positive))
    temporary_account_hours: float = attrs.field(default=24.0, metadata=check(v.positive))


def _upper(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(word.strip().upper() for word in words)


@attrs.frozen
class KeywordSet:
    """Consent keywords for one locale (matched case-insensitively on the whole reply)."""

    opt_out: tuple[str, ...] = attrs.field(
        default=(
            "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "ARRET",
        ),
        converter=_upper,
    )  # fmt: skip
    opt_in: tuple[str, ...] = attrs.field(default=("START", "UNSTOP", "YES"), converter=_upper)
    help: tuple[str, ...] = attrs.field(default=("HELP", "INFO"), converter=_upper)
    #: Sent back to the handset after an opt-out/opt-in, if set.
    confirmation_text: str | None = None

    def _problems(self) -> Iterator[tuple[str, str]]:
        seen: dict[str, str] = {}
        for key in ("opt_out", "opt_in", "help"):
            for word in getattr(self, key):
                if not word:
                    yield key, "keywords must not be empty"
                elif word in seen:
                    yield key, f"{word!r} is also listed in {seen[word]}"
                seen[word] = key


def _with_default_keywords(sets: Mapping[str, KeywordSet]) -> Mapping[str, KeywordSet]:
    return sets if "default" in sets else {"default": KeywordSet(), **sets}


@attrs.frozen
class PolicyConfig:
    """Gateway-wide submit policy.

    ``suppressed_status`` answers a submit to a recipient who opted out; it is the one truth
    the submit path uses. The default, :data:`smppcore.gateway.rejection.SUPPRESSED_STATUS`
    (0x00000401), is from the range the spec reserves for SMSC vendor-specific errors
    (0x400-0x4FF): towards its clients the gateway *is* the SMSC, a vendor code means exactly
    "recipient opted out" and nothing else, and clients treat an unknown status as a permanent
    failure (no retry), which is right. ESME_RX_R_APPN (0x66) would also stop retries, but the
    spec defines it for an ESME's deliver_sm_resp, not for an SMSC's submit_sm_resp.

    ``default_reply_account`` (optional) names the account that gets a handset reply no
    conversation or number ownership claims; without it such a reply is kept as unroutable.
    It must name a configured account (checked by the loader).

    ``keywords`` maps ``"default"`` or a country code (of the handset) to a keyword set.
    """

    default_country: str = attrs.field(default="ZA", metadata=check(v.region))
    reply_capable_types: tuple[str, ...] = attrs.field(
        default=("mobile", "fixed_line_or_mobile"), metadata=check(v.non_empty, v.number_types)
    )
    #: Countries a destination may be in; empty = any.
    destination_countries: tuple[str, ...] = attrs.field(default=(), metadata=check(v.regions))
    suppressed_status: int = attrs.field(default=SUPPRESSED_STATUS, metadata=check(v.error_status))
    default_reply_account: str | None = attrs.field(default=None, metadata=check(v.system_id))
    keywords: Mapping[str, KeywordSet] = attrs.field(
        factory=lambda: {"default": KeywordSet()},
        converter=_with_default_keywords,
        metadata=check(lambda sets: v.regions(k for k in sets if k != "default")),
    )


@attrs.frozen
class AccountConfig:
    """A wholesale client (ESME) allowed to bind to us."""

    system_id: str = attrs.field(metadata=check(v.system_id))
    password_hash: str = attrs.field(repr=False, metadata=check(v.password_hash))
    bind_types: tuple[BindType, ...] = attrs.field(
        default=("transmitter", "receiver", "transceiver"), metadata=check(v.non_empty, v.unique)
    )
    max_binds: int = attrs.field(default=4, metadata=check(v.positive))
    allowed_ips: tuple[Cidr, ...] = attrs.field(default=ANY_NETWORK, metadata=check(v.non_empty))
    throughput: float = attrs.field(default=100.0, metadata=check(v.positive))
    burst: int | None = attrs.field(default=None, metadata=check(v.positive))
    max_queued: int = attrs.field(default=10_000, metadata=check(v.positive))
    default_country: str | None = attrs.field(default=None, metadata=check(v.region))
    source_numbers: tuple[NumberPattern, ...] = ()
    temporary: bool = False
    receipt_mode: Literal["each_segment", "final"] = "final"
    #: How receipts the gateway writes itself (a message that failed or expired before an
    #: operator's receipt) give the error code in ``err:``: "decimal" (0x58 → ``088``,
    #: 0x401 → ``1025``) or "hex" (0x58 → ``058``, 0x401 → ``401``, 0x45A → ``45A``); 3 digits
    #: zero-padded where they suffice, else every digit. An operator's ``err:`` is passed on
    #: as written (see :mod:`smppcore.gateway.receipts`).
    receipt_err: ErrFormat = "decimal"
    allowed_number_types: tuple[str, ...] | None = attrs.field(
        default=None, metadata=check(v.number_types)
    )

    @property
    def effective_burst(self) -> int:
        """Token-bucket capacity: ``burst``, or one second's worth of ``throughput``."""
        return self.burst if self.burst is not None else max(1, round(self.throughput))

    def allows_ip(self, address: str) -> bool:
        return any(net.contains(address) for net in self.allowed_ips)

    def owns_source(self, number: str) -> bool:
        return any(pattern.matches(number) for pattern in self.source_numbers)


@attrs.frozen
class ConnectorConfig:
    """How we reach one operator SMSC. ``type`` names the connector plugin; ``options`` is a
    free-form table passed to it (the plugin validates it)."""

    name: str = attrs.field(metadata=check(v.name))
    hosts: tuple[HostPort, ...] = attrs.field(metadata=check(v.non_empty))
    system_id: str = attrs.field(metadata=check(v.system_id))
    type: str = attrs.field(default="smpp", metadata=check(v.name))
    #: Sent in clear to the SMSC (SMPP has no other way); prefer ``password_env``.
    password: str | None = attrs.field(default=None, repr=False)
    password_env: str | None = None
    system_type: str = attrs.field(default="", metadata=check(v.system_type))
    bind_mode: Literal["transceiver", "tx_rx"] = "transceiver"
    binds: int = attrs.field(default=1, metadata=check(v.positive))
    window: int = attrs.field(default=10, metadata=check(v.positive))
    throughput: float = attrs.field(default=50.0, metadata=check(v.positive))
    burst: int | None = attrs.field(default=None, metadata=check(v.positive))
    tls: bool = False
    tls_verify: bool = True
    tls_ca_file: Path | None = attrs.field(default=None, metadata=_READABLE)
    enquire_link_interval: float = attrs.field(default=30.0, metadata=check(v.positive))
    response_timeout: float = attrs.field(default=30.0, metadata=check(v.positive))
    reconnect_min: float = attrs.field(default=1.0, metadata=check(v.positive))
    reconnect_max: float = attrs.field(default=60.0, metadata=check(v.positive))
    transient_statuses: tuple[int, ...] = attrs.field(
        default=(0x08, 0x14, 0x58), metadata=check(v.statuses)
    )
    #: How this operator writes its message ids, which decides the forms of a receipt's id
    #: that are looked up (:func:`smppcore.protocol.receipt.receipt_id_keys`): "auto" every
    #: variant (hex or decimal, case, leading zeros); "decimal", "hex" or "uuid" the same form
    #: in the submit_sm_resp and the receipt (only case and leading zeros may differ);
    #: "hex_response_decimal_receipt" (``0A3F5C`` then ``id:0000671580``) and
    #: "decimal_response_hex_receipt" convert the receipt's id to the response's form.
    id_format: IdFormat = "auto"
    #: The zone of the dates in this operator's receipts (``submit date:``/``done date:``
    #: carry none): an IANA name ("Africa/Johannesburg") or an offset ("+02:00"). The
    #: receipts the gateway sends its clients give every date in UTC.
    dlr_timezone: str = attrs.field(default="UTC", metadata=check(v.timezone))
    #: Listen here for this operator's ``outbind`` (SMSC-initiated sessions): each accepted
    #: one is bound as a receiver on the same connection and serves its deliver_sm. The
    #: SMSC must present ``outbind_password`` (or ``$outbind_password_env``) and, when set,
    #: ``outbind_system_id``.
    outbind_listen: HostPort | None = None
    outbind_system_id: str | None = attrs.field(default=None, metadata=check(v.system_id))
    outbind_password: str | None = attrs.field(default=None, repr=False)
    outbind_password_env: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def effective_burst(self) -> int:
        return self.burst if self.burst is not None else max(1, round(self.throughput))

    @property
    def dlr_tzinfo(self) -> tzinfo:
        """``dlr_timezone`` as a :class:`~datetime.tzinfo` (the loader has checked it)."""
        return v.tzinfo_from_config(self.dlr_timezone)

    def _problems(self) -> Iterator[tuple[str, str]]:
        if (self.password is None) == (self.password_env is None):
            yield "password", "give exactly one of password or password_env"
        if self.reconnect_min > self.reconnect_max:
            yield "reconnect_min", "must not be greater than reconnect_max"
        if self.tls_ca_file is not None and not self.tls:
            yield "tls_ca_file", "is only used with tls = true"
        outbind_secrets = (self.outbind_password is not None) + (
            self.outbind_password_env is not None
        )
        if self.outbind_listen is not None and outbind_secrets != 1:
            yield "outbind_password", "give exactly one of outbind_password or outbind_password_env"
        if self.outbind_listen is None and (outbind_secrets or self.outbind_system_id):
            yield "outbind_listen", "outbind_* settings need outbind_listen"


@attrs.frozen
class RouteConfig:
    """Destination ``prefix`` (digits) or ``country`` -> connectors in failover order. With
    neither, the route is the default. ``account`` limits the route to one account."""

    connectors: tuple[RouteTarget, ...] = attrs.field(metadata=check(v.non_empty))
    prefix: str | None = None
    country: str | None = attrs.field(default=None, metadata=check(v.region))
    account: str | None = None

    @property
    def is_default(self) -> bool:
        return self.prefix is None and self.country is None

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.prefix is not None and self.country is not None:
            yield "country", "give prefix or country, not both"
        if self.prefix is not None and not (self.prefix.isdigit() and len(self.prefix) <= 15):
            yield "prefix", f"{self.prefix!r} must be 1-15 digits"
        names = [target.name for target in self.connectors]
        problem = v.unique(names)
        if problem:
            yield "connectors", problem


@attrs.frozen
class SimulatorConfig:
    """The built-in SMSC simulator (demo and tests)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = attrs.field(default=2776, metadata=check(v.port))
    control_port: int = attrs.field(default=2777, metadata=check(v.port))
    system_id: str = attrs.field(default="sim", metadata=check(v.system_id))
    password: str = attrs.field(default="simpass", repr=False)
    id_format: Literal["decimal", "hex", "uuid"] = "decimal"
    receipt_delay: float = attrs.field(default=1.0, metadata=check(v.non_negative))
    outcomes: Mapping[str, float] = attrs.field(
        factory=lambda: {"DELIVRD": 1.0}, metadata=check(v.outcomes)
    )
    receipt_form: Literal["text", "tlv", "both"] = "text"
    #: deliver_sm (receipts and replies) the simulator keeps outstanding at once, over all
    #: its receivers, and the window of each of its sessions.
    delivery_window: int = attrs.field(default=64, metadata=check(v.positive))

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.port == self.control_port:
            yield "control_port", "must differ from port"


@attrs.frozen
class Config:
    """The whole configuration. ``source`` is the file it was loaded from."""

    source: Path = attrs.field(default=Path("<defaults>"), metadata=_INTERNAL)
    daemon: DaemonConfig = attrs.field(factory=DaemonConfig)
    listeners: tuple[ListenerConfig, ...] = (ListenerConfig(),)
    metrics: MetricsConfig = attrs.field(factory=MetricsConfig)
    logging: LoggingConfig = attrs.field(factory=LoggingConfig)
    store: StoreConfig = attrs.field(factory=StoreConfig)
    retention: RetentionConfig = attrs.field(factory=RetentionConfig)
    policy: PolicyConfig = attrs.field(factory=PolicyConfig)
    accounts: tuple[AccountConfig, ...] = ()
    connectors: tuple[ConnectorConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    simulator: SimulatorConfig = attrs.field(factory=SimulatorConfig)

    def account(self, system_id: str) -> AccountConfig | None:
        return next((a for a in self.accounts if a.system_id == system_id), None)

    def connector(self, name: str) -> ConnectorConfig | None:
        return next((c for c in self.connectors if c.name == name), None)
