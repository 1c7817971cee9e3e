"""Slice expressions parsed into a small tree whose every node is an allowed filter step.

The tree is all a slice ever becomes: :mod:`~shipyard.data.splits.expression_eval`
evaluates it with fixed pandas operations, so no text from a plan reaches an
evaluator. Precedence is Python's, except that ``&`` and ``|`` bind like ``and`` and
``or`` (as in pandas queries), so ``a > 1 & b < 2`` needs no parentheses.

>>> parse("-x < 1", "Slice 's'")
Comparison(operands=(Unary(op='-', operand=Column(name='x')), Literal(value=1)), ops=('<',))
"""

from __future__ import annotations

from collections.abc import Callable

from shipyard.data.splits.expression_nodes import (
    DT_FIELDS,
    SERIES_METHODS,
    STR_METHODS,
    Argument,
    Arithmetic,
    Column,
    Comparison,
    Items,
    Literal,
    Logic,
    Method,
    Node,
    Param,
    Unary,
)
from shipyard.data.splits.expression_tokens import Token, malformed, refused, tokenize
from shipyard.errors import InvalidInput

MAX_NESTING = 32  # brackets, unary operators and method calls inside one another
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in")  # and "not in", two tokens
_LIST_HINT = "a list goes after 'in' / 'not in' (or '=='), e.g. origin in ['JFK', 'LGA']"


class _Parser:
    """Recursive descent over the tokens; every ``raise`` names what it refuses."""

    def __init__(self, text: str, subject: str) -> None:
        self.text, self.subject = text, subject
        self.tokens = tokenize(text, subject)
        self.pos = 0
        self.depth = 0

    # -- tokens -------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.text in texts

    def take(self) -> Token:
        token = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def expect(self, text: str) -> None:
        if not self.at(text):
            raise self.unexpected()
        self.take()

    def unexpected(self) -> InvalidInput:
        token = self.peek()
        if token.kind == "end":
            return malformed(self.subject, "it ends too early")
        if token.text == "=":
            return refused(self.subject, "=", "compare with '=='")
        return malformed(self.subject, f"{token.text!r} is unexpected there")

    def source(self, start: int, end: int) -> str:
        """The text of tokens ``start`` up to (not including) ``end``."""
        return self.text[self.tokens[start].start : self.tokens[max(end - 1, start)].end]

    def since(self, start: int) -> str:
        return self.source(start, self.pos)

    def plain(self, node: Node | Items, start: int) -> Node:
        """``node`` unless it is a list, which only membership tests take."""
        if isinstance(node, Items):
            raise refused(self.subject, self.since(start), _LIST_HINT)
        return node

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise malformed(self.subject, f"it nests more than {MAX_NESTING} levels deep")

    def nested(self, parse: Callable[[], Node | Items]) -> Node | Items:
        depth = self.depth
        self.deeper()
        try:
            return parse()
        finally:
            self.depth = depth

    # -- grammar, loosest binding first ---------------------------------------------------

    def level(
        self,
        ops: tuple[str, ...],
        operand: Callable[[], Node | Items],
        build: Callable[[Node, tuple[tuple[str, Node], ...]], Node],
    ) -> Node | Items:
        """``operand (op operand)*``, built into one flat node when an op is present."""
        start = self.pos
        first = operand()
        if not self.at(*ops):
            return first
        head = self.plain(first, start)
        rest: list[tuple[str, Node]] = []
        while self.at(*ops):
            op = self.take().text
            start = self.pos
            rest.append((op, self.plain(operand(), start)))
        return build(head, tuple(rest))

    def expression(self) -> Node | Items:
        return self.level(("or", "|"), self.conjunction, _logic("or"))

    def conjunction(self) -> Node | Items:
        return self.level(("and", "&"), self.negation, _logic("and"))

    def negation(self) -> Node | Items:
        if not self.at("not"):
            return self.comparison()
        self.take()
        start = self.pos
        return Unary("~", self.plain(self.nested(self.negation), start))

    def comparison(self) -> Node | Items:
        starts, operands, ops = [self.pos], [self.sum()], []
        while self.at(*_COMPARISONS) or (self.at("not") and self.peek(1).text == "in"):
            op = self.take().text
            if op == "not":
                self.take()  # in
                op = "not in"
            ops.append(op)
            starts.append(self.pos)
            operands.append(self.sum())
            self.check_pair(op, operands[-2], operands[-1], starts[-2])
        if not ops:
            return operands[0]
        return Comparison(tuple(operands), tuple(ops))

    def check_pair(self, op: str, left: Node | Items, right: Node | Items, start: int) -> None:
        lists = isinstance(left, Items) + isinstance(right, Items)
        if lists == 1 and op in ("in", "not in", "==", "!="):
            return
        if lists == 0 and op not in ("in", "not in"):
            return
        why = f"'{op}' needs a list of literals on one side" if lists == 0 else _LIST_HINT
        raise refused(self.subject, self.since(start), why)

    def sum(self) -> Node | Items:
        return self.level(("+", "-"), self.term, Arithmetic)

    def term(self) -> Node | Items:
        return self.level(("*", "/", "//", "%"), self.unary, Arithmetic)

    def unary(self) -> Node | Items:
        if not self.at("-", "+", "~"):
            return self.power()
        op = self.take().text
        start = self.pos
        operand = self.plain(self.nested(self.unary), start)
        if (
            op in ("-", "+")
            and isinstance(operand, Literal)
            and isinstance(operand.value, int | float)
            and not isinstance(operand.value, bool)
        ):  # fold -5 into a literal, so it can be a list item or a method argument
            return Literal(-operand.value if op == "-" else operand.value)
        return Unary(op, operand)

    def power(self) -> Node | Items:
        start = self.pos
        base = self.postfix()
        if not self.at("**"):
            return base
        head = self.plain(base, start)
        self.take()
        start = self.pos
        exponent = self.plain(self.nested(self.unary), start)  # right-assoc: 2 ** -x ** 2
        return Arithmetic(head, (("**", exponent),))

    def postfix(self) -> Node | Items:
        """An atom and its ``.method(...)`` / ``.str.x(...)`` / ``.dt.x`` trailers."""
        start, depth = self.pos, self.depth
        node = self.atom()
        try:
            while self.at(".", "(", "["):
                if not self.at(".") or isinstance(node, Items):
                    raise self.refuse_trailer(start)
                self.deeper()  # a method's result feeds the next: count it as nesting
                node = self.method(node, start)
            return node
        finally:
            self.depth = depth

    def method(self, node: Node, start: int) -> Node:
        self.expect(".")
        name = self.member_name()
        if name in ("str", "dt") and self.at("."):
            self.take()
            member = self.member_name()
            if name == "dt" and member in DT_FIELDS and not self.at("("):
                return Method("dt", member, node, ())
            if name == "str" and member in STR_METHODS and self.at("("):
                return Method("str", member, node, self.arguments(STR_METHODS[member], start))
        elif name in SERIES_METHODS and self.at("("):
            return Method("", name, node, self.arguments(SERIES_METHODS[name], start))
        raise self.refuse_trailer(start)

    def member_name(self) -> str:
        if self.peek().kind != "name":
            raise self.unexpected()
        return self.take().text

    def refuse_trailer(self, start: int) -> InvalidInput:
        """Refuse the chain from ``start``, named up to the end of a call or index."""
        level = 0
        while self.at("(", "[") or (level and self.peek().kind != "end"):
            token = self.take()
            if token.kind == "op" and token.text in ("(", "["):
                level += 1
            elif token.kind == "op" and token.text in (")", "]"):
                level -= 1
            if level == 0:
                break
        return refused(self.subject, self.since(start))

    def arguments(self, params: tuple[Param, ...], start: int) -> tuple[tuple[str, Argument], ...]:
        self.expect("(")
        given: list[tuple[str | None, Node | Items]] = []
        while not self.at(")"):
            key = None
            if self.peek().kind == "name" and self.peek(1).text == "=":
                key = self.take().text
                self.take()
            elif given and given[-1][0] is not None:
                raise malformed(self.subject, "a positional argument follows a keyword one")
            given.append((key, self.nested(self.expression)))
            if not self.at(","):
                break
            self.take()
        self.expect(")")
        return self.bind(params, given, start)

    def bind(
        self, params: tuple[Param, ...], given: list[tuple[str | None, Node | Items]], start: int
    ) -> tuple[tuple[str, Argument], ...]:
        """Match arguments to ``params``; each must be a literal of the right kind."""
        by_name = {p.name: p for p in params}
        bound: dict[str, Argument] = {}
        for index, (key, node) in enumerate(given):
            param = by_name.get(key) if key else (params[index] if index < len(params) else None)
            if param is None or param.name in bound:
                names = ", ".join(p.name for p in params) or "no arguments"
                raise refused(self.subject, self.since(start), f"the method takes {names}")
            if isinstance(node, Items):
                value: Argument = node.values
            elif isinstance(node, Literal):
                value = node.value
            else:
                why = "method arguments must be literals such as 5, 'JFK' or [1, 2]"
                raise refused(self.subject, self.since(start), why)
            if not param.accepts(value):
                raise refused(self.subject, self.since(start), f"{param.name} must be {param.what}")
            bound[param.name] = value
        for param in params:
            if param.required and param.name not in bound:
                raise refused(self.subject, self.since(start), f"it needs {param.name}")
        return tuple(bound.items())

    def atom(self) -> Node | Items:
        token = self.peek()
        if token.kind in ("name", "column"):
            self.take()
            return Column(str(token.value))
        if token.kind in ("number", "constant"):
            self.take()
            return Literal(token.value)
        if token.kind == "string":
            parts = []
            while self.peek().kind == "string":  # "a" "b" is "ab", as in Python
                parts.append(str(self.take().value))
            return Literal("".join(parts))
        if self.at("("):
            return self.group("(", ")")
        if self.at("["):
            return self.group("[", "]")
        raise self.unexpected()

    def group(self, opening: str, closing: str) -> Node | Items:
        """``(x)``, or a tuple ``(1, 2)`` / list ``[1, 2]`` of literals."""
        self.expect(opening)
        elements: list[tuple[Node | Items, int, int]] = []
        comma = opening == "["
        while not self.at(closing):
            start = self.pos
            elements.append((self.nested(self.expression), start, self.pos))
            if not self.at(","):
                break
            self.take()
            comma = True
        self.expect(closing)
        if not comma:
            if not elements:
                raise malformed(self.subject, "'()' holds nothing")
            return elements[0][0]
        values = []
        for node, start, end in elements:
            if not isinstance(node, Literal):
                why = "lists hold only literals such as 1, 'JFK' or None"
                raise refused(self.subject, self.source(start, end), why)
            values.append(node.value)
        return Items(tuple(values))


def _logic(op: str) -> Callable[[Node, tuple[tuple[str, Node], ...]], Node]:
    return lambda first, rest: Logic(op, (first, *(node for _, node in rest)))


def parse(text: str, subject: str) -> Node:
    """The tree of ``text``, or InvalidInput naming the first thing slices do not allow.

    ``subject`` starts every error message, e.g. ``Slice 'jfk' (origin == "JFK")``.
    """
    parser = _Parser(text, subject)
    start = parser.pos
    tree = parser.plain(parser.nested(parser.expression), start)
    if parser.peek().kind != "end":
        raise parser.unexpected()
    return tree
