"""The one place an MT message becomes final: :class:`Finaliser`.

Every way a message ends — an operator's final receipt (the last segment's, for a long
message), a permanent failure, expiry, too many attempts — is a :class:`Final` handed to
:meth:`Finaliser.finalise`. It builds the receipt the client asked for
(:func:`~smppcore.gateway.receipts.client_receipt`, when ``registered_delivery`` wants one for
that state; its ``err:`` is the operator's, or the message's error code written in the
account's ``receipt_err`` form) and writes the final state and that receipt in ONE store request
(:meth:`~smppcore.store.base.Store.finalise_mt`): a crash leaves both or neither. The store
leaves a message that is final already alone and drops its receipt, so a repeated final
receipt — the operator's, or ours racing theirs — reaches the client once.

Each message made final here is counted once, under its connector, in
``smppcore_receipts_total{connector, source, outcome}``: ``source`` is ``"operator"`` for a
final from its receipt(s), ``"gateway"`` for one we decided (expiry, permanent failure);
``outcome`` is the final state's ``stat`` word. A final the store found already made (a
duplicate) is not counted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from smppcore.gateway.delivery import ClientDelivery, Outgoing
from smppcore.gateway.receipts import client_receipt, wants_receipt
from smppcore.protocol.enums import MessageState
from smppcore.protocol.receipt import format_err
from smppcore.store.base import FinalResult, MtFinal, MtMessage, MtState

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway

__all__ = ["Final", "Finaliser"]


@attrs.frozen
class Final:
    """A message becoming final, and what its client's receipt says about it."""

    message: MtMessage
    state: MessageState  #: the message's final state
    error_code: int = 0  #: recorded on the message (query_sm_resp); 0 keeps the last one
    #: The receipt's ``err:`` as the operator wrote it (passed on); None: the gateway writes
    #: ``error_code`` in the account's ``receipt_err`` form (``format_err``).
    err: str | None = None
    done_at: datetime | None = None
    sub: int = 1
    dlvrd: int | None = None
    #: The state the receipt reports when it differs from the message's (a segment's receipt
    #: in ``each_segment`` mode); None: ``state``.
    receipt_state: MessageState | None = None
    #: Distinguishes this receipt's item id from the message's other receipts.
    tag: str = ""
    network_error_code: bytes | None = None
    #: Who decided: ``"operator"`` (its receipt) or ``"gateway"`` (no receipt came first).
    source: str = "operator"


class Finaliser:
    """Writes finals with their receipts; hands the receipts to client delivery."""

    def __init__(self, gateway: Gateway, delivery: ClientDelivery) -> None:
        self._gateway = gateway
        self._delivery = delivery

    def _receipt(self, final: Final, now: float) -> Outgoing | None:
        message = final.message
        state = final.receipt_state or final.state
        if not wants_receipt(message.registered_delivery, state):
            return None
        gateway = self._gateway
        err = final.err
        if err is None:
            runtime = gateway.directory.get(message.account)
            form = runtime.config.receipt_err if runtime is not None else "decimal"
            err = format_err(final.error_code, form)
        return client_receipt(
            message,
            state,
            now=now,
            expires_at=gateway.expires_at(message.account, "delivery", now),
            err=err,
            done_at=final.done_at,
            sub=final.sub,
            dlvrd=final.dlvrd,
            tag=final.tag or f"{int(state)}",
            network_error_code=final.network_error_code,
            lease=self._delivery.claim(message.account, now),
        )

    async def finalise(self, finals: Sequence[Final], now: float) -> list[FinalResult]:
        """Make each message final with its receipt (one store request for all); returns
        what happened to each, in order."""
        if not finals:
            return []
        outs = [self._receipt(f, now) for f in finals]
        entries = [
            MtFinal(
                f.message.id,
                MtState(int(f.state)),
                now,
                f.error_code,
                out.item if out is not None else None,
            )
            for f, out in zip(finals, outs, strict=True)
        ]
        results: list[FinalResult] | None = None
        try:
            results = await self._gateway.store.finalise_mt(entries)
            metrics = self._gateway.metrics
            for f, result in zip(finals, results, strict=True):
                if result is FinalResult.FINALISED:
                    metrics.connector(f.message.connector).receipt(f.source, f.state).inc()
        finally:
            for n, out in enumerate(outs):
                if out is not None:  # a failed or cancelled write may still have happened
                    queued = None if results is None else results[n] is FinalResult.FINALISED
                    self._delivery.settle(out, queued=queued)
        return results
