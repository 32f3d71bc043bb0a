"""Tokenizer and recursive-descent parser of the condition language; nothing is eval'd.

Grammar (keywords in any case, fields are ``name`` or ``name.sub`` in ASCII)::

    condition := or
    or        := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | "(" condition ")" | predicate
    predicate := FIELD ( OP value                      -- = == != <> < <= > >=
                       | "before" value | "after" value
                       | ["not"] "between" value "and" value
                       | ["not"] "in" "(" value ("," value)* ")"
                       | ("starts" | "ends") "with" STRING | "contains" STRING
                       | "is" ["not"] "empty"
                       | )                              -- a boolean field alone
    value     := NUMBER | STRING | DATE | "true" | "false" | "today" | INT UNIT "ago"

Strings are in double or single quotes with ``\\`` escaping the quote or the backslash;
dates are ``YYYY-MM-DD``; units are day(s), week(s), month(s), year(s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from rules.conditions.nodes import (
    DATE_UNITS,
    MAX_RELATIVE,
    And,
    Between,
    Boolean,
    Compare,
    CompareOp,
    ConditionError,
    DateUnit,
    DateValue,
    Flag,
    InList,
    IsEmpty,
    Node,
    Not,
    Number,
    Or,
    RelativeDate,
    Text,
    TextMatch,
    Value,
)

MAX_LENGTH = 4000
MAX_DEPTH = 40
"""Nesting limit of parentheses and ``not``: the parser recurses, garbage must not."""

KEYWORDS = frozenset({
    "and", "or", "not", "is", "empty", "between", "in", "starts", "ends", "with",
    "contains", "before", "after", "today", "ago", "true", "false",
    "day", "days", "week", "weeks", "month", "months", "year", "years",
})
"""Words that cannot name a field (units too: ``6 months ago`` must stay unambiguous)."""

Kind = Literal["ident", "number", "string", "date", "op", "(", ")", ",", "end"]


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "ident" else ""


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\d.])")
_NUMBER = re.compile(r"-?\d+(\.\d+)?(?![\d.])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_OP_NAMES: dict[str, CompareOp] = {"<=": "<=", ">=": ">=", "!=": "!=", "<>": "!=", "==": "=",
                                   "=": "=", "<": "<", ">": ">"}
_OPS = tuple(_OP_NAMES)  # longest first, so "<=" is not read as "<" then "="
_PUNCTUATION: dict[str, Kind] = {"(": "(", ")": ")", ",": ","}
_UNITS = {unit: unit for unit in DATE_UNITS} | {unit + "s": unit for unit in DATE_UNITS}


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"a condition is at most {MAX_LENGTH} characters")
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in "(),":
            tokens.append(Token(_PUNCTUATION[ch], ch, i))
            i += 1
        elif ch in "\"'":
            i = _string(text, i, tokens)
        elif match := _DATE.match(text, i):
            tokens.append(Token("date", match.group(), i))
            i = match.end()
        elif match := _NUMBER.match(text, i):
            tokens.append(Token("number", match.group(), i))
            i = match.end()
        elif match := _IDENT.match(text, i):
            tokens.append(Token("ident", match.group(), i))
            i = match.end()
        else:
            op = next((op for op in _OPS if text.startswith(op, i)), None)
            if op is None:
                raise ConditionError(f"unexpected character {ch!r}", i)
            tokens.append(Token("op", op, i))
            i += len(op)
    tokens.append(Token("end", "", len(text)))
    return tokens


def _string(text: str, start: int, tokens: list[Token]) -> int:
    quote_char = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in (quote_char, "\\", '"', "'"):
            out.append(text[i + 1])
            i += 2
        elif ch == quote_char:
            tokens.append(Token("string", "".join(out), start))
            return i + 1
        else:
            out.append(ch)
            i += 1
    raise ConditionError("text not closed by its quote", start)


def parse(text: str) -> Node:
    """The syntax tree of ``text``; raises ConditionError naming the position."""
    return _Parser(tokenize(text)).condition()


def parse_value(text: str) -> Value:
    """One literal on its own (``1000``, ``"20"``, ``2024-01-31``, ``6 months ago``)."""
    parser = _Parser(tokenize(text))
    value = parser.value()
    parser.expect_end()
    return value


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def at(self, kind: Kind) -> bool:
        return self.tokens[self.i].kind == kind

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def accept(self, word: str) -> bool:
        if self.tok.word == word:
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.accept(word):
            raise ConditionError(f"expected '{word}', found {_describe(self.tok)}", self.tok.pos)

    def expect_end(self) -> None:
        if not self.at("end"):
            raise ConditionError(f"unexpected {_describe(self.tok)}", self.tok.pos)

    def condition(self) -> Node:
        if self.at("end"):
            raise ConditionError("the condition is empty", self.tok.pos)
        node = self.or_()
        self.expect_end()
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.accept("or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.unary()]
        while self.accept("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"nested more than {MAX_DEPTH} deep", self.tok.pos)
        try:
            if self.accept("not"):
                return Not(self.unary())
            if self.at("("):
                self.advance()
                node = self.or_()
                if not self.at(")"):
                    raise ConditionError(f"expected ')', found {_describe(self.tok)}",
                                         self.tok.pos)
                self.advance()
                return node
            return self.predicate()
        finally:
            self.depth -= 1

    def predicate(self) -> Node:
        tok = self.tok
        if tok.kind != "ident" or tok.word in KEYWORDS:
            raise ConditionError(f"expected a field, found {_describe(tok)}", tok.pos)
        self.advance()
        name, pos = tok.text, tok.pos
        nxt = self.tok
        if nxt.kind == "op":
            self.advance()
            return Compare(name, _OP_NAMES[nxt.text], self.value(), pos)
        word = nxt.word
        if word in ("before", "after"):
            self.advance()
            return Compare(name, "<" if word == "before" else ">", self.value(), pos)
        if word == "is":
            self.advance()
            negated = self.accept("not")
            self.expect("empty")
            leaf: Node = IsEmpty(name, pos)
            return Not(leaf) if negated else leaf
        negated = False
        if word == "not" and self.tokens[self.i + 1].word in ("between", "in"):
            self.advance()
            negated = True
            word = self.tok.word
        if word == "between":
            self.advance()
            low = self.value()
            self.expect("and")
            leaf = Between(name, low, self.value(), pos)
            return Not(leaf) if negated else leaf
        if word == "in":
            self.advance()
            leaf = InList(name, self.value_list(), pos)
            return Not(leaf) if negated else leaf
        if word in ("starts", "ends"):
            self.advance()
            self.expect("with")
            return TextMatch(name, "starts with" if word == "starts" else "ends with",
                             self.text_value(), pos)
        if word == "contains":
            self.advance()
            return TextMatch(name, "contains", self.text_value(), pos)
        if nxt.kind in ("end", ")") or word in ("and", "or"):
            return Flag(name, pos)
        raise ConditionError(f"expected an operator after {name}, found {_describe(nxt)}",
                             nxt.pos, name)

    def value_list(self) -> tuple[Value, ...]:
        if not self.at("("):
            raise ConditionError(f"expected '(' after 'in', found {_describe(self.tok)}",
                                 self.tok.pos)
        self.advance()
        values = [self.value()]
        while self.at(","):
            self.advance()
            values.append(self.value())
        if not self.at(")"):
            raise ConditionError(f"expected ',' or ')', found {_describe(self.tok)}",
                                 self.tok.pos)
        self.advance()
        return tuple(values)

    def text_value(self) -> Text:
        tok = self.tok
        if tok.kind != "string":
            raise ConditionError(f"expected a quoted text, found {_describe(tok)}", tok.pos)
        self.advance()
        return Text(tok.text)

    def value(self) -> Value:
        tok = self.advance()
        if tok.kind == "string":
            return Text(tok.text)
        if tok.kind == "date":
            try:
                return DateValue(date.fromisoformat(tok.text))
            except ValueError:
                raise ConditionError(f"{tok.text} is not a date", tok.pos) from None
        if tok.kind == "number":
            unit = _UNITS.get(self.tok.word)
            if unit is not None:
                return self.relative(tok, unit)
            return Number(Decimal(tok.text))
        if tok.word in ("true", "false"):
            return Boolean(tok.word == "true")
        if tok.word == "today":
            return RelativeDate(0, "day")
        raise ConditionError(f"expected a value, found {_describe(tok)}", tok.pos)

    def relative(self, tok: Token, unit: DateUnit) -> RelativeDate:
        self.advance()
        self.expect("ago")
        if "." in tok.text or tok.text.startswith("-"):
            raise ConditionError("'ago' needs a whole number", tok.pos)
        amount = int(tok.text)
        if amount > MAX_RELATIVE:
            raise ConditionError(f"at most {MAX_RELATIVE} {unit}s ago", tok.pos)
        return RelativeDate(amount, unit)


def _describe(tok: Token) -> str:
    if tok.kind == "end":
        return "the end"
    if tok.kind == "string":
        return "a quoted text"
    return f"'{tok.text}'"
