"""One escaping function per output kind, for every value that comes from an input (package names, labels,
member names, hosts, YAML text, captured strings): an app author chooses those, and the reader of a terminal,
a Markdown page or an HTML report must see them as text, never as commands to the medium.

    terminal_line(text)   a line on stderr/stdout: control and bidi characters shown as escapes (\\x1b, \\r,
                          \\u202e), so a crafted name cannot clear the screen, move the cursor, overwrite the
                          line before it or reverse what follows
    visible(text)         the same escapes, line breaks kept and markup left alone: for an engine that
                          escapes markup itself (the HTML report's jinja2 autoescape)
    json_text(text)       JSON text with those characters as \\u escapes (the same value)
    markdown(text)        inline Markdown text (a table cell, a list item): every character that could start
                          a block (`#`, `>`, `-`, `+`, `1.`, `=`, a line break, `\\r`) or an inline construct
                          (emphasis, links, images, code, raw HTML, entities, table pipes) is escaped
    markdown_code(text)   the inside of a `code span`: backslashes do not escape there, so backticks become
                          quotes and pipes are escaped for tables
    html(text)            element content or a quoted attribute value: html.escape with quotes, and the
                          invisible characters made visible

Writers call these on values, never on their own markup.
"""
from __future__ import annotations

import re
import unicodedata

# Characters with no visible form that change how the rest is displayed: C0/C1 controls (ESC, CR, BS, BEL),
# line/paragraph separators, and format characters, which include the bidi overrides and isolates (U+202A..E,
# U+2066..9), marks (U+200E/F, U+061C), zero-width characters and the BOM. Lone surrogates cannot be encoded.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _is_invisible(ch: str) -> bool:
    return unicodedata.category(ch) in _INVISIBLE_CATEGORIES


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _visible(text: str, keep: str = "") -> str:
    if text.isprintable() and not any(_is_invisible(ch) for ch in text):   # the common case: nothing to do
        return text
    return "".join(ch if ch in keep or not _is_invisible(ch) else _escape_char(ch) for ch in text)


def terminal_line(value: object) -> str:
    """One line for a terminal: whitespace runs (newlines included) become one space, the rest as visible()."""
    return _visible(" ".join(("" if value is None else str(value)).split()))


# Inline Markdown: backslash-escape (CommonMark allows it before any ASCII punctuation) every character that
# can start an inline construct anywhere: code, emphasis (`_` only next to a non-word character: inside a word,
# as in `device_ids`, it never emphasises), links and images (`[`, `]`), raw HTML and autolinks (`<`, `>`),
# entities (`&`), table pipes, strikethrough, math. Block constructs (`#`, `>`, `-`, `+`, `=`, `1.`) start
# only at the beginning of a line, which a value reaches only as a cell or item of its own: escaped there.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|~&$])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# (a marker only when a space or the end follows it, as in `- x`, `# x`, `1. x`; `>` always)
_LINE_START = re.compile(r"^(\s*)(>|[-+=#](?=[-+=#\s]|$)|\d{1,9}(?=[.)](?:\s|$)))")
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


def markdown(value: object) -> str:
    """Inline Markdown text showing `value` literally: no heading, list, quote, emphasis, link, image, raw
    HTML, entity or table cell boundary can come from it, and line breaks (`\\n`, `\\r`, U+2028) are spaces."""
    text = _LINE_BREAKS.sub(" ", "" if value is None else str(value))
    text = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    # `\1.` would show the backslash (digits cannot be escaped): a list number keeps its digits, loses its dot
    text = _LINE_START.sub(lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2)[0].isdigit()
                                                   else "\\" + m.group(2)), text)
    return _visible(text)


def markdown_code(value: object) -> str:
    """The inside of a Markdown code span: literal there except backticks (which would end it) and pipes
    (which GFM tables split on even inside code); line breaks become spaces."""
    text = _LINE_BREAKS.sub(" ", "" if value is None else str(value))
    return _visible(text.replace("`", "'").replace("|", "\\|"))


def code(value: object) -> str:
    """`value` as a Markdown code span, or "" for no value."""
    return f"`{markdown_code(value)}`" if value not in (None, "") else ""


_BEYOND_ASCII = re.compile("[^\x00-\x7e]")


def json_text(text: str) -> str:
    """JSON text with its invisible characters (DEL and C1 controls, which json leaves as they are; bidi
    overrides and other format characters; line separators) written as \\u escapes: the same JSON value, but a
    report printed on a terminal cannot move the cursor or reverse what follows. They stand only inside
    strings, where an escape means the same character."""
    if text.isascii() and "\x7f" not in text:
        return text
    # the distinct characters outside printable ASCII, found at C speed (set(text) visits every character):
    # one at a time, each then removed, for the few of most text (the `…` of each redacted value in a block of
    # report lines: findall would make a string of each); the rest, when there are many, all at once
    rest, beyond = text, set()
    for _ in range(16):
        if rest.isascii() and "\x7f" not in rest:   # (the pattern would take longer to tell)
            break
        found = _BEYOND_ASCII.search(rest)
        beyond.add(found.group())
        rest = rest.replace(found.group(), "")
    else:
        beyond.update(_BEYOND_ASCII.findall(rest))
    hidden = {ch for ch in beyond if ch == "\x7f" or (ord(ch) > 0x7F and _is_invisible(ch))}
    if not hidden:
        return text
    return text.translate({ord(ch): _json_escape(ch) for ch in hidden})


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000     # outside the BMP: a UTF-16 surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def visible(value: object) -> str:
    """The text with invisible characters (controls, bidi overrides, zero-width) as visible escapes, newlines and
    tabs kept, markup left alone: for writers whose own engine escapes markup (the HTML report's jinja2)."""
    return _visible("" if value is None else str(value), keep="\n\t")


def html(value: object) -> str:
    """Element content or a quoted attribute value: markup characters and quotes as entities, invisible
    characters (bidi overrides included) as visible escapes."""
    import html as _html   # here: html.entities is a large table only the HTML writers need
    return _html.escape(_visible("" if value is None else str(value)), quote=True)
