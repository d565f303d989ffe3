"""The one way text is folded for the callerName search, on both sides of the comparison.

Canonically equivalent text matches (an "é" typed as one code point or as "e" and a combining
accent), and case does not matter: Unicode's canonical caseless match, NFD then casefold, kept
in NFC so that a composed needle is a substring of a composed key.
"""

from __future__ import annotations

import re
import unicodedata


def search_key(text: str) -> str:
    """The folded form of `text` that stored keys and search needles are compared in."""
    if text.isascii():  # most names and every number: no accents, and casefold is lower
        return text.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


# What a phone number may be typed with: digits, spaces, and the punctuation of the common
# national and international formats. ASCII digits only: other scripts' digits are text.
_NUMBER_TEXT = re.compile(r"[0-9+().\- ]*[0-9][0-9+().\- ]*")
# A number has at most 10 digits after its country code in the formats we meet (NANP, UK).
_NATIONAL_DIGITS = 10
# Fewer digits than this are a fragment, searched as typed (a leading 0 included).
_WHOLE_NUMBER_DIGITS = 7


def number_key(text: str) -> str | None:
    """The digits that a phone number typed as `text` is found by among stored numbers, or None
    when `text` is not made only of digits and phone punctuation (`+()-. `)."""
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    digits = re.sub(r"[^0-9]", "", text)
    # Trunk (0) and international (00) prefixes are dialling, not part of the stored number.
    national = digits.lstrip("0")
    if len(national) < _WHOLE_NUMBER_DIGITS:
        return digits
    # A country code typed or left out must not stop a match: compare the last ten digits.
    return national[-_NATIONAL_DIGITS:]
