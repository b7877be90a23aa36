"""Text for XML: XML 1.0 cannot hold most control characters, even escaped, and a check
file's strings may contain them (TOML's \\u0001). They are replaced, so the JUnit file always
parses."""

from __future__ import annotations

import re

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
