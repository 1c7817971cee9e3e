"""Tokens of a slice expression: names, `quoted names`, numbers, strings, operators.

Strings follow Python's rules (quotes, triple quotes, escapes, ``r`` prefix), so a
backtick or a quote inside a string literal is only a character of that string.
Anything that cannot belong to a slice (``@var``, ``;``, ``:``, ``:=``, ``{``,
keywords such as ``lambda`` or ``import``, dunder names, f-strings, bytes) is
refused here, naming the token.

>>> [t.text for t in tokenize('`dep delay` > 15 and origin == "J`FK"', "Slice 's'")]
['`dep delay`', '>', '15', 'and', 'origin', '==', '"J`FK"', '']
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass

from shipyard.errors import InvalidInput

GRAMMAR = (
    "Slices are filters: comparisons (== != < <= > >=, in / not in a list), "
    "and/or/not (& | ~), arithmetic (+ - * / // % **), "
    "col.isna(), col.notna(), col.isin([...]), col.between(a, b), "
    "col.str.startswith('x') (endswith contains len lower upper strip), "
    "col.dt.month (year quarter day hour minute dayofweek weekday dayofyear); "
    "quote odd column names with backticks, e.g. `dep delay` > 15."
)
MAX_LENGTH = 10_000

Scalar = int | float | str | bool | None

# "and", "or", "not", "in" are operators; True/False/None are literals; soft keywords
# (match, case, type, _) stay usable as column names.
_WORD_OPERATORS = frozenset({"and", "or", "not", "in"})
_CONSTANTS: dict[str, Scalar] = {"True": True, "False": False, "None": None}
_OPERATORS = ("**", "//", "==", "!=", "<=", ">=", *"+-*/%<>()[],.=~&|")
_SPACE = re.compile(r"[ \t\r\n\f]+")
_NAME = re.compile(r"[^\W\d]\w*")
_DIGITS = r"[0-9](?:_?[0-9])*"
_NUMBER = re.compile(
    rf"0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    rf"|(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
)
_ESCAPE = re.compile(
    r"\\(?:(\n)|([\\'\"abfnrtv])|([0-7]{1,3})|x([0-9a-fA-F]{2})"
    r"|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|N\{([^}]*)\}|(.))",
    re.DOTALL,
)
_SIMPLE_ESCAPES = {
    "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b",
    "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
}  # fmt: skip
_STRING_PREFIXES = frozenset({"r", "u"})
_REFUSED_PREFIXES = frozenset({"f", "b", "t", "rb", "br", "fr", "rf", "tr", "rt"})


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is name, column, number, string, constant, op or end."""

    kind: str
    text: str  # as written
    value: Scalar  # the column name, number, decoded string or constant
    start: int
    end: int


def refused(subject: str, fragment: str, why: str = "") -> InvalidInput:
    """The error for a construct outside the grammar, naming it."""
    reason = f": {why}" if why else ""
    return InvalidInput(
        f"{subject} uses {fragment!r}, which slices do not allow{reason}.", hint=GRAMMAR
    )


def malformed(subject: str, reason: str) -> InvalidInput:
    """The error for text that is not an expression at all."""
    return InvalidInput(f"{subject} is not a valid expression: {reason}.", hint=GRAMMAR)


def _unescape(body: str, subject: str) -> str:
    def replace(match: re.Match[str]) -> str:
        newline, simple, octal, x, u, big_u, named, other = match.groups()
        if newline is not None:  # a backslash at the end of a line continues it
            return ""
        if simple is not None:
            return _SIMPLE_ESCAPES[simple]
        if octal is not None:
            return chr(int(octal, 8))
        code = x or u or big_u
        if code is not None and int(code, 16) <= 0x10FFFF:
            return chr(int(code, 16))
        if named is not None:
            try:
                return unicodedata.lookup(named)
            except KeyError:
                pass
        if other is not None and other not in "xuUN":
            return match.group(0)  # Python keeps unknown escapes as written
        raise malformed(subject, f"{match.group(0)!r} is not a valid escape in a string")

    return _ESCAPE.sub(replace, body)


def _string(text: str, start: int, prefix: str, subject: str) -> tuple[int, str]:
    """End and decoded value of the string literal whose quote follows ``prefix``."""
    quote_at = start + len(prefix)
    quote = text[quote_at]
    delimiter = quote * 3 if text.startswith(quote * 3, quote_at) else quote
    i = body_start = quote_at + len(delimiter)
    while not text.startswith(delimiter, i):
        if i >= len(text) or (text[i] == "\n" and len(delimiter) == 1):
            raise malformed(subject, f"the string at {text[start:i][:20]!r} is never closed")
        i += 2 if text[i] == "\\" else 1  # an escaped quote does not close the string
    body = text[body_start:i]
    value = body if "r" in prefix.lower() else _unescape(body, subject)
    return i + len(delimiter), value


def _number(match: re.Match[str], subject: str) -> int | float:
    written = match.group(0)
    try:
        if written[:2].lower() in ("0x", "0o", "0b") or not re.search("[.eE]", written):
            return int(written, 0)
        return float(written)
    except ValueError:  # 0123, or more digits than Python converts
        raise malformed(subject, f"{written!r} is not a valid number") from None


def _word(text: str, i: int, subject: str) -> Token:
    """A name, keyword, constant or string prefix at ``i``."""
    match = _NAME.match(text, i)
    assert match is not None
    word, end = match.group(0), match.end()
    if end < len(text) and text[end] in "'\"":
        prefix = word.lower()
        if prefix in _STRING_PREFIXES:
            end, value = _string(text, i, word, subject)
            return Token("string", text[i:end], value, i, end)
        if prefix in _REFUSED_PREFIXES:
            end, _ = _string(text, i, word, subject)
            raise refused(subject, text[i:end], "f-strings and bytes are not filters")
    if word in _WORD_OPERATORS:
        return Token("op", word, word, i, end)
    if word in _CONSTANTS:
        return Token("constant", word, _CONSTANTS[word], i, end)
    if keyword.iskeyword(word) or word.startswith("__") or not word.isidentifier():
        raise refused(subject, word)
    return Token("name", word, word, i, end)


def _token(text: str, i: int, subject: str) -> Token:
    char = text[i]
    if char == "`":
        close = text.find("`", i + 1)
        if close < 0:
            raise malformed(subject, "a backtick-quoted column name is never closed")
        if close == i + 1:
            raise malformed(subject, "`` names no column")
        return Token("column", text[i : close + 1], text[i + 1 : close], i, close + 1)
    if char in "'\"":
        end, value = _string(text, i, "", subject)
        return Token("string", text[i:end], value, i, end)
    number = _NUMBER.match(text, i)
    if number is not None:
        if number.end() < len(text) and re.match(r"[\w.]", text[number.end()]):
            bad = re.match(r"[\w.]*", text[i:])
            raise malformed(subject, f"{bad.group(0) if bad else char!r} is not a valid number")
        return Token("number", number.group(0), _number(number, subject), i, number.end())
    if _NAME.match(text, i):
        return _word(text, i, subject)
    if text.startswith(":=", i):
        raise refused(subject, ":=")
    for operator in _OPERATORS:
        if text.startswith(operator, i):
            return Token("op", operator, operator, i, i + len(operator))
    if char == "@":  # pandas reads Python variables through @name
        variable = _NAME.match(text, i + 1)
        raise refused(subject, "@" + (variable.group(0) if variable else ""))
    raise refused(subject, char)


def tokenize(text: str, subject: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token; refuses what slices cannot hold.

    ``subject`` starts every error message, e.g. ``Slice 'jfk' (origin == "JFK")``.
    """
    if len(text) > MAX_LENGTH:
        raise InvalidInput(
            f"{subject[:80]}... is {len(text):,} characters long; slices take at most "
            f"{MAX_LENGTH:,}.",
            hint="Split it into several slices, or add a column that holds the condition.",
        )
    tokens: list[Token] = []
    i = 0
    while True:
        space = _SPACE.match(text, i)
        if space is not None:
            i = space.end()
        if i >= len(text):
            tokens.append(Token("end", "", None, i, i))
            return tokens
        token = _token(text, i, subject)
        tokens.append(token)
        i = token.end
