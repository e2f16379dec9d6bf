"""The model registry: known models pinned by sha256, their sources, and the cache.

Units that hold a neural net ask it for a file with :func:`model_path`; ``smol models``
lists, installs and verifies what is in the cache.
"""

from smolcpu.models._conversion import CONVERSIONS, Conversion, converter_python
from smolcpu.models._registry import KNOWN, ModelSpec, install_model, model_path, model_spec, verify_model
from smolcpu.models._sources import BUNDLED, Bundled, Download, Mirrored, PackagedFile, PackagedParts, Source, sha256_of

__all__ = [
    "BUNDLED",
    "CONVERSIONS",
    "Bundled",
    "KNOWN",
    "Conversion",
    "Download",
    "Mirrored",
    "ModelSpec",
    "PackagedFile",
    "PackagedParts",
    "Source",
    "converter_python",
    "install_model",
    "model_path",
    "model_spec",
    "sha256_of",
    "verify_model",
]
