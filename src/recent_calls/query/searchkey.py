"""The one way text is folded for the callerName search, on both sides of the comparison.

Canonically equivalent text matches (an "é" typed as one code point or as "e" and a combining
accent), and case does not matter: Unicode's canonical caseless match, NFD then casefold, kept
in NFC so that a composed needle is a substring of a composed key.
"""

from __future__ import annotations

import unicodedata


def search_key(text: str) -> str:
    """The folded form of `text` that stored keys and search needles are compared in."""
    if text.isascii():  # most names and every number: no accents, and casefold is lower
        return text.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())
