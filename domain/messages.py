"""Cutting a message that is too long for Telegram into parts it takes.

Every text figbot sends is Telegram HTML, and Telegram measures a message by its visible text,
after the tags and character references (``&amp;``) are parsed: at most 4096 characters. The
Bot API server counts code points there (tdlib's ``utf8_length``), while entity offsets are in
UTF-16 code units; parts are measured in UTF-16 units, never fewer than the code points, so a
part fits however it is counted. A cut never falls inside a tag or a character reference; tags
open at a cut are closed at the end of the part and opened again at the start of the next, so
each part is valid HTML on its own and keeps its formatting. A cut prefers the end of a line,
then a space, and never separates an emoji or a letter from the marks joined to it.

No library splits Telegram HTML by Telegram's measure; figbot's HTML is its own (every value is
escaped by ``bot.i18n.fmt``), so a tokenizer of tags, references and characters is enough.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

MESSAGE_LIMIT = 4096  # Telegram's limit on a message's visible text

_TOKEN = re.compile(
    r"<(?P<close>/)?(?P<tag>[A-Za-z][A-Za-z0-9-]*)[^<>]*>"
    r"|&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});"
    r"|.",
    re.DOTALL,
)
_ZWJ = "\u200d"


@dataclass(frozen=True)
class _Token:
    raw: str
    text: str  # what it shows ("" for a tag)
    tag: str | None = None  # the tag's name, for a start or end tag
    closes: bool = False

    @property
    def units(self) -> int:
        return utf16_len(self.text)

    @property
    def opens(self) -> bool:
        return self.tag is not None and not self.closes


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(text: str) -> int:
    """The UTF-16 length of what Telegram shows of the HTML ``text``."""
    return sum(token.units for token in _tokenize(text))


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        raw = match.group()
        if match["tag"] is not None:
            tokens.append(_Token(raw, "", match["tag"].lower(), bool(match["close"])))
        elif raw.startswith("&") and len(raw) > 1:
            tokens.append(_Token(raw, html.unescape(raw)))
        else:
            tokens.append(_Token(raw, raw))
    return tokens


def _glued(before: str, after: str) -> bool:
    """Whether ``after`` belongs to the character before it (a mark, a joiner, a selector, a
    skin tone): a cut between the two would break what the reader sees as one character."""
    char = after[:1]
    if not char or not before:
        return False
    code = ord(char)
    return (
        before.endswith(_ZWJ)
        or char == _ZWJ
        or unicodedata.category(char) in ("Mn", "Mc", "Me")
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or 0xE0100 <= code <= 0xE01EF
    )


def _open_after(tokens: list[_Token], start: int, end: int, open_: list[_Token]) -> list[_Token]:
    """The start tags still open after ``tokens[start:end]``, given those open at ``start``."""
    stack = list(open_)
    for token in tokens[start:end]:
        if token.tag is None:
            continue
        if token.opens:
            stack.append(token)
        elif stack and stack[-1].tag == token.tag:
            stack.pop()
    return stack


def _cut(tokens: list[_Token], start: int, limit: int) -> tuple[int, int]:
    """Where the part from ``start`` ends (exclusive) and where the next one starts."""
    units = 0
    shown = False  # anything but white space in the part so far
    line_end = space_end = None
    i = start
    while i < len(tokens):
        token = tokens[i]
        if token.text == "\n" and shown:
            line_end = i  # a line that ends here fits whole
        if units + token.units > limit:
            break
        units += token.units
        shown = shown or bool(token.text.strip())
        i += 1
        if token.text.isspace() and shown and units > limit // 2:
            space_end = i  # a cut after a space, unless it leaves a short part
    if i == len(tokens):
        return i, i
    if line_end is not None and _fits_alone(tokens, line_end + 1, limit):
        return line_end, line_end + 1  # the line break itself goes with neither part
    if space_end is not None:
        return space_end, space_end
    end = i
    # Not right after a start tag (its formatting would begin in the next part), nor between
    # a character and what is joined to it.
    while end - 1 > start and (
        tokens[end - 1].opens or _glued(_last_text(tokens, start, end), tokens[end].text)
    ):
        end -= 1
    if not any(token.text.strip() for token in tokens[start:end]):
        end = i  # nothing shown before the cut: cut where the limit is, whatever is there
    return end, end


def _fits_alone(tokens: list[_Token], start: int, limit: int) -> bool:
    """Whether the line from ``start`` fits in a part of its own (else it is cut anyway, and
    a cut before it would only add a part)."""
    units = 0
    for token in tokens[start:]:
        if token.text == "\n":
            return True
        units += token.units
        if units > limit:
            return False
    return True


def _last_text(tokens: list[_Token], start: int, end: int) -> str:
    for token in reversed(tokens[start:end]):
        if token.text:
            return token.text
    return ""


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts of the HTML ``text``, each showing at most ``limit`` UTF-16 units and each valid
    HTML on its own; one part, ``text`` itself, when it fits."""
    if limit < 2:
        raise ValueError("a part must have room for any character (2 UTF-16 units)")
    if utf16_len(text) <= limit:  # what it shows is never longer than the HTML itself
        return [text]
    tokens = _tokenize(text)
    if sum(token.units for token in tokens) <= limit:
        return [text]
    parts: list[str] = []
    start = 0
    open_: list[_Token] = []  # start tags open where the part begins
    while start < len(tokens):
        end, next_start = _cut(tokens, start, limit)
        still_open = _open_after(tokens, start, end, open_)
        body = "".join(token.raw for token in tokens[start:end])
        if any(token.text.strip() for token in tokens[start:end]):
            parts.append(
                "".join(token.raw for token in open_)
                + body
                + "".join(f"</{token.tag}>" for token in reversed(still_open))
            )
        open_ = _open_after(tokens, end, next_start, still_open)
        start = next_start
    return parts
