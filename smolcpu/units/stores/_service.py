"""One API, three ways to reach a store: a direct call, a unit, or HTTP from another process.

A store class names its public methods in ``API``. :func:`dispatch` calls one of them with
JSON arguments; :class:`StoreTool` is a unit that does so for each artifact it is sent; and
:func:`serve` puts a store behind a small HTTP service that :class:`RemoteStore` calls with
the very same method names and arguments. That is the *global* store: every process or
machine that knows the URL shares one index, and the service serialises writes to it.
A server, rather than a file on object storage, because an index changes one entry at a
time: on S3 each change would rewrite the whole file, with no lock between writers.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import inspect
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from smolcpu import config
from smolcpu.artifact import JSON, load_json
from smolcpu.errors import ArtifactError, RequestTimeout, SmolError, UnitError, UsageError
from smolcpu.units._tool import Tool
from smolcpu.units.stores._sqlite import database_errors

if TYPE_CHECKING:
    import numpy as np

MAX_REQUEST_BYTES = 64 * 1024 * 1024


def _plain(value: Any) -> Any:
    import numpy as np
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def dispatch(store: Any, method: str, arguments: dict[str, Any]) -> Any:
    """Call ``store.method(**arguments)`` if ``method`` is in the store's ``API``.

    Raises:
        UsageError: an unknown method, or arguments it does not take.
        UnitError: the store's database failed (disk full, file locked or corrupt).
    """
    if method not in store.API:
        raise UsageError(f"{type(store).__name__} has no operation {method!r}; it has {', '.join(sorted(store.API))}")
    try:
        return getattr(store, method)(**arguments)
    except TypeError as exc:
        raise UsageError(f"bad arguments for {method}: {exc}") from exc
    except database_errors() as exc:
        raise UnitError(f"{type(store).__name__} failed in {method}: {exc}") from exc


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._answer(
                413, {"error": f"request of {length} bytes is over {MAX_REQUEST_BYTES}", "kind": "BudgetError"}
            )
            return
        try:
            arguments = load_json(self.rfile.read(length) or b"{}")
            if not isinstance(arguments, dict):
                raise UsageError("send the arguments as a JSON object")
            with self.server.lock:
                result = dispatch(self.server.store, self.path.strip("/"), arguments)
        except (UsageError, ArtifactError, ValueError) as exc:
            self._answer(400, {"error": str(exc), "kind": "UsageError"})
            return
        except SmolError as exc:
            self._answer(500, {"error": str(exc), "kind": type(exc).__name__})
            return
        self._answer(200, {"result": result})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, default=_plain).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a store service logs nothing per request."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Any) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.lock = threading.Lock()


class StoreService:
    """A store served over HTTP on a background thread; ``url`` is what clients need."""

    def __init__(self, store: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), store)
        self._thread = threading.Thread(target=self._server.serve_forever, name="smol-store", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Block until interrupted (for ``smol stores serve``)."""
        self._thread.join()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=config.SHUTDOWN_TIMEOUT_S)

    def __enter__(self) -> StoreService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<StoreService {type(self._server.store).__name__} at {self.url}>"


def serve(store: Any, *, host: str = "127.0.0.1", port: int = 0) -> StoreService:
    """Serve ``store`` over HTTP (port 0 picks a free one) and return the running service."""
    return StoreService(store, host=host, port=port)


class RemoteStore:
    """A store served elsewhere, called exactly like the local ``kind`` (same methods, same arguments)."""

    def __init__(self, url: str, *, kind: type, timeout: float = config.STORE_SERVICE_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.kind = kind
        self.API = kind.API
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<RemoteStore {self.kind.__name__} at {self.url}>"

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_") or method not in self.API:
            raise AttributeError(method)
        signature = inspect.signature(getattr(self.kind, method))

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(None, *args, **kwargs)
            except TypeError as exc:
                raise UsageError(f"bad arguments for {method}: {exc}") from exc
            return self.call(method, {name: value for name, value in bound.arguments.items() if name != "self"})

        return call

    def call(self, method: str, arguments: dict[str, Any]) -> Any:
        """Call ``method`` on the served store.

        Raises:
            UsageError: the store refused the call (the message is the store's own).
            UnitError: the service is not reachable, or the store failed.
            RequestTimeout: no answer within ``timeout`` seconds.
        """
        request = urllib.request.Request(
            f"{self.url}/{method}",
            data=json.dumps(arguments, default=_plain).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())["result"]
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]
            except (ValueError, KeyError, TypeError):
                message = f"store at {self.url} answered HTTP {exc.code} to {method}"
            raise (UsageError if exc.code < 500 else UnitError)(message) from exc
        except TimeoutError as exc:
            raise RequestTimeout(f"store at {self.url} did not answer {method} within {self.timeout}s") from exc
        except urllib.error.URLError as exc:
            raise UnitError(f"store at {self.url} is not reachable ({exc.reason}); is it served?") from exc
        except (http.client.HTTPException, ConnectionError) as exc:
            raise UnitError(f"store at {self.url} broke off the answer to {method}: {exc}") from exc


class StoreTool(Tool):
    """A unit in front of a store: ``{"op": "search", "args": {...}}`` in, the result out.

    Local by default (its SQLite file from ``config``, or ``path``), global when given the
    ``url`` of a served store, or any ready ``store`` object.
    """

    _abstract = True
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "op": {"type": "string", "description": "the store operation to run"},
        "args": {"type": "object", "description": "its keyword arguments", "nullable": True},
    }
    output = JSON
    kind: ClassVar[type]
    default_path: ClassVar[Callable[[], Path]]

    def __init__(self, *, path: str | Path | None = None, url: str | None = None, store: Any = None) -> None:
        if store is None:
            store = RemoteStore(url, kind=self.kind) if url else self.kind(path or type(self).default_path())
        self.store = store

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.store!r}>"

    @classmethod
    def shared_store(cls, params: Mapping[str, Any]) -> tuple[str, Callable[[], Any]] | None:
        """What replicas of this unit on several nodes must share, given its ``params``: a name
        for its store and how to open it (its SQLite file, named here, on the node it opens on);
        None when the parameters already name a store every node reaches (``url``, ``store``)."""
        if params.get("url") or params.get("store") is not None:
            return None
        path = str(params.get("path") or cls.default_path())
        return f"{cls.name}:{path}", functools.partial(cls.kind, path)

    async def forward(self, op: str, args: dict[str, Any] | None = None) -> Any:
        result = await asyncio.to_thread(dispatch, self.store, op, args or {})  # a large search takes a while
        return json.loads(json.dumps(result, default=_plain))


__all__ = ["RemoteStore", "StoreService", "StoreTool", "dispatch", "serve"]
