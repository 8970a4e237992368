"""Logging: structlog set up once for the daemon, with personal data scrubbed from every line.

Owns :func:`configure_logging`, :func:`get_logger` and the :func:`redact` processor.

* ``format="json"``: one JSON object per line (production); ``"console"``: readable
  key=value lines (development).
* Every event, from structlog *and* from stdlib ``logging`` (library code, trio, redis), goes
  through one ``ProcessorFormatter`` whose chain runs :func:`redact` just before rendering, so
  no module can bypass it:

  - any run of 8-15 digits (optionally with ``+``) in any string value, nested values,
    the event text and formatted tracebacks is masked to its first and last two digits:
    ``+27600000001`` -> ``+27*******01``;
  - values of keys that carry content or secrets (``text``, ``short_message``,
    ``message_payload``, ``payload``, ``body``, ``password``, ``password_hash``, ``secret``,
    and any key ending in ``_password``/``_secret``/``_token``) become ``"[redacted]"``.

The digit rule cannot tell a phone number from a long decimal id: a 10-digit upstream message
id is masked too. That is the intended trade-off; log our own (non-numeric) ids where an id
must stay readable.

Conventions for everyone who logs:

* **No per-PDU line at INFO.** One line per session event (bind, unbind, connection lost,
  throttled start/stop), per operator-link change, per config load. PDU-level detail is
  DEBUG, and metrics count everything else.
* Log names (system_id, connector name) and ids, not numbers or text; masking is the safety
  net, not the plan.
* Use ``log = get_logger(__name__)`` at module level; ``log.info("bound", account=...)``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["REDACTED", "configure_logging", "get_logger", "mask_numbers", "redact"]

REDACTED = "[redacted]"
_MSISDN = re.compile(r"(?<![0-9])(\+?)([0-9]{8,15})(?![0-9])")
_SECRET_KEYS = frozenset(
    {
        "text",
        "short_message",
        "message_payload",
        "payload",
        "body",
        "content",
        "password",
        "password_hash",
        "secret",
        "hash_secret",
        "authorization",
    }
)
_SECRET_SUFFIXES = ("_password", "_secret", "_token")
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# Keys structlog/ProcessorFormatter use internally; they are not event data.
_INTERNAL_KEYS = frozenset({"_record", "_from_structlog"})


def _mask(match: re.Match[str]) -> str:
    plus, digits = match.group(1), match.group(2)
    return f"{plus}{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"


def mask_numbers(text: str) -> str:
    """Mask every 8-15 digit run in ``text`` to its first and last two digits."""
    return _MSISDN.sub(_mask, text)


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return mask_numbers(value)
    if isinstance(value, bool | float) or value is None:
        return value
    if isinstance(value, int):
        return mask_numbers(str(value)) if 10**7 <= abs(value) < 10**15 else value
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"  # raw PDU bodies and payloads are never logged
    if depth > 8:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {
            _scrub(k, depth + 1): REDACTED if _is_secret_key(k) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(x, depth + 1) for x in value]
    # Anything else is rendered with str()/repr() by the renderer: mask that text now.
    return mask_numbers(repr(value))


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask MSISDNs in every value, redact content and secret keys."""
    for key, value in list(event_dict.items()):
        if key in _INTERNAL_KEYS:
            continue
        event_dict[key] = REDACTED if _is_secret_key(key) else _scrub(value)
    return event_dict


class _NodeId:
    """A processor adding ``node=<node_id>`` to every event."""

    __slots__ = ("_node",)

    def __init__(self, node_id: str) -> None:
        self._node = node_id

    def __call__(self, _logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
        event.setdefault("node", self._node)
        return event


def configure_logging(
    format: str = "console",
    level: str = "info",
    *,
    stream: IO[str] | None = None,
    cache_loggers: bool = False,
    node_id: str | None = None,
) -> None:
    """Route structlog and stdlib logging through one redacting handler on ``stream``
    (default stderr). Safe to call again (tests reconfigure).

    ``cache_loggers=True`` (what ``smppcore run`` uses) freezes each logger's configuration
    at its first use: a filtered-out DEBUG call then costs ~1 us instead of ~4 us, but a
    later ``configure_logging`` no longer reaches loggers already used. Call it before
    anything logs. ``node_id`` (the daemon's ``[daemon] node_id``) is added to every line as
    ``node``, whichever module logged it, so lines from several daemons can be told apart."""
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    numeric = _LEVELS[level]
    renderer: Processor
    if format == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    elif format == "console":
        out = stream if stream is not None else sys.stderr
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty(), sort_keys=False)
    else:
        raise ValueError(f"unknown log format {format!r}")

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    pre_chain: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    if node_id is not None:
        pre_chain.append(_NodeId(node_id))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_smppcore", False):
            root.removeHandler(old)
    handler._smppcore = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *pre_chain,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=cache_loggers,
    )


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; ``name`` is usually ``__name__``."""
    return structlog.get_logger(name)
