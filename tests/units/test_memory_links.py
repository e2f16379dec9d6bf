"""The Obsidian markdown reader: link forms, code that hides links, tags, and resolution."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from smolcpu.units.tools._memory_links import Link, Resolver, parse_note

EVERY_FORM = """\
---
tags: [hub, Projects/Smol]
status: draft
related: "[[Props Link]]"
---
# Home
Plain [[Ideas]], aliased [[Ideas|my ideas]], heading [[Ideas#Big ones]],
block [[Ideas#^b1]], embed ![[Ideas]], both [[Ideas#Big ones|the big ones]],
nested heading [[Ideas#Sub#Subsub]], suffix [[Ideas.md]], path [[Archive/Ideas]],
self [[#Home]], spaced [[ Ideas | padded ]].

| col | link |
| --- | --- |
| a | [[Ideas\\|in a table]] |
"""


def _forms(text: str) -> list[tuple[str, str, str | None, bool]]:
    return [(link.target, link.fragment, link.alias, link.embed) for link in parse_note(text).links]


def test_every_link_form() -> None:
    assert _forms(EVERY_FORM) == [
        ("Props Link", "", None, False),
        ("Ideas", "", None, False),
        ("Ideas", "", "my ideas", False),
        ("Ideas", "Big ones", None, False),
        ("Ideas", "^b1", None, False),
        ("Ideas", "", None, True),
        ("Ideas", "Big ones", "the big ones", False),
        ("Ideas", "Sub#Subsub", None, False),
        ("Ideas.md", "", None, False),
        ("Archive/Ideas", "", None, False),
        ("", "Home", None, False),
        ("Ideas", "", " padded ", False),
        ("Ideas", "", "in a table", False),
    ]


def test_offsets_point_at_the_link_text_and_render_gives_it_back() -> None:
    parsed = parse_note(EVERY_FORM)
    for link in parsed.links:
        written = EVERY_FORM[link.start : link.end]
        assert written.startswith(("[[", "![[")) and written.endswith("]]")
        if link.target == link.target.strip() and not written.startswith("[[ "):
            assert link.render(link.target) == written
    lines = EVERY_FORM.split("\n")
    assert all(EVERY_FORM[link.start : link.end] in lines[link.line - 1] for link in parsed.links)


def test_links_in_code_are_not_links() -> None:
    text = """\
Real [[One]]. Inline `[[Not1]]` and ``[[Not2 `x` ]]`` and `a` [[Two]] `b`.

```python
x = "[[Not3]]"
```

~~~
[[Not4]]
~~~

    [[Not5]] indented code

- list item
    [[Three]] is a list continuation, not code

        [[Not6]] is code inside the list

> ```
> [[Not7]]
> ```

```
[[Not8]] in a fence that never closes
"""
    assert [link.target for link in parse_note(text).links] == ["One", "Two", "Three"]


def test_inline_code_does_not_span_paragraphs() -> None:
    text = "a lone ` backtick\n\n[[Kept]] and `x`\n"
    assert [link.target for link in parse_note(text).links] == ["Kept"]


def test_tags_from_body_and_front_matter() -> None:
    text = """\
---
tags: [hub, "#Projects/Smol"]
---
# Heading is not a tag
## Sub #inheading
Body #home #nested/tag/deep/ #123 #y2024 word#not [[Ideas#NotATag]] (#paren)
http://example.com/#fragment `#incode` #home

```
#infence
```
"""
    parsed = parse_note(text)
    assert parsed.tags == ("hub", "Projects/Smol", "inheading", "home", "nested/tag/deep", "y2024", "paren")


def test_front_matter_as_comma_string_and_broken_yaml() -> None:
    assert parse_note("---\ntags: a, b c\n---\nbody\n").tags == ("a", "b", "c")
    broken = parse_note("---\ntags: [unclosed\n---\n[[Still]] #works\n")
    assert broken.frontmatter == {}
    assert [link.target for link in broken.links] == ["Still"]
    assert broken.tags == ("works",)
    not_front_matter = parse_note("text\n---\ntags: [x]\n---\n")
    assert not_front_matter.frontmatter == {} and "x" not in not_front_matter.tags


def test_headings_and_block_ids() -> None:
    parsed = parse_note("# One\ntext ^para-1\n\nSetext\n===\n```\n# not a heading ^nope\n```\n### Three\n")
    assert [(h.level, h.text, h.line) for h in parsed.headings] == [(1, "One", 1), (1, "Setext", 4), (3, "Three", 9)]
    assert parsed.blocks == ("para-1",)


PATHS = [
    "Ideas.md",
    "Archive/Ideas.md",
    "x/Topic.md",
    "y/z/Topic.md",
    "Projects/Smol/Plan.md",
    "Projects/Smol/Notes.md",
    "Projects/Readme.md",
    "Über.md",
    "diagram.png",
    "assets/diagram.png",
]


def test_resolution_rules() -> None:
    resolver = Resolver(PATHS)
    source = "Projects/Smol/Plan.md"
    cases = {
        "Ideas": "Ideas.md",
        "ideas": "Ideas.md",
        "IDEAS.md": "Ideas.md",
        "Archive/Ideas": "Archive/Ideas.md",
        "archive/ideas.md": "Archive/Ideas.md",
        "/Archive/Ideas": "Archive/Ideas.md",
        "Topic": "x/Topic.md",
        "z/Topic": "y/z/Topic.md",
        "y/z/Topic": "y/z/Topic.md",
        "Smol/Plan": "Projects/Smol/Plan.md",
        "./Notes": "Projects/Smol/Notes.md",
        "../Readme": "Projects/Readme.md",
        "../../Ideas": "Ideas.md",
        "../../../Ideas": None,
        "./Ideas": None,
        "über": "Über.md",
        unicodedata.normalize("NFD", "Über"): "Über.md",
        "diagram.png": "diagram.png",
        "assets/diagram.png": "assets/diagram.png",
        "diagram": None,
        "Nowhere": None,
        "opic": None,
        "": source,
    }
    assert {target: resolver.resolve(target, source=source) for target in cases} == cases


def test_shortest_link_is_the_shortest_text_that_resolves_back() -> None:
    resolver = Resolver(PATHS)
    assert resolver.shortest_link("Ideas.md", source="x.md") == "Ideas"
    assert resolver.shortest_link("Archive/Ideas.md", source="x.md") == "Archive/Ideas"
    assert resolver.shortest_link("y/z/Topic.md", source="x.md") == "z/Topic"
    assert resolver.shortest_link("x/Topic.md", source="x.md") == "Topic"
    assert resolver.shortest_link("Projects/Smol/Plan.md", source="x.md") == "Plan"


_name = st.text(
    st.characters(blacklist_characters="[]|#^\\\n\r`", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda s: s.strip() == s and s.strip())


@given(target=_name, fragment=st.one_of(st.just(""), _name), alias=st.one_of(st.none(), _name), embed=st.booleans())
def test_a_rendered_link_parses_back_to_itself(target: str, fragment: str, alias: str | None, embed: bool) -> None:
    text = "before " + Link(target=target, fragment=fragment, alias=alias, embed=embed).render(target) + " after"
    (link,) = parse_note(text).links
    assert (link.target, link.fragment, link.alias, link.embed) == (target, fragment, alias, embed)


MARKDOWN_FORMS = """\
Plain [text](Note.md), deep [text](Folder/Note.md#Heading), encoded [text](Note%20With%20Spaces.md),
angle [text](<Note With Spaces.md>), image ![alt](image.png), titled [t](Note.md "A title"),
no suffix [t](Note), relative [t](../Up.md).
External [web](https://example.com/Note.md), [mail](mailto:a@example.com), [ftp](ftp:Note.md),
anchor [top](#Heading), code `[not](Code.md)`, wikilink [[Wiki]] and [[Wiki]](Not.md).

```
[fenced](Code.md)
```
"""


def test_markdown_links_are_vault_links() -> None:
    links = parse_note(MARKDOWN_FORMS).links
    assert [(link.target, link.fragment, link.alias, link.embed, link.style) for link in links] == [
        ("Note.md", "", "text", False, "markdown"),
        ("Folder/Note.md", "Heading", "text", False, "markdown"),
        ("Note With Spaces.md", "", "text", False, "markdown"),
        ("Note With Spaces.md", "", "text", False, "angle"),
        ("image.png", "", "alt", True, "markdown"),
        ("Note.md", "", "t", False, "markdown"),
        ("Note", "", "t", False, "markdown"),
        ("../Up.md", "", "t", False, "markdown"),
        ("Wiki", "", None, False, "wiki"),
        ("Wiki", "", None, False, "wiki"),
    ]
    for link in links:
        assert link.render(link.target) == MARKDOWN_FORMS[link.start : link.end]


def test_a_rewritten_markdown_link_keeps_its_form() -> None:
    plain, _, encoded, angle, image, titled, *_ = parse_note(MARKDOWN_FORMS).links
    assert plain.render("New Name.md") == "[text](New%20Name.md)"
    assert encoded.render("Other (draft).md") == "[text](Other%20%28draft%29.md)"
    assert angle.render("Other Name.md") == "[text](<Other Name.md>)"
    assert image.render("assets/image.png") == "![alt](assets/image.png)"
    assert titled.render("Moved.md") == '[t](Moved.md "A title")'
    resolver = Resolver(["Folder/Note.md", "Note With Spaces.md", "image.png"])
    assert [resolver.resolve(link.target, source="x.md") for link in parse_note(MARKDOWN_FORMS).links[:5]] == [
        "Folder/Note.md",
        "Folder/Note.md",
        "Note With Spaces.md",
        "Note With Spaces.md",
        "image.png",
    ]


_md_name = st.text(
    st.characters(blacklist_characters="<>#`\n\r", blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() == s and ":" not in s.partition("/")[0])


@given(
    target=_md_name,
    renamed=_md_name,
    fragment=st.one_of(st.just(""), _md_name),
    text=st.text(st.characters(whitelist_categories=("L", "N", "Zs")), max_size=10),
    style=st.sampled_from(["markdown", "angle"]),
    embed=st.booleans(),
)
def test_markdown_link_parse_rename_parse_keeps_targets(
    target: str, renamed: str, fragment: str, text: str, style: str, embed: bool
) -> None:
    original = Link(target=target, fragment=fragment, alias=text, embed=embed, style=style).render(target)
    def parsed(text: str) -> tuple[str, str, str | None, bool, str]:
        (link,) = parse_note(f"before {text} after").links
        return (link.target, link.fragment, link.alias, link.embed, link.style)

    assert parsed(original) == (target, fragment, text, embed, style)
    link = parse_note(f"before {original} after").links[0]
    assert parsed(link.render(renamed)) == (renamed, fragment, text, embed, style)
