"""Free text that reads on screen as it is stored.

Control characters (C0, DEL, C1) and the bidirectional embedding, override and isolate
characters (U+202A-U+202E, U+2066-U+2069) are refused in text fields: "Kiosk\\u202eexe.gpj"
shows as something else than it is, in the page, the CSV payment file and the audit trail.
"""

from __future__ import annotations

import re

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f" + BIDI_CONTROLS + "]")
_MULTILINE_ALLOWED = {"\n", "\r", "\t"}


def refuse_invisible_controls(text: str, *, multiline: bool = False) -> str:
    """``text`` unchanged; raises ``ValueError`` ("contains U+202E") if it holds a control or
    bidirectional-override character (line breaks and tabs are allowed where ``multiline``)."""
    for match in _CONTROL.finditer(text):
        if multiline and match.group() in _MULTILINE_ALLOWED:
            continue
        raise ValueError(f"contains the invisible control character U+{ord(match.group()):04X}")
    return text
