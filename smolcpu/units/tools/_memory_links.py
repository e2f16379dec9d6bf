"""Reading a markdown note the way Obsidian does: front matter, links, tags, headings.

The parser keeps offsets into the note's text so that a rename can rewrite a link in
place and leave every other byte alone. Code is masked first (fenced and indented blocks
found by a CommonMark parser, then inline code spans), so a ``[[link]]`` or ``#tag`` shown
as code is not one. Links in front matter values count (Obsidian's properties); tags
and headings come from the body only, plus the ``tags:`` property.

Resolution (:class:`Resolver`) follows Obsidian's rules, made deterministic:

1. a target starting with ``./`` or ``../`` is relative to the linking note's folder;
2. otherwise a vault-relative path matches exactly (``[[folder/Note]]``);
3. otherwise the target matches a note whose path ends with it at a folder boundary,
   and when several do (one name in two folders) the shortest path wins: fewest
   folders, then alphabetical — Obsidian's "shortest path when possible".

Names compare case-insensitively after Unicode NFC normalisation, and ``.md`` is
optional in a link. A target with another extension (``![[diagram.png]]``) names an
attachment file. ``[[#Heading]]`` links to its own note.

Markdown links are vault links too, as in Obsidian: ``[text](Note.md)``,
``[text](Folder/Note.md#Heading)``, ``[text](Note%20With%20Spaces.md)``,
``[text](<Note With Spaces.md>)`` and the embed ``![alt](image.png)`` resolve by the same
rules. A destination with a scheme (``https:``, ``mailto:``...) is an external link and a
bare ``#heading`` an anchor in the page; neither is a vault link. A rename writes a
markdown link back in its own form: percent-encoded or in angle brackets as it was.

A note is data from anyone who can write to the vault, so reading one is bounded: front
matter is YAML without anchors or aliases (an alias bomb or a recursive alias cannot be
written), at most :data:`MAX_FRONT_MATTER_CHARS` long and :data:`MAX_FRONT_MATTER_DEPTH`
deep, with text keys; front matter that breaks a rule is left out and the note says why
(:attr:`ParsedNote.problem`), its text still read. Every step is linear in the note's size.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import posixpath
import re
import unicodedata
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

NOTE_SUFFIX = ".md"

MAX_FRONT_MATTER_CHARS = 64 * 1024
"""Longest front matter read; Obsidian's properties are a few lines."""

MAX_FRONT_MATTER_DEPTH = 32
"""Deepest nesting of lists and mappings read in front matter."""

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]+)\]\]")
_MARKDOWN_LINK = re.compile(
    r"""(!?)\[((?:\\.|[^\[\]\\\n])*)\]\(\s*(?:<([^<>\n]*)>|([^\s()<>]+))(\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)"""
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_UNSAFE_IN_DESTINATION = re.compile(r"[\s%()<>\[\]\\]")
_BACKTICKS = re.compile(r"`+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\r?\n")
_NOT_NEWLINE = re.compile(r"[^\r\n]+")
_TAG = re.compile(r"(?<![^\s(\[{,;])#([\w/-]+)")
_BLOCK_ID = re.compile(r"(?:^|\s)\^([A-Za-z0-9-]+)[ \t]*\r?$", re.MULTILINE)


@functools.cache
def _markdown() -> MarkdownIt:
    """Block structure only (code blocks, headings): the inline pass, which this module does
    itself for links and code spans, would cost most of the time on a note full of links.
    Made on first use: markdown-it costs every command's start-up, even ``smol check``."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").disable("inline")


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    """One ``[[target#fragment|alias]]`` or ``[alias](target#fragment)`` (``!`` for an embed)
    at ``start:end`` of a note; a markdown link's text is its alias."""

    target: str
    fragment: str = ""
    alias: str | None = None
    embed: bool = False
    start: int = 0
    end: int = 0
    line: int = 1
    escaped_pipe: bool = False
    style: str = "wiki"
    """How the link is written: ``wiki`` (``[[...]]``), ``markdown`` (``[text](dest)``,
    percent-encoded where needed) or ``angle`` (``[text](<dest>)``)."""
    title: str = ""
    """A markdown link's title part as written (`` "Title"``), kept by a rewrite."""

    @property
    def key(self) -> str:
        """The folded target that resolution compares (see :func:`link_key`)."""
        return link_key(self.target)

    def render(self, target: str) -> str:
        """This link's text pointing at ``target``, keeping embed, fragment and alias."""
        fragment = f"#{self.fragment}" if self.fragment else ""
        if self.style != "wiki":
            destination = target + fragment
            if self.style == "angle":
                destination = f"<{destination}>"
            else:
                destination = _UNSAFE_IN_DESTINATION.sub(lambda m: urllib.parse.quote(m.group()), destination)
            return f"{'!' if self.embed else ''}[{self.alias or ''}]({destination}{self.title})"
        alias = "" if self.alias is None else ("\\|" if self.escaped_pipe else "|") + self.alias
        return f"{'!' if self.embed else ''}[[{target}{fragment}{alias}]]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "fragment": self.fragment,
            "alias": self.alias,
            "embed": self.embed,
            "line": self.line,
            "style": self.style,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str
    line: int


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedNote:
    """What a note says about itself and other notes."""

    frontmatter: dict[str, Any]
    links: tuple[Link, ...]
    tags: tuple[str, ...]
    headings: tuple[Heading, ...]
    blocks: tuple[str, ...]
    problem: str | None = None
    """Why the front matter was left out (it broke a rule above), or None."""


def fold(name: str) -> str:
    """A name as Obsidian compares it: NFC-normalised and case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def link_key(target: str) -> str:
    """The folded link path with ``.md`` and a leading ``/`` dropped."""
    key = fold(target.strip()).lstrip("/")
    return key[: -len(NOTE_SUFFIX)] if key.endswith(NOTE_SUFFIX) else key


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with each span blanked out, newlines kept, so offsets and lines stay put."""
    pieces = []
    position = 0
    for start, end in sorted(spans):
        start = max(start, position)
        if start >= end:
            continue
        pieces.append(text[position:start])
        pieces.append(_NOT_NEWLINE.sub(lambda match: " " * len(match.group()), text[start:end]))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _code_spans(text: str) -> list[tuple[int, int]]:
    """The contents of inline code spans, as CommonMark finds them: a run of backticks opens
    one that the next run of exactly its length closes, within one paragraph; a run that
    nothing closes is plain text. Each run is looked at once, and its closer found by
    bisection among the runs of its length: linear, where a backtracking regex is cubic
    on nested runs."""
    spans = []
    start = 0
    for end in [match.start() for match in _PARAGRAPH_BREAK.finditer(text)] + [len(text)]:
        runs = [(match.start(), match.end()) for match in _BACKTICKS.finditer(text, start, end)]
        by_length: dict[int, list[int]] = defaultdict(list)
        for index, (left, right) in enumerate(runs):
            by_length[right - left].append(index)
        index = 0
        while index < len(runs):
            left, right = runs[index]
            same = by_length[right - left]
            later = bisect.bisect_right(same, index)
            if later == len(same):
                index += 1
                continue
            closer = same[later]
            spans.append((right, runs[closer][0]))
            index = closer + 1
        start = end
    return spans


_NEWLINE = re.compile(r"\r\n?|\n")


def _line_starts(text: str) -> list[int]:
    """Where each line begins, lines ending as markdown-it ends them (``\r\n``, ``\n`` or a lone
    ``\r``), so that its line numbers index this list."""
    starts = [0]
    starts.extend(m.end() for m in _NEWLINE.finditer(text))
    return starts


class _FrontMatterLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases, nested at most :data:`MAX_FRONT_MATTER_DEPTH`
    deep: what makes YAML recursive or exponential is refused as it is read."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.YAMLError(f"anchors and aliases (&name, *name) are not allowed ({_where(event)})")
        self.depth += 1
        try:
            if self.depth > MAX_FRONT_MATTER_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_FRONT_MATTER_DEPTH} levels ({_where(event)})")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _where(event: Any) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}" if mark is not None else "front matter"


def _check_keys(value: Any) -> None:
    """Refuse keys that are not text (a date, a number): properties are named by text, and
    the index keeps front matter as JSON, whose keys are text."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise yaml.YAMLError(f"key {key} is not text (YAML reads it as {type(key).__name__}); quote it")
            _check_keys(item)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item)


def _front_matter(text: str) -> tuple[dict[str, Any], int, str | None]:
    """The parsed YAML front matter (empty if absent or broken), where the body starts, and
    why the front matter was left out (None when it was read, or there is none)."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, 0, None
    if len(match.group(1) or "") > MAX_FRONT_MATTER_CHARS:
        return {}, match.end(), f"front matter left out: longer than {MAX_FRONT_MATTER_CHARS} characters"
    try:
        data = yaml.load(match.group(1) or "", Loader=_FrontMatterLoader)  # noqa: S506 (a safe loader)
        _check_keys(data)
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        return {}, match.end(), f"front matter left out: {reason}"
    return (data if isinstance(data, dict) else {}), match.end(), None


def _links(text: str, masked: str, starts: list[int]) -> list[Link]:
    links = []
    for match in _WIKILINK.finditer(masked):
        inner = text[match.start(2) : match.end(2)]
        head, pipe, alias = inner.partition("|")
        escaped = bool(pipe) and head.endswith("\\")
        head = head[:-1] if escaped else head
        target, _, fragment = head.partition("#")
        if not target.strip() and not fragment.strip():
            continue
        line = _line_of(starts, match.start())
        links.append(
            Link(
                target=target.strip(),
                fragment=fragment.strip(),
                alias=alias if pipe else None,
                embed=bool(match.group(1)),
                start=match.start(),
                end=match.end(),
                line=line,
                escaped_pipe=escaped,
            )
        )
    return links


def _markdown_links(text: str, masked: str, starts: list[int]) -> list[Link]:
    """The ``[text](destination)`` links of ``masked`` that point into the vault."""
    links = []
    for match in _MARKDOWN_LINK.finditer(masked):
        angle = match.group(3) is not None
        written = text[match.start(3) : match.end(3)] if angle else text[match.start(4) : match.end(4)]
        if not angle:
            written = urllib.parse.unquote(written)
        target, _, fragment = written.partition("#")
        if not target.strip() or _SCHEME.match(target):
            continue
        links.append(
            Link(
                target=target.strip(),
                fragment=fragment.strip(),
                alias=text[match.start(2) : match.end(2)],
                embed=bool(match.group(1)),
                start=match.start(),
                end=match.end(),
                line=_line_of(starts, match.start()),
                style="angle" if angle else "markdown",
                title=text[match.start(5) : match.end(5)] if match.group(5) else "",
            )
        )
    return links


def _line_of(starts: list[int], offset: int) -> int:
    low, high = 0, len(starts)
    while low + 1 < high:
        middle = (low + high) // 2
        if starts[middle] <= offset:
            low = middle
        else:
            high = middle
    return low + 1


def _front_matter_tags(frontmatter: dict[str, Any]) -> list[str]:
    value = frontmatter.get("tags", frontmatter.get("tag"))
    if isinstance(value, str):
        value = re.split(r"[,\s]+", value)
    if not isinstance(value, list):
        return []
    return [str(tag).strip().lstrip("#") for tag in value if tag is not None and str(tag).strip("# ")]


def _body_tags(masked_body: str) -> list[str]:
    tags = []
    for match in _TAG.finditer(masked_body):
        tag = match.group(1).rstrip("/")
        if re.search(r"[^\d/_-]", tag):
            tags.append(tag)
    return tags


def parse_note(text: str) -> ParsedNote:
    """Parse one note's markdown; offsets in the result index into ``text``."""
    frontmatter, body_start, problem = _front_matter(text)
    body = _mask(text, [(0, body_start)])
    lines = _line_starts(text)
    code: list[tuple[int, int]] = []
    headings = []
    tokens = _markdown().parse(body)
    for index, token in enumerate(tokens):
        if token.type in ("fence", "code_block") and token.map:
            begin, end = token.map
            code.append((lines[begin], lines[end] if end < len(lines) else len(text)))
        elif token.type == "heading_open" and token.map:
            headings.append(Heading(int(token.tag[1]), tokens[index + 1].content.strip(), token.map[0] + 1))
    masked = _mask(text, code)
    masked = _mask(masked, _code_spans(masked))
    wikilinks = _links(text, masked, lines)
    outside = _mask(masked, [(link.start, link.end) for link in wikilinks])
    links = sorted([*wikilinks, *_markdown_links(text, outside, lines)], key=lambda link: link.start)
    masked_body = _mask(masked, [(0, body_start), *((link.start, link.end) for link in links)])
    tags = list(dict.fromkeys([*_front_matter_tags(frontmatter), *_body_tags(masked_body)]))
    blocks = [match.group(1) for match in _BLOCK_ID.finditer(masked_body)]
    return ParsedNote(frontmatter, tuple(links), tuple(tags), tuple(headings), tuple(blocks), problem)


class Resolver:
    """Which file of the vault a link names, by the rules in this module's docstring."""

    def __init__(self, paths: Iterable[str]) -> None:
        self._by_key: dict[str, str] = {}
        self._by_tail: dict[str, list[str]] = defaultdict(list)
        for path in sorted(paths, key=lambda p: (not p.endswith(NOTE_SUFFIX), p)):
            key = file_key(path)
            self._by_key.setdefault(key, path)
            self._by_tail[key.rpartition("/")[2]].append(path)

    def resolve(self, target: str, *, source: str) -> str | None:
        """The vault-relative path ``target`` links to from note ``source``, or None."""
        if not target.strip():
            return source
        written = unicodedata.normalize("NFC", target.strip())
        if written.startswith(("./", "../")):
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(source), written))
            return None if joined.startswith("../") else self._by_key.get(link_key(joined))
        key = link_key(written)
        if key in self._by_key:
            return self._by_key[key]
        candidates = [
            path for path in self._by_tail.get(key.rpartition("/")[2], ()) if file_key(path).endswith("/" + key)
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda path: (path.count("/"), fold(path), path))

    def shortest_link(self, path: str, *, source: str) -> str:
        """The shortest link text that resolves to ``path`` from ``source``."""
        name = path[: -len(NOTE_SUFFIX)] if path.endswith(NOTE_SUFFIX) else path
        parts = name.split("/")
        for first in range(len(parts) - 1, -1, -1):
            candidate = "/".join(parts[first:])
            if self.resolve(candidate, source=source) == path:
                return candidate
        return name


def file_key(path: str) -> str:
    """The folded key of a vault file: a note without ``.md``, an attachment as is."""
    key = fold(path)
    return key[: -len(NOTE_SUFFIX)] if key.endswith(NOTE_SUFFIX) else key


__all__ = [
    "MAX_FRONT_MATTER_CHARS",
    "MAX_FRONT_MATTER_DEPTH",
    "NOTE_SUFFIX",
    "Heading",
    "Link",
    "ParsedNote",
    "Resolver",
    "file_key",
    "fold",
    "link_key",
    "parse_note",
]
