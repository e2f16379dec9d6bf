"""The baseline of the LLM benchmark: xllamacpp alone in a process of its own.

Its own module (not ``__main__``) so that a spawned process can import it.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from pathlib import Path

import xllamacpp

from smolcpu.units.neural import server_params


def serve_direct(connection: Connection, file: str, *, context: int, threads: int) -> None:
    """Child process: xllamacpp alone with one model, answering each request sent down the pipe."""
    direct = xllamacpp.Server(server_params(Path(file), context=context, threads=threads))
    connection.send("ready")
    while (body := connection.recv()) is not None:
        connection.send(direct.handle_chat_completions(body)["usage"]["completion_tokens"])
