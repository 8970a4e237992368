"""Loading a config file: parse TOML, build the model, resolve paths and secrets, and check
the rules that span sections (duplicate names, route references, port clashes, numbers owned
by two accounts).

Owns :func:`load_config` and :func:`ensure_hash_secret`. The data dir is chosen in this order:
the ``data_dir`` argument (the ``--data-dir`` option), the ``SMPPCORE_DATA_DIR`` environment
variable, ``[daemon] data_dir`` in the file (relative to the file's directory), ``data`` next
to the file.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

import attrs

from smppcore.config.errors import ConfigError, each_error, raise_all
from smppcore.config.model import Config, ConnectorConfig, StoreConfig
from smppcore.config.schema import Builder, join
from smppcore.gateway.ownership import OwnershipConflict, OwnershipIndex

__all__ = ["DATA_DIR_ENV", "ensure_hash_secret", "load_config"]

DATA_DIR_ENV = "SMPPCORE_DATA_DIR"
_MIN_SECRET_BYTES = 16
_SECRET_FILE_NAME = "hash_secret"


def load_config(
    path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    check_files: bool = True,
) -> Config:
    """Load and validate ``path``. Raises :class:`ConfigError` naming file, key and problem;
    :class:`~smppcore.config.errors.ConfigErrors` when the tables or the secrets have several
    (every one found, in one run).

    ``environ`` (default ``os.environ``) supplies ``SMPPCORE_DATA_DIR`` and the variables
    named by ``password_env`` / ``hash_secret_env``. ``check_files=False`` checks a config on
    a machine without its certificates and secrets: files it names are not opened and
    secrets not found are stood in for (such a config is for checking, never for running).
    """
    env = os.environ if environ is None else environ
    file = Path(path)
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read the file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from None

    builder = Builder(file, check_files=check_files)
    try:
        config = builder.build(Config, data, "")
    except ConfigError as exc:
        # Name the missing secrets in the same run as the missing files, if the files
        # were all that stopped the build.
        errors = each_error(exc)
        try:
            lenient = Builder(file, check_files=False).build(Config, data, "")
            lenient = attrs.evolve(lenient, source=file.resolve())
            _resolve_secrets(builder, _resolve_data_dir(lenient, data_dir, env), env)
        except ConfigError as more:
            errors += each_error(more)
        raise_all(errors)
        raise
    config = attrs.evolve(config, source=file.resolve())
    config = _resolve_data_dir(config, data_dir, env)
    config = _resolve_secrets(builder, config, env, check_files=check_files)
    _check_cross_references(builder, config)
    return config


def _resolve_data_dir(
    config: Config, override: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> Config:
    if override is not None:
        chosen = Path(override).expanduser().resolve()
    elif env.get(DATA_DIR_ENV):
        chosen = Path(env[DATA_DIR_ENV]).expanduser().resolve()
    else:
        chosen = config.daemon.data_dir  # already resolved against the file's directory
        if not chosen.is_absolute():
            chosen = (config.source.parent / chosen).resolve()
    store_path = config.store.path
    if not store_path.is_absolute():
        store_path = chosen / store_path
    return attrs.evolve(
        config,
        daemon=attrs.evolve(config.daemon, data_dir=chosen),
        store=attrs.evolve(config.store, path=store_path),
    )


#: What a secret that is not there becomes with ``check_files=False`` (long enough to pass).
_STAND_IN: Final = "x" * _MIN_SECRET_BYTES


class _Secrets:
    """Reads the secrets a config names; what is missing is collected, not raised at once
    (or stood in for, when files and secrets are not being checked)."""

    def __init__(self, builder: Builder, env: Mapping[str, str], *, check: bool) -> None:
        self._builder, self._env, self._check = builder, env, check
        self.errors: list[ConfigError] = []

    def env(self, name: str, key: str) -> str:
        value = self._env.get(name)
        if value:
            return value
        if self._check:
            self.errors.append(self._builder.error(key, f"environment variable {name} is not set"))
        return _STAND_IN

    def file(self, path: Path) -> bytes:
        return path.read_bytes().strip() if self._check else _STAND_IN.encode()


def _resolve_secrets(
    builder: Builder, config: Config, env: Mapping[str, str], *, check_files: bool = True
) -> Config:
    found = _Secrets(builder, env, check=check_files)
    store = config.store
    secret: bytes | None = None
    if store.hash_secret_env is not None:
        secret = found.env(store.hash_secret_env, "store.hash_secret_env").encode()
        where = "store.hash_secret_env"
    elif store.hash_secret_file is not None:
        secret = found.file(store.hash_secret_file)
        where = "store.hash_secret_file"
    elif store.backend == "redis":
        raise builder.error(
            "store.hash_secret_env",
            "a redis store is shared by several daemons, which must use the same secret: "
            "set hash_secret_env or hash_secret_file",
        )
    if secret is not None and len(secret) < _MIN_SECRET_BYTES:
        found.errors.append(
            builder.error(where, f"the secret must be at least {_MIN_SECRET_BYTES} bytes long")
        )

    connectors: list[ConnectorConfig] = []
    for i, connector in enumerate(config.connectors):
        if connector.password_env is not None:
            key = join(join("connectors", i), "password_env")
            password = found.env(connector.password_env, key)
            connector = attrs.evolve(connector, password=password)
        if connector.outbind_password_env is not None:
            key = join(join("connectors", i), "outbind_password_env")
            secret_text = found.env(connector.outbind_password_env, key)
            connector = attrs.evolve(connector, outbind_password=secret_text)
        connectors.append(connector)
    raise_all(found.errors)
    return attrs.evolve(
        config, store=attrs.evolve(store, hash_secret=secret), connectors=tuple(connectors)
    )


def _first_duplicate(names: Iterable[str]) -> tuple[int, str] | None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            return i, name
        seen.add(name)
    return None


def _check_cross_references(builder: Builder, config: Config) -> None:
    for section, key, names in (
        ("listeners", "name", [x.name for x in config.listeners]),
        ("accounts", "system_id", [x.system_id for x in config.accounts]),
        ("connectors", "name", [x.name for x in config.connectors]),
    ):
        duplicate = _first_duplicate(names)
        if duplicate is not None:
            i, name = duplicate
            raise builder.error(join(join(section, i), key), f"{name!r} is defined twice")

    connectors = {c.name for c in config.connectors}
    accounts = {a.system_id for a in config.accounts}
    seen_routes: set[tuple[str | None, str | None, str | None]] = set()
    for i, route in enumerate(config.routes):
        where = join("routes", i)
        for j, target in enumerate(route.connectors):
            if target.name not in connectors:
                known = ", ".join(sorted(connectors)) or "none defined"
                raise builder.error(
                    join(join(where, "connectors"), j),
                    f"unknown connector {target.name!r} (connectors: {known})",
                )
        if route.account is not None and route.account not in accounts:
            raise builder.error(join(where, "account"), f"unknown account {route.account!r}")
        route_key = (route.account, route.prefix, route.country)
        if route_key in seen_routes:
            raise builder.error(where, "another route has the same account, prefix and country")
        seen_routes.add(route_key)

    _check_number_ownership(builder, config)

    reply_account = config.policy.default_reply_account
    if reply_account is not None and reply_account not in accounts:
        known = ", ".join(sorted(accounts)) or "none defined"
        raise builder.error(
            "policy.default_reply_account",
            f"unknown account {reply_account!r} (accounts: {known})",
        )

    endpoints: dict[tuple[str, int], str] = {}
    candidates = [(join(join("listeners", i), "port"), x.host, x.port)
                  for i, x in enumerate(config.listeners)]  # fmt: skip
    if config.metrics.enabled:
        candidates.append(("metrics.port", config.metrics.host, config.metrics.port))
    if config.simulator.enabled:
        candidates.append(("simulator.port", config.simulator.host, config.simulator.port))
        candidates.append(
            ("simulator.control_port", config.simulator.host, config.simulator.control_port)
        )
    for key, host, port in candidates:
        if (host, port) in endpoints:
            raise builder.error(key, f"{host}:{port} is already used by {endpoints[host, port]}")
        endpoints[host, port] = key


def _check_number_ownership(builder: Builder, config: Config) -> None:
    """No number may belong to two accounts (replies are routed by owner): the index the
    gateway routes by refuses overlaps, and names the accounts, never the numbers."""
    try:
        OwnershipIndex.build(
            {a.system_id: [str(p) for p in a.source_numbers] for a in config.accounts}
        )
    except OwnershipConflict as exc:
        index = {a.system_id: i for i, a in enumerate(config.accounts)}
        later = max(index[name] for name in exc.pairs[0])
        key = join(join("accounts", later), "source_numbers")
        raise builder.error(key, f"{exc} (a number belongs to one account at most)") from None


def ensure_hash_secret(store: StoreConfig, data_dir: Path) -> bytes:
    """The suppression-hash secret: the configured one, or the one generated for this data dir
    (created on first use in ``<data_dir>/hash_secret``, mode 0600). Losing a generated secret
    makes existing suppression entries unmatchable, so back the data dir up as a whole."""
    if store.hash_secret is not None:
        return store.hash_secret
    file = data_dir / _SECRET_FILE_NAME
    try:
        return file.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode("ascii")
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its secret
        return file.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return secret
