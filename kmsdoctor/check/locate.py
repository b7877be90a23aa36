"""Where each table and value of a TOML document starts: line numbers for error messages.

`tomllib` gives the values but no positions, and a check-file error must name its line. This is
a small reader of *valid* TOML (tomllib has already accepted the text) that records, for every
key and array element, the line it starts on, under the same path the parsed document uses:
`("expect", 2, "principal")` is the third `[[expect]]` table's `principal`, whether it was
written in a `[[expect]]` table, as an inline table in `expect = [{…}, …]`, or as a dotted key.

It follows strings (basic, literal, multi-line, with escapes), comments, arrays and inline
tables spanning lines, so a `[[expect]]` inside a string or a comment is not taken for a header.
It never raises: on anything it does not follow it stops and returns what it has found, and the
caller falls back to the nearest enclosing path's line.
"""

from __future__ import annotations

import contextlib
import tomllib

Path = tuple[str | int, ...]

_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Stop(Exception):
    """The text is not what this reader follows; keep what was found so far."""


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[Path, int] = {}
        self.table: Path = ()
        self.array_lengths: dict[Path, int] = {}  # arrays of tables: how many elements so far

    # -- positions -------------------------------------------------------------------------

    def line_at(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def record(self, path: Path, pos: int) -> None:
        self.lines.setdefault(path, self.line_at(pos))

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def startswith(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    # -- whitespace and comments -------------------------------------------------------------

    def skip_blanks(self) -> None:
        """Spaces and tabs on this line."""
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def skip_blanks_newlines_comments(self) -> None:
        while self.pos < len(self.text):
            char = self.peek()
            if char in (" ", "\t", "\n", "\r"):
                self.pos += 1
            elif char == "#":
                self.skip_comment()
            else:
                return

    # -- keys --------------------------------------------------------------------------------

    def read_key(self) -> list[tuple[str, int]]:
        """A dotted key: each part with the position it starts at."""
        parts: list[tuple[str, int]] = []
        while True:
            self.skip_blanks()
            start = self.pos
            char = self.peek()
            if char in ('"', "'"):
                token = self.read_string()
                parts.append((_decode_string(token), start))
            else:
                while self.peek() in _BARE_KEY_CHARS and self.peek():
                    self.pos += 1
                if self.pos == start:
                    raise _Stop
                parts.append((self.text[start : self.pos], start))
            self.skip_blanks()
            if self.peek() != ".":
                return parts
            self.pos += 1

    # -- strings -----------------------------------------------------------------------------

    def read_string(self) -> str:
        """The string token at `pos` (quotes included), in any of TOML's four forms."""
        start = self.pos
        for quote in ('"""', "'''"):
            if self.startswith(quote):
                self.pos += 3
                while self.pos < len(self.text):
                    if quote == '"""' and self.peek() == "\\":
                        self.pos += 2
                        continue
                    if self.startswith(quote):
                        # Up to two quotes may sit right before the closing three.
                        self.pos += 3
                        while self.peek() == quote[0]:
                            self.pos += 1
                        return self.text[start : self.pos]
                    self.pos += 1
                raise _Stop
        quote = self.peek()
        self.pos += 1
        while self.pos < len(self.text):
            char = self.peek()
            if char == "\\" and quote == '"':
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return self.text[start : self.pos]
            if char == "\n":
                raise _Stop
            self.pos += 1
        raise _Stop

    # -- values ------------------------------------------------------------------------------

    def read_value(self, path: Path) -> None:
        self.skip_blanks()
        char = self.peek()
        if char in ('"', "'"):
            self.read_string()
        elif char == "[":
            self.read_array(path)
        elif char == "{":
            self.read_inline_table(path)
        else:
            # Numbers, booleans, dates and times: up to the end of the value.
            start = self.pos
            while self.peek() and self.peek() not in ",]}#\n\r":
                self.pos += 1
            if self.pos == start:
                raise _Stop

    def read_array(self, path: Path) -> None:
        self.pos += 1  # "["
        index = 0
        while True:
            self.skip_blanks_newlines_comments()
            if self.peek() == "]":
                self.pos += 1
                return
            if not self.peek():
                raise _Stop
            self.record((*path, index), self.pos)
            self.read_value((*path, index))
            index += 1
            self.skip_blanks_newlines_comments()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise _Stop

    def read_inline_table(self, path: Path) -> None:
        self.pos += 1  # "{"
        while True:
            self.skip_blanks_newlines_comments()
            if self.peek() == "}":
                self.pos += 1
                return
            self.read_key_value(path)
            self.skip_blanks_newlines_comments()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                raise _Stop

    def read_key_value(self, table: Path) -> None:
        parts = self.read_key()
        path = table
        for name, start in parts:
            path = (*path, name)
            self.record(path, start)
        self.skip_blanks()
        if self.peek() != "=":
            raise _Stop
        self.pos += 1
        self.read_value(path)

    # -- tables ------------------------------------------------------------------------------

    def read_header(self) -> None:
        array = self.startswith("[[")
        self.pos += 2 if array else 1
        header_start = self.pos
        parts = self.read_key()
        closing = "]]" if array else "]"
        if not self.startswith(closing):
            raise _Stop
        self.pos += len(closing)
        # A header names a path of keys; an array of tables along it stands for its last
        # element (`[[expect.x]]` after `[[expect]]` belongs to the latest `expect`).
        path: Path = ()
        names = [name for name, _ in parts]
        for depth, name in enumerate(names):
            path = (*path, name)
            last = depth == len(names) - 1
            if last and array:
                index = self.array_lengths.get(path, 0)
                self.array_lengths[path] = index + 1
                self.record(path, header_start)
                path = (*path, index)
            elif path in self.array_lengths:
                path = (*path, self.array_lengths[path] - 1)
            self.record(path, header_start)
        self.table = path

    def read_document(self) -> None:
        while True:
            self.skip_blanks_newlines_comments()
            if self.pos >= len(self.text):
                return
            if self.peek() == "[":
                self.read_header()
            else:
                self.read_key_value(self.table)
            self.skip_blanks()
            self.skip_comment()


def _decode_string(token: str) -> str:
    """A quoted key's value, escapes and all, exactly as tomllib reads it."""
    try:
        value = tomllib.loads(f"k = {token}")["k"]
    except tomllib.TOMLDecodeError as exc:
        raise _Stop from exc
    return value if isinstance(value, str) else ""


def value_lines(text: str) -> dict[Path, int]:
    """The line each key, table and array element of the TOML document `text` starts on."""
    reader = _Reader(text)
    with contextlib.suppress(_Stop, IndexError, RecursionError):
        reader.read_document()
    return reader.lines


def line_of(lines: dict[Path, int], path: Path) -> int:
    """The line of `path`, or of its nearest enclosing path that has one; 1 for none."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 1
