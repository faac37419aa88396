"""Find the one-time code in a message text the way a person reading it would.

A code next to a keyword ("code", "OTP", "код", "kod", "验证码", ...) wins; otherwise the first
4-8 digit group that is not part of a phone number, an order or reference number, an amount of
money, a date or a time. When nothing qualifies the answer is None: a test waiting for a code is
better told "no code" than handed a wrong one. The word lists live in data/otp.yaml.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

WORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "otp.yaml"
MIN_DIGITS, MAX_DIGITS = 4, 8
KEYWORD_REACH = 40  # characters between a keyword and its code, at most
BEFORE_KEYWORD_PENALTY = 8  # "482913 is your code" is less usual than "your code is 482913"
CONTEXT = 16  # characters looked at before a number for a reference/phone word

# Digit runs joined by single spaces or hyphens: "482913", "482 913", "1 2 3 4", "0800 123 456".
_NUMBER = re.compile(r"\d+(?:[ \-]\d+)*")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    digits: str


def _is_ideograph(ch: str) -> bool:
    """Chinese, Japanese and Korean scripts write numbers right next to their words."""
    return "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uff00" <= ch <= "\uffef"


def _is_letter(ch: str) -> bool:
    return ch.isalpha() and not _is_ideograph(ch)


def _word_pattern(words: list[str]) -> re.Pattern[str]:
    """Whole-word alternatives; "word*" also matches longer words; CJK words match anywhere."""
    parts = []
    for word in sorted(words, key=len, reverse=True):
        prefix = word.endswith("*")
        body = re.escape(word.rstrip("*")).replace(r"\ ", r"\s+")
        if any(_is_ideograph(ch) for ch in word):
            parts.append(body)
        else:
            parts.append(rf"(?<!\w){body}" + (r"\w*" if prefix else r"(?!\w)"))
    return re.compile("|".join(parts), re.IGNORECASE)


@dataclass(frozen=True)
class _Words:
    keywords: re.Pattern[str]
    reference: re.Pattern[str]
    currency: re.Pattern[str]
    phone: re.Pattern[str]
    currency_symbols: str


@lru_cache(maxsize=1)
def _words() -> _Words:
    data = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))
    return _Words(
        keywords=_word_pattern(data["keywords"]),
        reference=_word_pattern(data["reference_words"]),
        currency=_word_pattern(data["currency_words"]),
        phone=_word_pattern(data["phone_words"]),
        currency_symbols=data["currency_symbols"],
    )


def _candidates(text: str) -> list[_Span]:
    """Digit groups that could be a code, before their context is looked at."""
    found: list[_Span] = []
    for match in _NUMBER.finditer(text):
        groups = re.split(r"[ \-]", match.group())
        digits = "".join(groups)
        if len(groups) > 1:
            if len(digits) > MAX_DIGITS:
                continue  # a phone or card number written in groups: none of its parts is a code
            sizes = {len(g) for g in groups}
            if sizes == {1} or (len(sizes) == 1 and sizes <= {2, 3, 4}):
                found.append(_Span(match.start(), match.end(), digits))  # "1 2 3 4", "482 913"
                continue
            offset = match.start()
            for group in re.finditer(r"\d+", match.group()):
                found.append(_Span(offset + group.start(), offset + group.end(), group.group()))
        else:
            found.append(_Span(match.start(), match.end(), digits))
    return [span for span in found if MIN_DIGITS <= len(span.digits) <= MAX_DIGITS]


def _is_excluded(text: str, span: _Span, words: _Words) -> bool:
    """Part of a phone number, a reference, an amount, a date or a time, or of a word."""
    before, after = text[:span.start], text[span.end:]
    last, next_ = before[-1:], after[:1]
    if _is_letter(last) or _is_letter(next_) and next_ not in words.currency_symbols:
        return True  # A1234, 1234abc: part of an identifier
    nearest_before, nearest_after = before.rstrip()[-1:], after.lstrip()[:1]
    if nearest_before and nearest_before in "+#№":
        return True  # +380..., #12345, №12345
    if re.match(r"[.,:/]\d", after) or re.search(r"\d[.,:/]$", before):
        return True  # 1,250.00 / 12:30 / 01.02.2025
    symbols = words.currency_symbols
    if (nearest_before and nearest_before in symbols) or (nearest_after and nearest_after in symbols):
        return True  # $1500, 1500 ₴
    if words.currency.match(after.lstrip()) or re.search(rf"(?:{words.currency.pattern})\s*$", before, re.I):
        return True  # 1500 UAH, EUR 1500
    window = before[-CONTEXT:]
    if re.search(rf"(?:{words.reference.pattern})[\s:#№.]*$", window, re.I):
        return True  # order 12345, заказ 12345
    return bool(words.phone.search(window))  # call 0800...


def extract_otp(text: str | None) -> str | None:
    """The one-time code a text carries, as digits only; None when there is none."""
    if not text:
        return None
    words = _words()
    spans = [span for span in _candidates(text) if not _is_excluded(text, span, words)]
    if not spans:
        return None
    keywords = [(m.start(), m.end()) for m in words.keywords.finditer(text)]
    best: tuple[int, int] | None = None
    for index, span in enumerate(spans):
        for start, end in keywords:
            if span.start >= end:
                gap = len(text[end:span.start].strip(" :.-–—=\"'«»()[]"))
            elif span.end <= start:
                gap = len(text[span.end:start].strip()) + BEFORE_KEYWORD_PENALTY
            else:
                continue
            if gap <= KEYWORD_REACH and (best is None or gap < best[0]):
                best = (gap, index)
    return spans[best[1] if best else 0].digits
