"""The shared result type of every gateway rule: a :class:`Rejection`, and its statuses.

Owns: the ``Rejection`` value (an SMPP ``command_status`` plus a short, metric-safe reason
slug) and the status constants the gateway rules answer with. The numbers are the SMPP 3.4
wire values (table 5-2 of the reference); they are repeated here as plain ``int`` constants
so the pure business rules do not depend on the codec package (a test checks they agree
with :mod:`smppcore.protocol.enums`).

Reason slugs are a small fixed vocabulary so they can be metric label values; they never
contain a number, a name or message text.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = [
    "ESME_RBINDFAIL",
    "ESME_RINVDSTADR",
    "ESME_RINVDSTNPI",
    "ESME_RINVDSTTON",
    "ESME_RINVESMCLASS",
    "ESME_RINVMSGLEN",
    "ESME_RINVPRTFLG",
    "ESME_RINVREGDLVFLG",
    "ESME_RINVSRCADR",
    "ESME_RINVSRCNPI",
    "ESME_RINVSRCTON",
    "ESME_RSYSERR",
    "ESME_RX_R_APPN",
    "NO_ROUTE_STATUS",
    "SUPPRESSED",
    "SUPPRESSED_STATUS",
    "Rejection",
]

ESME_RINVMSGLEN: Final = 0x01
ESME_RINVPRTFLG: Final = 0x06
ESME_RINVREGDLVFLG: Final = 0x07
ESME_RSYSERR: Final = 0x08
ESME_RINVSRCADR: Final = 0x0A
ESME_RINVDSTADR: Final = 0x0B
ESME_RBINDFAIL: Final = 0x0D
ESME_RINVESMCLASS: Final = 0x43
ESME_RINVSRCTON: Final = 0x48
ESME_RINVSRCNPI: Final = 0x49
ESME_RINVDSTTON: Final = 0x50
ESME_RINVDSTNPI: Final = 0x51
ESME_RX_R_APPN: Final = 0x66

#: Default status for a submit to a (sender, handset) pair the handset has opted out of.
#:
#: This is only the *default*: the status the gateway actually answers is
#: ``[policy] suppressed_status`` (:class:`smppcore.config.model.PolicyConfig`, whose
#: default is this constant and whose docstring gives the reasoning). 0x00000401 is from
#: the range SMPP 3.4 reserves for SMSC vendor-specific errors (0x400-0x4FF): towards its
#: clients the gateway *is* the SMSC, so a vendor code of ours means exactly "recipient
#: opted out"; clients treat an unknown status as a permanent failure and do not retry.
SUPPRESSED_STATUS: Final = 0x00000401

#: Status when no route (prefix, country or default) matches a destination: the
#: destination is not served for this account, a permanent per-destination condition,
#: which ``ESME_RINVDSTADR`` says precisely (``ESME_RSUBMITFAIL`` is vaguer and some
#: clients retry it).
NO_ROUTE_STATUS: Final = ESME_RINVDSTADR


@attrs.frozen(slots=True)
class Rejection:
    """A rule said no: answer the PDU with ``status``; count it under ``reason``."""

    status: int
    reason: str


#: The rejection for an opted-out pair *with the default status*. The submit path builds its
#: own from ``config.policy.suppressed_status`` (the configured truth); this value is for
#: callers and tests that have no config.
SUPPRESSED: Final = Rejection(SUPPRESSED_STATUS, "suppressed")
