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

#: Status for a submit to a (sender, handset) pair the handset has opted out of.
#:
#: We answer ``ESME_RX_R_APPN`` (0x66, "receiver rejects this message: do not retry it;
#: other messages unaffected"). It is the one standard status whose meaning is exactly
#: this case: the recipient side refused *this* message permanently, and other
#: destinations are fine. Standard clients classify it as permanent (the reference's retry
#: classification only treats 0x08/0x14/0x58 as transient), so a suppressed message is not
#: retried. A vendor code (0x400-0x4FF) was rejected because its meaning is per-SMSC:
#: clients map unknown vendor codes to "generic failure" and some of them retry those.
SUPPRESSED_STATUS: Final = ESME_RX_R_APPN

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


#: The rejection the caller returns after its suppression-list lookup says "opted out".
SUPPRESSED: Final = Rejection(SUPPRESSED_STATUS, "suppressed")
