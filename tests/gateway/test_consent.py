"""Consent keywords table."""

from __future__ import annotations

import pytest

from smppcore.gateway.consent import ConsentAction, KeywordMatcher, LocaleKeywords

A = ConsentAction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", A.OPT_OUT),
        (" stop ", A.OPT_OUT),
        ("Stop.", A.OPT_OUT),
        ("STOP\n", A.OPT_OUT),
        ("¡stop!", A.OPT_OUT),
        ("unsubscribe", A.OPT_OUT),
        ("Cancel", A.OPT_OUT),
        ("end", A.OPT_OUT),
        ("QUIT", A.OPT_OUT),
        ("optout", A.OPT_OUT),
        ("revoke", A.OPT_OUT),
        ("ARRET", A.OPT_OUT),
        ("Arrêt", A.OPT_OUT),
        ("STOPALL", A.OPT_OUT_ALL),
        ("stop all", A.NONE),
        ("start", A.OPT_IN),
        ("UNSTOP", A.OPT_IN),
        ("Yes!", A.OPT_IN),
        ("help", A.HELP),
        ("INFO?", A.HELP),
        ("stop sending me this", A.NONE),
        ("please stop", A.NONE),
        ("", A.NONE),
        ("   ", A.NONE),
        ("stopp", A.NONE),
        ("S T O P", A.NONE),
        ("ＳＴＯＰ", A.OPT_OUT),  # fullwidth letters fold under NFKD
    ],
)
def test_default_keywords(text: str, expected: ConsentAction) -> None:
    assert KeywordMatcher().classify(text) is expected


def test_first_word_mode_is_opt_in() -> None:
    loose = KeywordMatcher(first_word=True)
    assert loose.classify("stop sending me this") is A.OPT_OUT
    assert loose.classify("Stop, please") is A.OPT_OUT
    assert loose.classify("please stop") is A.NONE


def test_locales_merge_and_safe_side_wins() -> None:
    fr = LocaleKeywords(opt_out=frozenset({"arrêter", "désabonner"}), opt_in=frozenset({"oui"}))
    clash = LocaleKeywords(opt_in=frozenset({"STOP"}))  # misconfiguration
    matcher = KeywordMatcher([fr, clash, LocaleKeywords(opt_out=frozenset({"stop"}))])
    assert matcher.classify("ARRETER") is A.OPT_OUT
    assert matcher.classify("Désabonner.") is A.OPT_OUT
    assert matcher.classify("oui") is A.OPT_IN
    assert matcher.classify("stop") is A.OPT_OUT
    assert matcher.classify("help") is A.NONE  # only the given locales count
