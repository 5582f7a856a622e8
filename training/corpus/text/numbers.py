"""Numbers as American English words, and the words an engine says for a text with digits.

Why spell numbers out: engines read digits differently, so the generator writes "forty-seven";
:func:`spoken_words` still reads digits, for text from elsewhere and for word counts.
"""

from __future__ import annotations

import re

_SMALL = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip


def spell_number(n: int) -> str:
    """American cardinal words: 47 -> "forty-seven", 1205 -> "one thousand two hundred five"."""
    if n < 0:
        return "minus " + spell_number(-n)
    if n < 20:
        return _SMALL[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_SMALL[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_SMALL[hundreds]} hundred" + (f" {spell_number(rest)}" if rest else "")
    for value, name in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= value:
            q, rest = divmod(n, value)
            return f"{spell_number(q)} {name}" + (f" {spell_number(rest)}" if rest else "")
    raise AssertionError  # unreachable


def spell_ordinal(n: int) -> str:
    """21 -> "twenty-first", 12 -> "twelfth", 40 -> "fortieth"."""
    words = spell_number(n)
    head, sep, last = words.rpartition("-") if "-" in words else words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def spell_year(year: int) -> str:
    """As Americans read years: 1987 "nineteen eighty-seven", 2005 "two thousand five", 1905
    "nineteen oh five", 2024 "twenty twenty-four"."""
    if 2000 <= year < 2010 or year % 1000 == 0 or year < 1000:
        return spell_number(year)
    head, tail = divmod(year, 100)
    if tail == 0:
        return f"{spell_number(head)} hundred"
    return f"{spell_number(head)} " + (f"oh {_SMALL[tail]}" if tail < 10 else spell_number(tail))


def spell_digits(digits: str) -> str:
    """Digit by digit, as for phone numbers and decimals: "405" -> "four zero five"."""
    return " ".join(_SMALL[int(d)] for d in digits)


_TOKEN_RE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th)?|[a-z]+(?:'[a-z]+)*")
_NUMBER_RE = re.compile(r"([\d,]+)(?:\.(\d+))?(st|nd|rd|th)?")


def spoken_words(text: str) -> list[str]:
    """The words an engine says for ``text``, lower case; digits spelled out (cardinals,
    ordinals like "3rd", decimals read "point" digit by digit)."""
    out: list[str] = []
    for token in _TOKEN_RE.findall(text.lower()):
        if token[0].isdigit():
            m = _NUMBER_RE.fullmatch(token)
            assert m is not None
            whole = int(m[1].replace(",", ""))
            words = spell_ordinal(whole) if m[3] else spell_number(whole)
            if m[2] and not m[3]:
                words += " point " + spell_digits(m[2])
            out.extend(words.replace("-", " ").split())
        else:
            out.append(token)
    return out
