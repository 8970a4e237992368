"""Message ids the simulator hands out in submit_sm_resp / data_sm_resp / submit_multi_resp.

Owns: :class:`MessageIds`, a generator of unique ids in one of the forms real SMSCs use:
``decimal`` (a counter, as ``"1000000001"``), ``hex`` (the same counter in lower-case hex)
or ``uuid`` (random UUID4 text).  The counter starts at a random offset so ids from two
simulator runs rarely collide, which keeps correlation bugs visible.
"""

from __future__ import annotations

import itertools
import random
import uuid
from typing import Literal

__all__ = ["IdFormat", "MessageIds"]

IdFormat = Literal["decimal", "hex", "uuid"]


class MessageIds:
    """Unique message ids in the configured ``form``; never longer than 64 characters."""

    def __init__(self, form: IdFormat = "decimal", *, rng: random.Random | None = None) -> None:
        if form not in ("decimal", "hex", "uuid"):
            raise ValueError(f"unknown id format {form!r}")
        self._rng = rng or random.Random()
        self.form: IdFormat = form
        self._counter = itertools.count(self._rng.randrange(10**9, 2 * 10**9))

    def next_id(self) -> str:
        if self.form == "uuid":
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        value = next(self._counter)
        return str(value) if self.form == "decimal" else format(value, "x")
