"""Rendered plain text as Jira wants it: Atlassian Document Format for Jira Cloud (REST v3 takes
nothing else in descriptions and comments) and wiki markup for Data Center (REST v2).

Templates write plain text, so the same template reads the same on both flavours: blank lines
separate paragraphs, lines starting with "- " are bullets, URLs are links, and everything else is
shown as written (wiki's special characters are escaped, so a label like `{job="x"}` or `[firing]`
is not taken for markup)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Jira refuses a description or comment over 32,767 characters of markup; escaping can double the
# text, so the text is cut at less than half of that.
MAX_TEXT = 15_000
BULLET = "- "
_URL = re.compile(r"https?://[^\s<>\"\]\[|]+")
# Characters wiki markup gives a meaning to; a backslash makes each literal.
_WIKI_SPECIAL = re.compile(r"([\\*_+^~?\-{}\[\]|!#])")


@dataclass(frozen=True)
class Block:
    bullets: bool  # a bullet list (one item per line) or a paragraph (one line break per line)
    lines: tuple[str, ...]


def blocks(text: str) -> list[Block]:
    """The text's paragraphs and bullet lists, in order."""
    found: list[Block] = []
    current: list[str] = []
    bullets = False

    def flush() -> None:
        if current:
            found.append(Block(bullets, tuple(current)))
            current.clear()

    for line in _within_limit(text).splitlines():
        line = line.rstrip()
        if not line.strip():
            flush()
            continue
        is_bullet = line.startswith(BULLET)
        if is_bullet != bullets:
            flush()
            bullets = is_bullet
        current.append(line[len(BULLET):] if is_bullet else line)
    flush()
    return found


def _within_limit(text: str) -> str:
    """`text` whole, or its lines within MAX_TEXT and a last paragraph saying what was cut: a
    reader of the issue must not take a part for the whole."""
    if len(text) <= MAX_TEXT:
        return text
    kept = text[:MAX_TEXT].rpartition("\n")[0] or text[:MAX_TEXT]
    return f"{kept}\n\n[{len(text) - len(kept):,} more characters cut: Jira takes no more]"


def _pieces(line: str) -> list[tuple[str, bool]]:
    """(text, is_url) runs of one line."""
    pieces, start = [], 0
    for match in _URL.finditer(line):
        if match.start() > start:
            pieces.append((line[start:match.start()], False))
        pieces.append((match.group(), True))
        start = match.end()
    if start < len(line):
        pieces.append((line[start:], False))
    return pieces


def _adf_inline(line: str) -> list[dict]:
    return [{"type": "text", "text": text, "marks": [{"type": "link", "attrs": {"href": text}}]} if is_url
            else {"type": "text", "text": text} for text, is_url in _pieces(line)]


def _adf_paragraph(lines: tuple[str, ...]) -> dict:
    content: list[dict] = []
    for number, line in enumerate(lines):
        if number:
            content.append({"type": "hardBreak"})
        content.extend(_adf_inline(line))
    return {"type": "paragraph", "content": content}


def to_adf(text: str) -> dict:
    """An ADF document (version 1) of `text`; an empty text is an empty document."""
    content = []
    for block in blocks(text):
        if block.bullets:
            content.append({"type": "bulletList", "content": [
                {"type": "listItem", "content": [_adf_paragraph((line,))]} for line in block.lines]})
        else:
            content.append(_adf_paragraph(block.lines))
    return {"type": "doc", "version": 1, "content": content}


def _wiki_inline(line: str) -> str:
    return "".join(f"[{text}]" if is_url else _WIKI_SPECIAL.sub(r"\\\1", text) for text, is_url in _pieces(line))


def to_wiki(text: str) -> str:
    """`text` as Jira wiki markup: paragraphs apart by a blank line, bullets as `* `."""
    rendered = []
    for block in blocks(text):
        if block.bullets:
            rendered.append("\n".join(f"* {_wiki_inline(line)}" for line in block.lines))
        else:
            rendered.append("\n".join(_wiki_inline(line) for line in block.lines))
    return "\n\n".join(rendered)


def single_line(text: str, limit: int) -> str:
    """A summary: Jira refuses line breaks in it and more than `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "\u2026"


def adf_text(node: object) -> str:
    """The text of an ADF document (a comment as a webhook may carry it): paragraphs on lines."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    inner = "".join(adf_text(child) for child in node.get("content") or [])
    return inner + "\n" if node.get("type") in ("paragraph", "heading") else inner
