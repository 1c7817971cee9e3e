"""The search language's tokens, and the error that points at where a filter went wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from shipyard.errors import InvalidInput

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_OPERATORS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
_KEYWORDS = {"AND": "AND", "OR": "OR", "LIKE": "LIKE", "ILIKE": "LIKE", "ASC": "ASC"}
_KEYWORDS["DESC"] = "DESC"
_NAME_EXTRA = "_.-/:"
_QUOTES = "'\"`"


class SearchSyntaxError(InvalidInput):
    """A filter or order term that does not parse: where, what was expected, what was found.

    ``position`` counts characters from 0.
    """

    def __init__(self, text: str, position: int, expected: str, got: str) -> None:
        super().__init__(
            f"Cannot parse {text!r} at position {position}: expected {expected}, got {got}.",
            hint=f"Here: {text[:position]}>>>{text[position:]}",
        )
        self.text = text
        self.position = position
        self.expected = expected
        self.got = got


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is NAME, STRING, QUOTED, NUMBER, OP, LIKE, AND, OR, ASC, DESC,
    a parenthesis, or END; ``value`` is a string's content or a number's value."""

    kind: str
    text: str
    value: str | float | None
    position: int
    end: int

    @property
    def shown(self) -> str:
        return "the end" if self.kind == "END" else repr(self.text)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an END token.

    >>> [t.kind for t in tokenize("metrics.auc >= .5 AND tags.`a b` LIKE 'x%'")]
    ['NAME', 'OP', 'NUMBER', 'AND', 'NAME', 'QUOTED', 'LIKE', 'STRING', 'END']
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(Token(char, char, None, i, i + 1))
            i += 1
        elif char in _QUOTES:
            tokens.append(_quoted(text, i))
            i = tokens[-1].end
        elif (number := _NUMBER.match(text, i)) is not None:
            tokens.append(Token("NUMBER", number.group(), float(number.group()), i, number.end()))
            i = number.end()
        elif char.isalpha() or char == "_":
            end = i + 1
            while end < n and (text[end].isalnum() or text[end] in _NAME_EXTRA):
                end += 1
            word = text[i:end]
            tokens.append(Token(_KEYWORDS.get(word.upper(), "NAME"), word, None, i, end))
            i = end
        else:
            op = next((op for op in _OPERATORS if text.startswith(op, i)), None)
            if op is None:
                raise SearchSyntaxError(
                    text, i, "a key, an operator, a value, AND, OR or a parenthesis", repr(char)
                )
            tokens.append(Token("OP", op, None, i, i + len(op)))
            i += len(op)
    tokens.append(Token("END", "", None, n, n))
    return tokens


def _quoted(text: str, start: int) -> Token:
    """A quoted string or key; a doubled quote stands for itself."""
    quote = text[start]
    parts, i = [], start + 1
    while True:
        close = text.find(quote, i)
        if close < 0:
            raise SearchSyntaxError(
                text, start, f"a closing {quote} for the text that starts here", "the end"
            )
        if text.startswith(quote * 2, close):
            parts.append(text[i : close + 1])
            i = close + 2
            continue
        parts.append(text[i:close])
        kind = "QUOTED" if quote == "`" else "STRING"
        return Token(kind, text[start : close + 1], "".join(parts), start, close + 1)


def time_value(text: str, token: Token) -> datetime:
    """A time literal: epoch seconds, or an ISO 8601 string (UTC unless it says otherwise)."""
    try:
        if token.kind == "NUMBER":
            return datetime.fromtimestamp(float(token.value or 0), UTC)
        moment = datetime.fromisoformat(str(token.value))
    except (ValueError, OverflowError, OSError):
        moment = None
    if moment is None:
        raise SearchSyntaxError(
            text,
            token.position,
            "a time such as '2026-11-27T10:00:00Z' or epoch seconds",
            token.shown,
        )
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
