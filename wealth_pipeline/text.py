"""Names a person types: no control characters, so nothing stored can drive a terminal.

An account name with ESC or BEL would be printed raw by the CLI (colours, cursor moves,
hidden text) and shipped as is by the API; bidirectional overrides make a name read
differently from what it is ("Trojan Source"). Both are refused, with the position.
"""

from __future__ import annotations

import unicodedata

# Bidirectional embeddings, overrides and isolates (Unicode TR 9).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def control_character(text: str) -> tuple[int, str] | None:
    """The first (position, character) that is a control character, or None."""
    for position, character in enumerate(text, start=1):
        category = unicodedata.category(character)
        if category in ("Cc", "Zl", "Zp") or character in BIDI_CONTROLS:
            return position, character
    return None


def check_plain(text: str, what: str) -> str:
    """`text` unchanged, or ValueError naming the control character and where it is."""
    found = control_character(text)
    if found is not None:
        position, character = found
        raise ValueError(
            f"{what} contains a control character (U+{ord(character):04X} at position "
            f"{position}): use letters, digits, spaces and punctuation"
        )
    return text
