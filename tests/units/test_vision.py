"""The vision units on the real models and a real photograph (tests/data/bear.jpg).

The detector ships inside the package, so its tests are fast ones; the classifier comes from
the model cache, so tests using it are slow ones (tests/units/onnx_models.py). Scenes with
several objects are collages of the photograph, made here.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smolcpu.artifact import BYTES, Artifact
from smolcpu.errors import UsageError
from smolcpu.units._registry import create_unit, unit_kind
from smolcpu.units.neural import Classify, Detect
from smolcpu.units.neural._vision import non_max_suppression, open_image, resampled
from tests.units.onnx_models import BEAR, EFFICIENTNET, YOLOX, model_file, onnx_unit


classifier = onnx_unit(Classify, EFFICIENTNET)
detector = onnx_unit(Detect, YOLOX)


def encoded(picture: Image.Image, form: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=form, **options)
    return buffer.getvalue()


GAP = 40
"""White pixels between the two bears of the collage."""


def two_bears() -> Image.Image:
    """The bear, and beside it the bear mirrored, on a white canvas: a scene with two objects."""
    bear = Image.open(BEAR).convert("RGB")
    canvas = Image.new("RGB", (bear.width * 2 + GAP, bear.height), "white")
    canvas.paste(bear, (0, 0))
    canvas.paste(bear.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (bear.width + GAP, 0))
    return canvas


def test_classifies_a_bear_photo_as_a_brown_bear(classifier: Classify) -> None:
    ranked = classifier.classify(BEAR, top_k=3)
    assert ranked[0]["label"] == "brown bear"
    assert ranked[0]["score"] > 0.9
    assert len(ranked) == 3 and ranked[0]["score"] >= ranked[1]["score"] >= ranked[2]["score"]


def test_classify_accepts_common_formats_and_modes(classifier: Classify) -> None:
    bear = Image.open(BEAR)
    for data in (
        encoded(bear, "PNG"),
        encoded(bear, "WEBP", quality=90),
        encoded(bear, "BMP"),
        encoded(bear.convert("RGBA"), "PNG"),
        encoded(bear.convert("P"), "GIF"),
        encoded(bear.resize((1600, 1200)), "JPEG"),
        encoded(bear, "TIFF"),
        encoded(bear.convert("CMYK"), "JPEG"),
    ):
        assert classifier.classify(data, top_k=1)[0]["label"] == "brown bear"
    grey = classifier.classify(encoded(bear.convert("L"), "PNG"), top_k=5)
    assert "brown bear" in [hit["label"] for hit in grey]


def test_batched_classification_matches_one_by_one(classifier: Classify) -> None:
    photos = [BEAR, encoded(two_bears(), "PNG"), encoded(Image.open(BEAR).convert("L"), "PNG")]
    assert classifier.classify_many(photos, top_k=2) == [classifier.classify(p, top_k=2) for p in photos]


def test_detects_each_object_of_a_scene_where_it_is(detector: Detect) -> None:
    scene = two_bears()
    found = detector.detect(encoded(scene, "PNG"))
    assert [hit["label"] for hit in found] == ["bear", "bear"]
    for hit in found:
        x1, y1, x2, y2 = hit["box"]
        assert 0 <= x1 < x2 <= scene.width and 0 <= y1 < y2 <= scene.height
        assert hit["score"] >= 0.5
    left, right = sorted(found, key=lambda hit: hit["box"][0])
    middle = (scene.width - GAP) / 2
    assert left["box"][2] <= middle + GAP / 2 <= right["box"][0]  # one bear in each half


def test_boxes_follow_the_image_size(detector: Detect) -> None:
    photo = Image.open(BEAR)
    small = detector.detect(encoded(photo, "PNG"), score_threshold=0.5)
    large = detector.detect(encoded(photo.resize((photo.width * 2, photo.height * 2)), "PNG"), score_threshold=0.5)
    assert [hit["label"] for hit in small][:1] == ["bear"] == [hit["label"] for hit in large][:1]
    assert np.allclose(np.array(large[0]["box"]) / 2, small[0]["box"], atol=4)


def test_large_jpeg_is_decoded_at_reduced_scale_with_the_same_answers(detector: Detect, classifier: Classify) -> None:
    photo = Image.open(BEAR)
    large = encoded(photo.resize((photo.width * 4, photo.height * 4), Image.Resampling.BICUBIC), "JPEG", quality=95)
    picture = open_image(large, shorter_side=300)
    assert picture.size == (photo.width * 4, photo.height * 4)
    assert picture.image.width in (photo.width, photo.width * 2)  # 1/4 or 1/2 scale, never below 300
    assert min(picture.image.size) >= 300
    assert open_image(large).image.size == picture.size
    assert classifier.classify(large, top_k=1)[0]["label"] == classifier.classify(BEAR, top_k=1)[0]["label"]
    small_hits = detector.detect(BEAR, score_threshold=0.5)
    large_hits = detector.detect(large, score_threshold=0.5)
    assert small_hits[0]["label"] == large_hits[0]["label"] == "bear"
    assert np.allclose(np.array(large_hits[0]["box"]) / 4, small_hits[0]["box"], atol=4)


def test_exif_orientation_is_applied_and_sizes_are_upright(detector: Detect) -> None:
    photo = Image.open(BEAR)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter anticlockwise: show it turned clockwise
    stored = photo.transpose(Image.Transpose.ROTATE_90).resize((photo.height * 2, photo.width * 2))
    image = encoded(stored, "JPEG", quality=95, exif=exif.tobytes())
    picture = open_image(image, longer_side=416)
    assert picture.size == (photo.width * 2, photo.height * 2)
    assert picture.image.size == (photo.width, photo.height)
    upright = detector.detect(image, score_threshold=0.5)
    expected = detector.detect(BEAR, score_threshold=0.5)
    assert upright[0]["label"] == "bear"
    assert np.allclose(np.array(upright[0]["box"]) / 2, expected[0]["box"], atol=4)


def test_score_threshold_filters(detector: Detect) -> None:
    scene = encoded(two_bears(), "PNG")
    everything = detector.detect(scene, score_threshold=0.05)
    confident = detector.detect(scene, score_threshold=0.6)
    assert len(everything) > len(confident) > 0
    assert all(hit["score"] >= 0.6 for hit in confident)


def odd_sizes() -> tuple[bytes, bytes]:
    return encoded(Image.new("RGB", (3, 2), "white"), "PNG"), encoded(Image.open(BEAR).resize((2000, 60)), "JPEG")


def test_odd_sizes_are_fine_for_the_detector(detector: Detect) -> None:
    for image in odd_sizes():
        assert isinstance(detector.detect(image), list)


def test_odd_sizes_are_fine_for_the_classifier(classifier: Classify) -> None:
    for image in odd_sizes():
        assert len(classifier.classify(image, top_k=4)) == 4


def test_non_max_suppression_drops_overlaps_only() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    assert non_max_suppression(boxes, scores, iou_threshold=0.45) == [0, 2]
    assert non_max_suppression(boxes, scores, iou_threshold=0.95) == [0, 1, 2]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"", "empty"),
        (b"this is plain text, not a picture", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not an image|corrupt"),
        (BEAR.read_bytes()[:4000], "corrupt or truncated"),
        ("/nowhere/photo.jpg", "no image file"),
    ],
)
def test_bad_images_are_clear_errors(image: bytes | str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_image(image)


def test_detect_unit_answers_bytes(detector: Detect) -> None:
    photo = Artifact.create(BEAR.read_bytes(), type=BYTES, scope="test")
    reply = asyncio.run(detector.handle(None, None, photo))
    assert reply.parents == (photo.id,) and reply.origin == "detect"
    assert reply.as_json()[0]["label"] == "bear"


def test_classify_unit_answers_json_and_reports_bad_input(classifier: Classify) -> None:
    request = Artifact.json({"image": str(BEAR), "top_k": 2})
    assert asyncio.run(classifier.handle(None, None, request)).as_json()[0]["label"] == "brown bear"
    broken = asyncio.run(classifier.handle(None, None, Artifact.create(b"GIF89a broken", type=BYTES)))
    assert broken.is_error and "image" in broken.error_message
    bad_k = asyncio.run(classifier.handle(None, None, Artifact.json({"image": str(BEAR), "top_k": 0})))
    assert bad_k.is_error and "top_k" in bad_k.error_message


def test_registered_kinds_make_working_units() -> None:
    assert unit_kind("classify").output == "application/json"
    assert "model_path" in unit_kind("detect").parameters
    unit = create_unit("detect", model_path=model_file(YOLOX))
    assert isinstance(unit, Detect) and "not loaded" in repr(unit)


def test_missing_model_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        Classify(model_path=tmp_path / "absent.onnx").classify(BEAR)
    not_onnx = tmp_path / "fake.onnx"
    not_onnx.write_bytes(b"not a model")
    with pytest.raises(UsageError, match="cannot load ONNX model"):
        Detect(model_path=not_onnx).detect(BEAR)


@pytest.mark.parametrize(
    ("source", "size", "box"),
    [
        ((640, 480), (224, 224), (80.0, 30.0, 500.0, 450.0)),
        ((427, 640), (224, 224), (0.0, 106.8, 427.0, 480.4)),
        ((640, 427), (416, 277), (0.0, 0.0, 640.0, 427.0)),
        ((300, 41), (224, 31), (0.0, 0.0, 300.0, 41.0)),
        ((3, 2), (224, 224), (0.0, 0.0, 3.0, 2.0)),
    ],
)
def test_resampling_in_two_halves_matches_one_pass(
    source: tuple[int, int], size: tuple[int, int], box: tuple[float, float, float, float]
) -> None:
    picture = Image.open(BEAR).convert("RGB").resize(source)
    whole = np.asarray(picture.resize(size, Image.Resampling.BILINEAR, box=box)).astype(int)
    halves = resampled(picture, size, box=box).astype(int)
    assert halves.shape == whole.shape == (size[1], size[0], 3)
    assert np.abs(halves - whole).max() <= 1
