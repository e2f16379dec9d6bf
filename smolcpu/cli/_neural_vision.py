"""``smol tool classify|detect|embed`` and ``smol stores serve``: the vision units, the embedder
and the stores, straight from the shell."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.table import Table

from smolcpu.cli._app import app, console
from smolcpu.cli._tools import tool_app
from smolcpu.units.neural import Classify, Detect, Embed
from smolcpu.units.stores import LocalGraph, LocalVectors, serve

IMAGE_HELP = "An image file (JPEG, PNG, WebP, BMP, GIF, TIFF), or - to read its bytes from stdin."
JSON_HELP = "Print JSON instead of a table."


def _image(image: str) -> bytes | str:
    return sys.stdin.buffer.read() if image == "-" else image


def _show(rows: list[dict[str, Any]], *, as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row[column]) for column in columns))
    console.print(table)


@tool_app.command("classify")
def classify(
    image: str = typer.Argument(..., help=IMAGE_HELP),
    top_k: int = typer.Option(5, "--top-k", "-k", help="How many classes to show."),
    model: str = typer.Option("efficientnet-lite0", "--model", "-m", help="A registry name or an ONNX file."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Name what an image shows: the top ImageNet classes and their probabilities."""
    ranked = Classify(model_path=model).classify(_image(image), top_k=top_k)
    _show(ranked, as_json=as_json, columns=("label", "score", "index"))


@tool_app.command("detect")
def detect(
    image: str = typer.Argument(..., help=IMAGE_HELP),
    threshold: float = typer.Option(0.3, "--threshold", "-t", help="Lowest score to show (0..1)."),
    model: str = typer.Option("yolox-nano", "--model", "-m", help="A registry name or an ONNX file."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Find objects in an image: COCO labels, scores and pixel boxes (x1, y1, x2, y2)."""
    found = Detect(model_path=model).detect(_image(image), score_threshold=threshold)
    _show(found, as_json=as_json, columns=("label", "score", "box"))


@tool_app.command("embed")
def embed(
    text: str = typer.Argument(..., help="The text to embed."),
    model: str = typer.Option("minilm", "--model", "-m", help="A registry name or an ONNX file."),
) -> None:
    """Print the 384-d unit vector of a text as a JSON list."""
    vector = Embed(model_path=model).embed(text)
    console.print(json.dumps([round(float(value), 6) for value in vector]), soft_wrap=True, highlight=False)


stores_app = typer.Typer(
    help="The vector and graph stores: serve one for other processes or machines.", no_args_is_help=True
)
app.add_typer(stores_app, name="stores")
_STORES = {"vectors": LocalVectors, "graph": LocalGraph}


@stores_app.command("serve")
def serve_store(
    kind: str = typer.Argument(..., help="Which store: vectors or graph."),
    path: str = typer.Option(..., "--path", "-p", help="Its SQLite file (created if missing)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", help="Port to listen on (0 picks a free one)."),
) -> None:
    """Serve a local store over HTTP as the global one; clients use remote_vectors/remote_graph(URL)."""
    if kind not in _STORES:
        raise typer.BadParameter(f"choose one of {', '.join(_STORES)}", param_hint="KIND")
    service = serve(_STORES[kind](path), host=host, port=port)
    console.print(f"serving the {kind} store {path} at {service.url} (Ctrl-C stops)", soft_wrap=True)
    console.file.flush()
    try:
        service.serve_forever()
    finally:
        service.close()
