"""``smol memory ...``: the markdown memory vault from the command line, for debugging."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from smolcpu.cli._app import app, console
from smolcpu.errors import UsageError
from smolcpu.units.tools import EMBED_MODEL, Hit, LinkRef, MemorySearch, Vault

memory_app = typer.Typer(
    help="Named memories: markdown notes with wikilinks and #tags, in a vault that Obsidian opens as it is.",
    no_args_is_help=True,
)
app.add_typer(memory_app, name="memory")

VaultOption = Annotated[
    Path | None,
    typer.Option("--vault", help="The vault folder (default: $SMOL_MEMORY, else $SMOL_HOME/memory)."),
]
NameArgument = Annotated[str, typer.Argument(help="The note, like 'projects/Smol' (case does not matter).")]


@contextmanager
def _open(vault: Path | None) -> Iterator[Vault]:
    opened = Vault(vault)
    try:
        yield opened
    finally:
        opened.close()


def _links_table(title: str, refs: list[LinkRef], *, show_source: bool = True, show_target: bool = True) -> Table:
    table = Table(title=title, title_justify="left")
    if show_source:
        table.add_column("from")
    table.add_column("line", justify="right", style="dim")
    table.add_column("link as written")
    if show_target:
        table.add_column("resolves to")
    for ref in refs:
        row = [escape(ref.source)] if show_source else []
        row += [str(ref.line), escape(ref.text)]
        if show_target:
            row.append(escape(ref.target) if ref.target else "[red]unresolved[/]")
        table.add_row(*row)
    return table


@memory_app.command()
def write(
    name: NameArgument,
    text: Annotated[str | None, typer.Argument(help="The note's markdown; '-' or nothing reads stdin.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the markdown from this file.")] = None,
    vault: VaultOption = None,
) -> None:
    """Create a note or replace its text."""
    if file is not None and text is not None:
        raise UsageError("give the text or --file, not both")
    if file is not None:
        if not file.is_file():
            raise UsageError(f"no file {file}")
        text = file.read_text(encoding="utf-8")
    elif text is None or text == "-":
        if sys.stdin.isatty():
            raise UsageError("give the note's text as an argument, with --file, or on stdin")
        text = sys.stdin.read()
    with _open(vault) as opened:
        result = opened.write(name, text)
    verb = "created" if result["created"] else "updated"
    console.print(f"{verb} [bold]{escape(result['name'])}[/] ({escape(str(opened.root / result['path']))})")


@memory_app.command()
def read(
    name: NameArgument,
    raw: Annotated[bool, typer.Option("--raw", help="Print only the file's text, exactly.")] = False,
    vault: VaultOption = None,
) -> None:
    """Show a note: its text, then its tags and where its links go."""
    with _open(vault) as opened:
        note = opened.read(name)
    if raw:
        sys.stdout.write(note.text)
        return
    console.rule(f"[bold]{escape(note.name)}[/]")
    console.print(note.text, markup=False, highlight=False)
    console.rule()
    if note.problem:
        console.print(f"[yellow]{escape(note.problem)}[/]")
    if note.tags:
        console.print("tags: " + " ".join(f"[cyan]#{escape(tag)}[/]" for tag in note.tags))
    if note.links:
        console.print(_links_table("links", list(note.links), show_source=False))


@memory_app.command("list")
def list_notes(
    tag: Annotated[str | None, typer.Option("--tag", help="Only notes with this tag (or one nested under it).")] = None,
    vault: VaultOption = None,
) -> None:
    """List the notes with their tags and number of links."""
    with _open(vault) as opened:
        notes = opened.notes(tag=tag)
    if not notes:
        console.print("no notes" + (f" tagged #{escape(tag)}" if tag else "") + f" in {escape(str(opened.root))}")
        return
    table = Table(title=f"{len(notes)} notes in {escape(str(opened.root))}", title_justify="left")
    table.add_column("note", style="bold")
    table.add_column("tags", style="cyan")
    table.add_column("links", justify="right")
    table.add_column("bytes", justify="right", style="dim")
    for info in notes:
        table.add_row(escape(info.name), escape(" ".join(f"#{t}" for t in info.tags)), str(info.links), str(info.size))
    console.print(table)
    for info in notes:
        if info.problem:
            console.print(f"[yellow]{escape(info.name)}: {escape(info.problem)}[/]", soft_wrap=True)


def _snippet(hit: Hit) -> Text:
    """The hit's snippet on one line, with the matched words in bold."""
    text = Text()
    for part, matched in hit.parts():
        text.append(part.replace("\n", " "), style="bold yellow" if matched else "")
    return text


@memory_app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for: words (every one must occur) or, hybrid, a meaning.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many notes.")] = 10,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="text (full text), hybrid (full text fused with MiniLM vectors), "
            "or auto (hybrid when the embedder model is installed).",
        ),
    ] = "auto",
    model: Annotated[
        str, typer.Option("--model", help="The embedder for hybrid search: a registry name or an ONNX file.")
    ] = EMBED_MODEL,
    vault: VaultOption = None,
) -> None:
    """Search the notes, best match first: by words (stemmed, accents ignored) and, hybrid, by meaning."""
    with _open(vault) as opened:
        searcher = MemorySearch(opened, model=model)
        try:
            found = searcher.search(query, mode=mode, limit=limit)
        finally:
            searcher.close()
    if found.note:
        console.print(f"[dim]{escape(found.note)}[/]")
    if not found.hits:
        console.print(f"no note matches {escape(query)!r}")
        return
    table = Table(title=f"{len(found.hits)} notes match ({found.mode})", title_justify="left")
    table.add_column("note", style="bold")
    table.add_column("score", justify="right", style="dim")
    if found.mode == "hybrid":
        table.add_column("text", justify="right", style="dim")
        table.add_column("vector", justify="right", style="dim")
    table.add_column("where")
    for hit in found.hits:
        row = [escape(hit.name), f"{hit.score:.3g}"]
        if found.mode == "hybrid":
            row += [f"{hit.scores[kind]:.3g}" if kind in hit.scores else "-" for kind in ("text", "vector")]
        table.add_row(*row, _snippet(hit))
    console.print(table)


@memory_app.command()
def links(name: NameArgument, vault: VaultOption = None) -> None:
    """The links going out of a note, and where each resolves."""
    with _open(vault) as opened:
        refs = opened.links(name)
    console.print(_links_table(f"{len(refs)} links in {name}", refs, show_source=False))


@memory_app.command()
def backlinks(name: NameArgument, vault: VaultOption = None) -> None:
    """The links in other notes that point at a note."""
    with _open(vault) as opened:
        refs = opened.backlinks(name)
    console.print(_links_table(f"{len(refs)} links to {name}", refs, show_target=False))


@memory_app.command()
def unresolved(vault: VaultOption = None) -> None:
    """Links to notes that do not exist (yet)."""
    with _open(vault) as opened:
        refs = opened.unresolved()
    console.print(_links_table(f"{len(refs)} unresolved links", refs, show_target=False))


@memory_app.command()
def rename(
    old: Annotated[str, typer.Argument(help="The note to rename.")],
    new: Annotated[str, typer.Argument(help="Its new name; a folder in it moves the note.")],
    vault: VaultOption = None,
) -> None:
    """Rename or move a note and rewrite the links to it in other notes."""
    with _open(vault) as opened:
        result = opened.rename(old, new)
    count = sum(result["rewritten"].values())
    console.print(
        f"renamed [bold]{escape(result['old'])}[/] → [bold]{escape(result['new'])}[/]; "
        f"rewrote {count} links in {len(result['rewritten'])} notes"
    )
    for note, links_rewritten in result["rewritten"].items():
        console.print(f"  {escape(note)}: {links_rewritten}")


@memory_app.command()
def delete(name: NameArgument, vault: VaultOption = None) -> None:
    """Delete a note (links to it become unresolved)."""
    with _open(vault) as opened:
        deleted = opened.delete(name)
    console.print(f"deleted [bold]{escape(deleted)}[/]")


@memory_app.command()
def graph(
    as_json: Annotated[bool, typer.Option("--json", help="Print {nodes, edges} as JSON.")] = False,
    vault: VaultOption = None,
) -> None:
    """The note-to-note link graph: each note and the notes it links to."""
    with _open(vault) as opened:
        found = opened.graph()
    if as_json:
        edges = [{"source": s, "target": t, "count": c} for s, t, c in found.edges]
        sys.stdout.write(json.dumps({"nodes": list(found.nodes), "edges": edges}, indent=2) + "\n")
        return
    tree = Tree(f"[bold]{len(found.nodes)} notes, {len(found.edges)} links between them[/]")
    out: dict[str, list[tuple[str, int]]] = {}
    for source, target, count in found.edges:
        out.setdefault(source, []).append((target, count))
    for node in found.nodes:
        branch = tree.add(f"[bold]{escape(node)}[/]")
        for target, count in out.get(node, []):
            branch.add(f"→ {escape(target)}" + (f" [dim]x{count}[/]" if count > 1 else ""))
    console.print(tree)


@memory_app.command()
def rebuild(vault: VaultOption = None) -> None:
    """Throw the index away and read every note again (the files are the truth)."""
    with _open(vault) as opened:
        report = opened.rebuild()
    console.print(f"indexed {report.added} files in {escape(str(opened.root))}")
