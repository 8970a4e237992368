"""Daemon configuration: TOML files loaded into frozen, validated attrs objects.

``load_config(path, *, data_dir=None) -> Config`` is the entry point; every mistake in a file
raises :class:`ConfigError` whose message names the file, the key path (such as
``accounts[1].password_hash``) and what is wrong. Secrets (password hashes, operator
passwords, the suppression-hash secret) are hidden from ``repr``.

Modules: :mod:`.model` (the schema as attrs classes), :mod:`.values` (value types and checks),
:mod:`.schema` (the generic validator), :mod:`.loader` (files, paths, secrets, cross-section
rules), :mod:`.errors`.
"""

from smppcore.config.errors import ConfigError, ConfigErrors, SmppcoreConfigError
from smppcore.config.loader import DATA_DIR_ENV, ensure_hash_secret, load_config
from smppcore.config.model import (
    AccountConfig,
    Config,
    ConnectorConfig,
    DaemonConfig,
    KeywordSet,
    ListenerConfig,
    LoggingConfig,
    MetricsConfig,
    PolicyConfig,
    RetentionConfig,
    RouteConfig,
    SimulatorConfig,
    StoreConfig,
)
from smppcore.config.values import Cidr, HostPort, NumberPattern, RouteTarget

__all__ = [
    "DATA_DIR_ENV",
    "AccountConfig",
    "Cidr",
    "Config",
    "ConfigError",
    "ConfigErrors",
    "ConnectorConfig",
    "DaemonConfig",
    "HostPort",
    "KeywordSet",
    "ListenerConfig",
    "LoggingConfig",
    "MetricsConfig",
    "NumberPattern",
    "PolicyConfig",
    "RetentionConfig",
    "RouteConfig",
    "RouteTarget",
    "SimulatorConfig",
    "SmppcoreConfigError",
    "StoreConfig",
    "ensure_hash_secret",
    "load_config",
]
