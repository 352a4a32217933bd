"""Splits a CESQL expression into tokens. Keywords are case-insensitive; words are classified here,
names are validated by the parser (which knows whether a word names an attribute or a function)."""

from __future__ import annotations

from dataclasses import dataclass

from reference.cloudevents.cesql.errors import ParseError

KEYWORDS = frozenset({"AND", "OR", "XOR", "NOT", "LIKE", "IN", "EXISTS", "TRUE", "FALSE"})
OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%")  # two-character ones first
PUNCTUATION = frozenset("(),")
WHITESPACE = frozenset(" \t\r\n")
QUOTES = frozenset("'\"")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "int", "string", "name", "keyword", "op", "(", ")", ",", "end"
    text: str  # keywords upper case; strings without quotes and with escapes resolved
    position: int

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        if self.kind == "string":
            return f"string {self.text!r}"
        return repr(self.text)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in WHITESPACE:
            i += 1
        elif char in PUNCTUATION:
            tokens.append(Token(char, char, i))
            i += 1
        elif char in QUOTES:
            value, end = _string(text, i)
            tokens.append(Token("string", value, i))
            i = end
        elif char.isascii() and (char.isalnum() or char == "_"):
            end = _word_end(text, i)
            tokens.append(_word(text[i:end], i))
            i = end
        else:
            op = next((op for op in OPERATORS if text.startswith(op, i)), None)
            if op is None:
                raise ParseError(f"unexpected character {char!r}", i)
            tokens.append(Token("op", op, i))
            i += len(op)
    tokens.append(Token("end", "", len(text)))
    return tokens


def _word_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end].isascii() and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return end


def _word(word: str, position: int) -> Token:
    upper = word.upper()
    if upper in KEYWORDS:
        return Token("keyword", upper, position)
    if word.isdigit():
        return Token("int", word, position)
    return Token("name", word, position)


def _string(text: str, start: int) -> tuple[str, int]:
    """The value of the string literal opening at `start`, and the index after its closing quote.

    Only the delimiting quote can be escaped (`\\'` in '...', `\\"` in "..."); any other backslash is
    kept as written, so LIKE patterns still see their `\\%` and `\\_` escapes.
    """
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            out.append(following if following == quote else char + following)
            i += 2
            continue
        out.append(char)
        i += 1
    raise ParseError(f"string literal opened here is not closed (missing {quote})", start)
