"""The three-way classifier (paper 3): losses, training stages, checkpoints, the method, the CLI
verdict path and the format-confound check of the training chain."""

from __future__ import annotations

import dataclasses
import io
import json

import cv2
import numpy as np
import pytest
import torch
from conftest import save
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from imlforensic.methods.base import Method, MethodOutput, decide_verdict
from imlforensic.methods.threeway import ThreewayMethod, combine
from imlforensic.models.features import ExtractorSpec, FeatureExtractor
from imlforensic.models.threeway import (
    Calibration,
    ThreewayConfig,
    ThreewayModel,
    generalizer_loss_ff,
    generalizer_loss_pf,
    load_threeway,
    pull,
    push,
    save_threeway,
    student_losses,
)
from imlforensic.registry.cards import ModelCard
from imlforensic.training.chain import normalise
from imlforensic.training.threeway import ThreewayTraining, calibrate, decide, predict, train_threeway

LAYOUT = (("low", 6), ("high", 10))
TINY = ThreewayConfig(layout=LAYOUT, width=16, layers=1, heads=2, dropout=0.0, generalizer_hidden=16)
FAST = ThreewayTraining(teacher_epochs=8, student_epochs=4, classifier_epochs=8, batch_size=48, lr=3e-3)


def t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_discrepancy_losses_on_hand_computed_values():
    z_t = t([0, 0, 0], [1, 1, 1])
    near = t([1, 0, 0], [1, 1, 1])  # squared distances 1 and 0
    far = t([3, 0, 0], [1, 1, 3])  # 9 and 4: beyond / at the margin
    assert float(pull(z_t, near)) == pytest.approx(0.5)  # equations 1, 3, 5
    assert float(push(z_t, near, 4.0)) == pytest.approx(((4 - 1) + (4 - 0)) / 2)  # margin active
    assert float(push(z_t, far, 4.0)) == pytest.approx(0.0)  # margin inactive: no gradient either
    assert float(push(z_t, far, 10.0)) == pytest.approx(((10 - 9) + (10 - 4)) / 2)
    # equation 6: [M - |T - S1|^2]_+ + |T - S2|^2 ; equation 7 the other way round
    assert float(generalizer_loss_pf(z_t, near, far, 4.0)) == pytest.approx(((3 + 9) + (4 + 4)) / 2)
    assert float(generalizer_loss_ff(z_t, near, far, 4.0)) == pytest.approx(((0 + 1) + (0 + 0)) / 2)
    z = {
        "R": {"T": z_t, "S1": near, "S2": far},
        "PF": {"T": z_t, "S1": far, "S2": near},
        "GPF": {"T": z_t, "S1": far, "S2": near},
        "FF": {"T": z_t, "S1": near, "S2": near},
        "GFF": {"T": z_t, "S1": far, "S2": near},
    }
    losses = {k: float(v) for k, v in student_losses(z, 4.0).items()}
    assert losses == pytest.approx({"eq1_S1": 0.5, "eq1_S2": 6.5, "eq2": 3.5, "eq3": 6.5, "eq4": 0.0, "eq5": 0.5})
    assert set(student_losses({"R": z["R"]}, 4.0)) == {"eq1_S1", "eq1_S2"}  # absent parts add nothing


def _three_classes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 1.5, (3, TINY.dim))
    labels = rng.integers(0, 3, n)
    return (centres[labels] + rng.normal(0, 1, (n, TINY.dim))).astype(np.float32), labels


@pytest.fixture(scope="module")
def trained() -> ThreewayModel:
    torch.set_num_threads(1)
    x, y = _three_classes(240, 0)
    log: list[dict] = []
    model = train_threeway(x, y, TINY, FAST, log=log.append)
    assert [r["stage"] for r in log][0] == "teacher" and "eq6" in log[-FAST.classifier_epochs - 1]
    return model


def test_tiny_training_separates_three_classes_through_the_discrepancies(trained):
    x, y = _three_classes(300, 1)
    assert (predict(trained, x).argmax(1) == y).mean() > 0.85  # N_C on squared discrepancies
    assert (predict(trained, x, head="teacher").argmax(1) == y).mean() > 0.85
    with torch.no_grad():
        d = trained.discrepancies(trained.standardise(torch.from_numpy(x)))
    # students depart from the teacher where they were pushed to: S1 on generated, S2 on edited
    s1, s2 = d[:, :3].sum(1).numpy(), d[:, 3:].sum(1).numpy()
    assert s1[y == 2].mean() > 2 * s1[y == 0].mean() and s2[y == 1].mean() > 2 * s2[y == 0].mean()


def test_ablations_skip_their_stages():
    x, y = _three_classes(120, 2)
    teacher = train_threeway(x, y, TINY, dataclasses.replace(FAST, students=False))
    assert teacher.calibration.head == "teacher"
    assert (predict(teacher, x).argmax(1) == y).mean() > 0.8
    log: list[dict] = []
    train_threeway(x, y, TINY, dataclasses.replace(FAST, generalizers=False), log=log.append)
    assert not any("eq6" in r for r in log)


def test_calibration_bounds_the_false_generated_rate_and_survives_a_round_trip(trained, tmp_path):
    x, y = _three_classes(300, 3)
    calibration = calibrate(trained, x, y, target_rate=0.05)
    p = predict(trained, x)
    assert (p[y != 2, 2] >= calibration.generated_threshold).mean() <= 0.05
    decided = decide(p, calibration.generated_threshold)
    assert ((decided == 2) == (p[:, 2] >= calibration.generated_threshold)).all()
    trained.calibration = calibration
    save_threeway(trained, tmp_path / "m.safetensors", {"extractor": "lite0"})
    loaded, header = load_threeway(tmp_path / "m.safetensors")
    assert header["extractor"] == "lite0" and loaded.calibration.generated_threshold == calibration.generated_threshold
    np.testing.assert_allclose(predict(loaded, x), p, atol=0.02)  # float16 weights
    assert (tmp_path / "m.safetensors").stat().st_size < 200_000


@pytest.mark.parametrize("p_generated", [0.02, 0.3, 0.39, 0.41, 0.6, 0.95])
@pytest.mark.parametrize("score", [0.0, 0.5, 0.9])
def test_class_probabilities_follow_the_calibrated_threshold(p_generated, score):
    probs = combine(p_generated, 0.4, score)
    assert sum(probs.values()) == pytest.approx(1.0)
    output = MethodOutput(heatmap=np.zeros((4, 4)), score=score, class_probs=probs)
    assert (decide_verdict(output, 0.5) == "generated") == (p_generated > 0.4)


class FlatLocalizer(Method):
    def analyse(self, image):
        return MethodOutput(heatmap=np.full(image.rgb.shape[:2], 0.2, np.float32), score=0.2, details={"x": 1.0})


def _tiny_extractor() -> FeatureExtractor:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 3, 3, stride=4)

    def run(x):
        a = conv(x)
        return [a, torch.nn.functional.avg_pool2d(a, 2)[:, :2].flatten(2).mean(2)]

    return FeatureExtractor(
        ExtractorSpec("tiny"), conv, run, (0.5,) * 3, (0.5,) * 3, None, torch.device("cpu"), ["low", "high"]
    )


def test_method_gives_a_whole_image_finding_for_generated(trained, photos):
    from pathlib import Path

    from imlforensic.io.images import decode_image_bytes

    extractor = _tiny_extractor()
    config = ThreewayConfig(layout=(("low", 6), ("high", 2)), width=8, layers=1, heads=2)
    model = ThreewayModel(config).eval()
    buffer = io.BytesIO()
    Image.fromarray(photos["coffee"]).save(buffer, "PNG")
    image = decode_image_bytes(buffer.getvalue(), Path("coffee.png"))
    card = ModelCard("threeway", "detector", classes=("authentic", "manipulated", "generated"))
    method = ThreewayMethod(card, FlatLocalizer(ModelCard("flat", "detector")), extractor, model)
    p = method.classify(image.rgb)
    assert p.shape == (3,) and p.sum() == pytest.approx(1.0, abs=1e-5)
    for threshold, expected in ((1e-6, "generated"), (1 - 1e-6, "authentic")):
        model.calibration = Calibration(generated_threshold=threshold)
        out = method.analyse(image)
        assert decide_verdict(out, 0.5) == expected
        assert out.details["classifier_generated"] == pytest.approx(float(p[2]), abs=1e-6)
        if expected == "generated":
            assert out.heatmap.min() > 0.5 and "localizer" in out.views  # the whole picture, the map kept
        else:
            assert out.heatmap.max() == pytest.approx(0.2) and out.score == pytest.approx(0.2)


@pytest.fixture()
def generating_weights(tmp_path, isolated_registry, monkeypatch):
    """A tiny three-way checkpoint that calls everything generated, behind ``threeway`` with the
    classical localizer (registry isolated)."""
    from imlforensic.models.features import build_extractor

    entry = isolated_registry.entry("threeway")
    monkeypatch.setitem(
        isolated_registry._entries, "threeway", dataclasses.replace(entry, extra={"localizer": "classical"})
    )
    extractor = build_extractor("lite0")
    _ = extractor.dim
    model = ThreewayModel(ThreewayConfig(layout=tuple(extractor.layout), width=8, layers=1, heads=2)).eval()
    model.calibration = Calibration(generated_threshold=1e-6)  # everything is called generated
    weights = tmp_path / "tw.safetensors"
    save_threeway(model, weights, {"extractor": "lite0", "views": 2})
    return weights


def test_cli_reports_the_generated_verdict(tmp_path, runner, photos, generating_weights):
    """``detect --method threeway --weights FILE``: the JSON carries the three class probabilities."""
    from imlforensic.cli import app

    weights = generating_weights

    image = save(cv2.resize(photos["rocket"], (300, 260)), tmp_path / "r.jpg", quality=90)
    result = runner.invoke(app, ["detect", str(image), "--method", "threeway", "--weights", str(weights), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["verdict"] == "generated"
    assert set(record["class_probs"]) == {"authentic", "manipulated", "generated"}
    assert sum(record["class_probs"].values()) == pytest.approx(1.0)


def _format_facts(rgb: np.ndarray, data: bytes, container: str) -> list[float]:
    h, w = rgb.shape[:2]
    return [w, h, w / h, len(data) / (w * h), container == "JPEG", container == "WEBP", container == "PNG"]


def test_format_only_classifier_is_at_chance_after_the_chain(photos):
    """Class A: large PNGs; class B: small JPEGs at q 70. A classifier given only size, aspect,
    bytes per pixel and container separates the raw files; after the shared chain it cannot."""
    rng = np.random.default_rng(0)
    sources = list(photos.values())
    raw, chained, labels = [], [], []
    for i in range(80):
        label = i % 2
        rgb = sources[i % len(sources)]
        y, x = rng.integers(0, 60), rng.integers(0, 60)
        rgb = np.ascontiguousarray(rgb[y : y + 400, x : x + 400])
        buffer = io.BytesIO()
        if label:
            rgb = cv2.resize(rgb, (300, 280), interpolation=cv2.INTER_AREA)
            Image.fromarray(rgb).save(buffer, "JPEG", quality=70)
        else:
            Image.fromarray(rgb).save(buffer, "PNG")
        raw.append(_format_facts(rgb, buffer.getvalue(), "JPEG" if label else "PNG"))
        out, info = normalise(np.asarray(Image.open(buffer).convert("RGB")), f"item{i}")
        chained.append(_format_facts(out, b"x" * info.n_bytes, info.container))
        labels.append(label)

    def auc(rows):
        x = np.asarray(rows, np.float64)
        x = (x - x.mean(0)) / (x.std(0) + 1e-9)
        p = cross_val_predict(LogisticRegression(max_iter=1000), x, labels, cv=5, method="predict_proba")[:, 1]
        return roc_auc_score(labels, p)

    assert auc(raw) > 0.95
    assert abs(auc(chained) - 0.5) < 0.2


def test_a_checkpoint_on_a_users_backbone_names_and_checks_its_file(tmp_path):
    from imlforensic.methods.threeway import extractor_weights
    from imlforensic.models.features import ExtractorError, sha256_of

    backbone = tmp_path / "clip.safetensors"
    backbone.write_bytes(b"weights")
    assert extractor_weights({"extractor": "lite0"}) is None
    header = {"extractor": "timm:vit_base_patch16_clip_224.openai", "extractor_weights": str(backbone)}
    assert extractor_weights(header | {"extractor_weights_sha256": sha256_of(backbone)}) == backbone
    with pytest.raises(ExtractorError, match="sha256 differs"):
        extractor_weights(header | {"extractor_weights_sha256": "0" * 64})
    with pytest.raises(ExtractorError, match="not on this machine"):
        extractor_weights(header | {"extractor_weights": str(tmp_path / "gone.bin")})


def test_the_training_pools_generated_blend_inserts_content_with_a_soft_seam(photos):
    from imlforensic.training.threeway_data import generated_blend

    host = cv2.resize(photos["coffee"], (384, 256))
    donor = cv2.resize(photos["astronaut"], (200, 150))  # smaller than the host: enlarged to cover it
    edited, mask = generated_blend(host, donor, np.random.default_rng(5))
    changed = np.any(edited != host, axis=2)
    assert edited.shape == host.shape and mask.sum() > 100 and changed[mask].mean() > 0.5
    band = cv2.dilate(mask.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    assert not changed[~band].any()


def test_three_class_metrics_of_a_dataset_with_generated_pictures():
    from imlforensic.metrics.summary import ImageRecord, summarize

    def record(label, verdict, g):
        probs = {"authentic": (1 - g) / 2, "manipulated": (1 - g) / 2, "generated": g}
        return ImageRecord(label, label, 0.5, verdict != "authentic", 0.1, verdict=verdict, class_probs=probs)

    records = [
        record("generated", "generated", 0.9),
        record("generated", "authentic", 0.6),
        record("authentic", "authentic", 0.1),
        record("authentic", "generated", 0.7),
        record("manipulated", "manipulated", 0.2),
    ]
    three = summarize(records).three_class
    assert three["confusion"] == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    assert three["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert three["one_vs_rest_auc"]["generated"] == pytest.approx(5 / 6)  # 0.9, 0.6 vs 0.1, 0.7, 0.2
    assert summarize(records[2:]).three_class is None  # no generated pictures: not reported


def test_evaluate_prints_the_three_class_confusion(tmp_path, runner, photos, generating_weights):
    from imlforensic.cli import app

    weights = generating_weights

    rows = ["image,label,mask,kind"]
    for i, (name, label) in enumerate((("rocket", "generated"), ("coffee", "authentic"))):
        save(cv2.resize(photos[name], (300, 260)), tmp_path / "data" / f"{i}.png")
        rows.append(f"{i}.png,{label},,")
    (tmp_path / "data" / "labels.csv").write_text("\n".join(rows) + "\n")
    args = ["evaluate", str(tmp_path / "data"), "--method", "threeway", "--weights", str(weights), "-q"]
    result = runner.invoke(app, args + ["--json"])
    assert result.exit_code == 0, result.output
    three = json.loads(result.stdout)["datasets"][str(tmp_path / "data")]["three_class"]
    assert three["confusion"] == [[0, 0, 1], [0, 0, 0], [0, 0, 1]]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "three classes, balanced accuracy 0.500" in result.output
