"""Consent keywords in handset replies: STOP, START, HELP and friends.

Owns: :class:`ConsentAction` and :class:`KeywordMatcher`, which classifies the text of a
mobile-originated message. Keyword lists are configurable per locale
(:data:`DEFAULT_KEYWORDS` holds the defaults); a matcher merges the locales it is given.

Matching: the *whole* message must be a keyword once normalised — Unicode NFKD with
accents removed (so "Arrêt" matches ARRET), case-folded, leading and trailing whitespace
and punctuation stripped, inner whitespace runs collapsed to one space. So " stop ",
"Stop.", "STOP\\n" and "stop!!" are opt-outs, while "stop sending me this" is **not**:
a sentence that merely starts with a keyword is ambiguous ("stop by our store…", "end of
day?") and a false opt-out silently suppresses someone's messages. Operators who want the
looser behaviour set ``first_word=True``: then the first word alone is matched when the
whole text is not a keyword.

STOPALL is distinguished (``OPT_OUT_ALL``): the caller suppresses the handset for every
sender of the account, not just the number replied to. If a word is configured in two
lists, the first of OPT_OUT_ALL, OPT_OUT, OPT_IN, HELP wins (safe side first).
"""

from __future__ import annotations

import enum
import string
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

__all__ = ["DEFAULT_KEYWORDS", "ConsentAction", "KeywordMatcher", "LocaleKeywords", "normalise"]


class ConsentAction(enum.Enum):
    NONE = "none"
    OPT_OUT = "opt_out"
    OPT_OUT_ALL = "opt_out_all"
    OPT_IN = "opt_in"
    HELP = "help"


@attrs.frozen(slots=True)
class LocaleKeywords:
    """One locale's keyword lists (any case; normalised when a matcher is built)."""

    opt_out: frozenset[str] = frozenset()
    opt_out_all: frozenset[str] = frozenset()
    opt_in: frozenset[str] = frozenset()
    help: frozenset[str] = frozenset()


DEFAULT_KEYWORDS: Final[Mapping[str, LocaleKeywords]] = {
    "en": LocaleKeywords(
        opt_out=frozenset(
            {"STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "ARRET"}
        ),
        opt_out_all=frozenset({"STOPALL"}),
        opt_in=frozenset({"START", "UNSTOP", "YES"}),
        help=frozenset({"HELP", "INFO"}),
    ),
}

_STRIP: Final = string.whitespace + string.punctuation + "¡¿«»“”‘’…"


def normalise(text: str) -> str:
    """Fold accents and case, strip surrounding whitespace/punctuation, collapse spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().strip(_STRIP).split())


class KeywordMatcher:
    """Classify a reply's text as a consent action; built once from locale lists."""

    __slots__ = ("_first_word", "_table")

    def __init__(
        self,
        locales: Iterable[LocaleKeywords] | None = None,
        *,
        first_word: bool = False,
    ) -> None:
        if locales is None:
            locales = DEFAULT_KEYWORDS.values()
        table: dict[str, ConsentAction] = {}
        locales = list(locales)
        # Lowest priority first so the safer actions overwrite.
        for action, attr in (
            (ConsentAction.HELP, "help"),
            (ConsentAction.OPT_IN, "opt_in"),
            (ConsentAction.OPT_OUT, "opt_out"),
            (ConsentAction.OPT_OUT_ALL, "opt_out_all"),
        ):
            for loc in locales:
                for word in getattr(loc, attr):
                    key = normalise(word)
                    if key:
                        table[key] = action
        self._table = table
        self._first_word = first_word

    def classify(self, text: str) -> ConsentAction:
        """The consent action the whole message asks for, or ``NONE``."""
        key = normalise(text)
        action = self._table.get(key)
        if action is not None:
            return action
        if self._first_word and key:
            first = key.split(" ", 1)[0].strip(_STRIP)
            return self._table.get(first, ConsentAction.NONE)
        return ConsentAction.NONE
