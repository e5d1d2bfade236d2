"""BoxPromptIML (issue 18): box files, the memory-guided fusion module, the losses, a tiny
training that fits boxed synthetic images, and annotate -> train-boxprompt -> localize via the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import math

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from imlforensic.cli import app
from imlforensic.data.datasets import load_dataset
from imlforensic.io.images import load_image
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.models.boxprompt import (
    BoxPromptNet,
    LossConfig,
    MemoryGuidedFusion,
    distillation_loss,
    load_boxprompt,
    save_boxprompt,
)
from imlforensic.models.checkpoint import CheckpointError
from imlforensic.refiners.base import Refiner
from imlforensic.refiners.bayes import FusionParams, FusionResult
from imlforensic.refiners.prompts import BoxError, box_mask
from imlforensic.registry.cards import ModelCard
from imlforensic.training.annotate import Z_OUTSIDE, Teacher, annotate, load_pseudo, read_index
from imlforensic.training.boxes import boxes_from_mask, match_boxes, read_box_file, sample_key
from imlforensic.training.boxprompt import PRESETS, train

runner = CliRunner()
H, W = 64, 96


# ----------------------------------------------------------------------------- data made here


def boxed_image(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth textured picture with a pasted square of a different texture, and the square's mask."""
    rng = np.random.default_rng(seed)
    rgb = cv2.GaussianBlur(rng.integers(60, 120, (H, W, 3)).astype(np.uint8), (5, 5), 0)
    mask = np.zeros((H, W), bool)
    y, x, s = int(rng.integers(6, H - 30)), int(rng.integers(6, W - 30)), int(rng.integers(16, 24))
    mask[y : y + s, x : x + s] = True
    rgb[mask] = np.clip(rng.normal(200, 25, (int(mask.sum()), 3)), 0, 255).astype(np.uint8)
    return rgb, mask


def write_dataset(root, count: int = 4, authentic: int = 1) -> dict[str, np.ndarray]:
    """A labels.csv dataset of boxed pictures (their masks only kept by the test) and authentic ones."""
    (root / "images").mkdir(parents=True)
    rows, masks = ["image,label,mask,kind"], {}
    for i in range(count):
        rgb, mask = boxed_image(i)
        name = f"images/edit{i}.png"
        cv2.imwrite(str(root / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        rows.append(f"{name},manipulated,,splice")
        masks[name] = mask
    for i in range(authentic):
        rgb, _ = boxed_image(100 + i)
        rgb = cv2.GaussianBlur(np.full((H, W, 3), 90, np.uint8) + rgb // 8, (5, 5), 0)
        cv2.imwrite(str(root / f"images/au{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        rows.append(f"images/au{i}.png,authentic,,")
    (root / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return masks


class BrightRefiner(Refiner):
    """A stand-in teacher: inside each box, the pixels brighter than the box's mean."""

    name = "bright"

    def fuse(self, rgb, coarse, boxes, params: FusionParams) -> FusionResult:
        grey = rgb.mean(axis=2)
        posterior = np.zeros(grey.shape, np.float32)
        for box in boxes or []:
            inside = box_mask([box], grey.shape)
            posterior[inside & (grey > grey[inside].mean())] = 0.99
            posterior[inside & (grey <= grey[inside].mean())] = 0.02
        return FusionResult(posterior=posterior, region_probability=posterior)


# ----------------------------------------------------------------------------- boxes


def test_box_files_csv_and_json(tmp_path):
    (tmp_path / "b.csv").write_text("image,x0,y0,x1,y1\nimages/a.png,1,2,30,40\nimages/a.png,5,5,9,9\nb.png,0,0,4,4\n")
    (tmp_path / "b.json").write_text(
        json.dumps({"images/a.png": [[1, 2, 30, 40], [5, 5, 9, 9]], "b.png": [[0, 0, 4, 4]]})
    )
    listed = [
        {"image": "images/a.png", "boxes": [[1, 2, 30, 40], [5, 5, 9, 9]]},
        {"image": "b.png", "boxes": [[0, 0, 4, 4]]},
    ]
    (tmp_path / "c.json").write_text(json.dumps(listed))
    expected = {"images/a.png": [(1.0, 2.0, 30.0, 40.0), (5.0, 5.0, 9.0, 9.0)], "b.png": [(0.0, 0.0, 4.0, 4.0)]}
    for name in ("b.csv", "b.json", "c.json"):
        assert read_box_file(tmp_path / name) == expected
    (tmp_path / "bad.csv").write_text("image,x0,y0,x1,y1\na.png,5,5,2,9\n")
    with pytest.raises(BoxError, match="x0 < x1"):
        read_box_file(tmp_path / "bad.csv")
    (tmp_path / "nohead.csv").write_text("a.png,1,2,3,4\n")
    with pytest.raises(BoxError, match="header"):
        read_box_file(tmp_path / "nohead.csv")


def test_boxes_match_relative_paths_and_unique_names(tmp_path):
    write_dataset(tmp_path / "ds", count=2)
    samples = load_dataset(tmp_path / "ds")
    keys = [sample_key(s, tmp_path / "ds") for s in samples]
    assert keys[:2] == ["images/edit0.png", "images/edit1.png"]
    found = match_boxes(samples, tmp_path / "ds", {"edit0.png": [(0, 0, 5, 5)], "images/edit1.png": [(1, 1, 4, 4)]})
    assert found == {"images/edit0.png": [(0, 0, 5, 5)], "images/edit1.png": [(1, 1, 4, 4)]}
    with pytest.raises(BoxError, match="no such image"):
        match_boxes(samples, tmp_path / "ds", {"missing.png": [(0, 0, 5, 5)]})


def test_boxes_from_mask_are_region_bounds_with_margin():
    mask = np.zeros((100, 200), bool)
    mask[10:30, 20:60] = True  # 800 px
    mask[50:90, 100:180] = True  # 3200 px: listed first
    mask[95, 5] = True  # a speck below 0.1 % of the picture: no box
    assert boxes_from_mask(mask) == [(100.0, 50.0, 180.0, 90.0), (20.0, 10.0, 60.0, 30.0)]
    assert boxes_from_mask(mask, margin=0.1)[1] == (16.0, 8.0, 64.0, 32.0)


# ----------------------------------------------------------------------------- the memory module


def test_memory_module_shapes_attention_and_gate():
    torch.manual_seed(0)
    module = MemoryGuidedFusion(channels=24, dim=16, prototypes=8).eval()
    features = torch.randn(2, 24, 5, 7)
    with torch.no_grad():
        parts = module.parts(features)
    assert parts["fused"].shape == features.shape
    assert parts["attention"].shape == (2, 35, 8)
    torch.testing.assert_close(parts["attention"].sum(-1), torch.ones(2, 35))
    assert parts["gate"].shape == (2, 16, 5, 7)
    assert 0.0 < float(parts["gate"].min()) and float(parts["gate"].max()) < 1.0

    with torch.no_grad():  # a gate forced open uses the recalled memory only, closed the observation only
        module.gate.weight.zero_()
        module.gate.bias.fill_(30.0)
        opened = module.parts(features)
        torch.testing.assert_close(opened["fused"], features + module.out(opened["recall"]))
        module.gate.bias.fill_(-30.0)
        closed = module.parts(features)
        torch.testing.assert_close(closed["fused"], features + module.out(closed["observation"]))


def test_recall_reads_the_prototype_bank():
    module = MemoryGuidedFusion(channels=8, dim=4, prototypes=3).eval()
    with torch.no_grad():  # every prototype the same vector: whatever attends, the recall is that vector
        module.memory.copy_(torch.tensor([1.0, -2.0, 0.5, 3.0]).expand(3, 4))
        recall = module.parts(torch.randn(1, 8, 4, 4))["recall"]
    torch.testing.assert_close(recall[0, :, 2, 3], torch.tensor([1.0, -2.0, 0.5, 3.0]))


def test_without_memory_the_features_pass_unchanged():
    config = dataclasses.replace(PRESETS["tiny"].model, memory=False)
    model = BoxPromptNet(config, imagenet_init=False)
    assert isinstance(model.fusion, torch.nn.Identity)
    assert model(torch.zeros(1, 4, 64, 96)).shape == (1, 1, 64, 96)


# ----------------------------------------------------------------------------- losses


def test_losses_on_hand_made_inputs():
    n = 16
    zeros = torch.zeros(1, 1, 4, 4)
    terms = distillation_loss(zeros, zeros, LossConfig(temperature=2.0))
    assert float(terms["bce"]) == pytest.approx(math.log(2.0), abs=1e-6)
    assert float(terms["kd"]) == pytest.approx(0.0, abs=1e-7)
    assert float(terms["dice"]) == pytest.approx(1 - (0.5 * n + 1) / (n + 1), abs=1e-6)

    # teacher logit 2, student 0, T = 2: T^2 KL(Bern(sigmoid(1)) || Bern(1/2))
    p = 1 / (1 + math.exp(-1.0))
    kl = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    terms = distillation_loss(zeros, torch.full((1, 1, 4, 4), 2.0), LossConfig(temperature=2.0, kd=0.5))
    assert float(terms["kd"]) == pytest.approx(4 * kl, abs=1e-5)
    t = 1 / (1 + math.exp(-2.0))  # the soft target is sigmoid(z_T), at temperature 1
    bce = -(t * math.log(0.5) + (1 - t) * math.log(0.5))
    dice = 1 - (2 * 0.5 * t * n + 1) / (0.5 * n + t * n + 1)
    assert float(terms["loss"]) == pytest.approx(bce + dice + 0.5 * 4 * kl, abs=1e-5)

    hard = distillation_loss(zeros, torch.full((1, 1, 4, 4), 0.3), LossConfig(hard=True))
    assert "kd" not in hard
    assert float(hard["dice"]) == pytest.approx(1 - (2 * 0.5 * n + 1) / (0.5 * n + n + 1), abs=1e-6)

    teacher = torch.tensor([[[[4.0, -4.0], [4.0, -4.0]]]])
    assert float(distillation_loss(teacher, teacher)["kd"]) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(-teacher, teacher)["loss"]) > float(distillation_loss(teacher, teacher)["loss"])


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_and_untrusted_config(tmp_path):
    model = BoxPromptNet(PRESETS["tiny"].model, imagenet_init=False).eval()
    save_boxprompt(tmp_path / "m.safetensors", model, {"threshold": 0.4})
    loaded, metadata = load_boxprompt(tmp_path / "m.safetensors")
    assert metadata["threshold"] == 0.4
    x = torch.randn(1, 4, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    huge = dataclasses.replace(PRESETS["tiny"].model, decoder_width=16)
    model.config = dataclasses.replace(huge, decoder_width=100000)  # what a hostile file could declare
    save_boxprompt(tmp_path / "bad.safetensors", model, {})
    with pytest.raises(CheckpointError, match="decoder_width"):
        load_boxprompt(tmp_path / "bad.safetensors")


# ----------------------------------------------------------------------------- annotation and training


def test_annotate_keeps_soft_logits_and_resumes(tmp_path):
    masks = write_dataset(tmp_path / "ds", count=3)
    samples = load_dataset(tmp_path / "ds")
    keys = [sample_key(s, tmp_path / "ds") for s in samples]
    boxes = {k: boxes_from_mask(m, margin=0.2) for k, m in masks.items()}
    teacher = Teacher(BrightRefiner())
    summary = annotate(samples, keys, boxes, teacher, tmp_path / "ann", show_progress=False)
    assert (summary.annotated, summary.authentic, summary.skipped) == (3, 1, 0)
    entries = read_index(tmp_path / "ann")
    assert [e.label for e in entries] == ["manipulated"] * 3 + ["authentic"]
    first = entries[0]
    assert first.pseudo is not None
    logits = load_pseudo(first.pseudo)
    assert logits.shape == (H, W)
    outside = ~box_mask(boxes["images/edit0.png"], (H, W))
    assert np.all(logits[outside] == Z_OUTSIDE)
    pseudo = logits >= 0
    assert (pseudo & masks["images/edit0.png"]).sum() / (pseudo | masks["images/edit0.png"]).sum() > 0.8
    assert logits.max() == pytest.approx(math.log(0.99 / 0.01), abs=0.01)  # soft: the teacher's 0.99, not 1
    again = annotate(samples, keys, boxes, teacher, tmp_path / "ann", show_progress=False)
    assert (again.annotated, again.skipped) == (0, 3)


def test_tiny_training_fits_boxed_synthetic_images(tmp_path):
    masks = write_dataset(tmp_path / "ds", count=4, authentic=0)
    samples = load_dataset(tmp_path / "ds")
    keys = [sample_key(s, tmp_path / "ds") for s in samples]
    boxes = {k: boxes_from_mask(m, margin=0.2) for k, m in masks.items()}
    annotate(samples, keys, boxes, Teacher(BrightRefiner()), tmp_path / "ann", show_progress=False)
    config = dataclasses.replace(PRESETS["tiny"], steps=24, val_every=6, batch_size=4)
    checkpoint = train(config, [tmp_path / "ann"], [], tmp_path / "run", show_progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [6, 12, 18, 24]
    assert log[-1]["loss_mean"] < 0.75 * log[0]["loss_mean"]
    model, metadata = load_boxprompt(checkpoint)
    assert metadata["steps"] == 24
    from imlforensic.methods.boxprompt import student_logits

    rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "ds/images/edit0.png")), cv2.COLOR_BGR2RGB)
    predicted = student_logits(model, rgb, None, "cpu") >= 0
    gt = masks["images/edit0.png"]
    assert (predicted & gt).sum() / max(1, (predicted | gt).sum()) > 0.4

    resumed = dataclasses.replace(config, steps=26)
    train(resumed, [tmp_path / "ann"], [], tmp_path / "run", resume=True, show_progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 26 and len(log) == 5


def test_annotate_train_localize_through_the_cli(tmp_path):
    masks = write_dataset(tmp_path / "ds", count=3)
    with open(tmp_path / "boxes.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "x0", "y0", "x1", "y1"])
        for name, mask in masks.items():
            writer.writerows([name.split("/")[-1], *box] for box in boxes_from_mask(mask, margin=0.2))
    ann, run, out = tmp_path / "ann", tmp_path / "run", tmp_path / "out"
    args = ["annotate", str(tmp_path / "ds"), "--boxes", str(tmp_path / "boxes.csv"), "--refiner", "grabcut"]
    result = runner.invoke(app, [*args, "--out", str(ann), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    assert "annotated 3 images, resumed 0 (3 boxes in all)" in result.stdout and "teacher grabcut" in result.stdout
    assert json.loads((ann / "teacher.json").read_text())["refiner"]["name"] == "grabcut"
    assert len(list((ann / "pseudo").glob("*.safetensors"))) == 3
    result = runner.invoke(app, [*args, "--out", str(ann), "--device", "cpu", "-q"])
    assert "resumed 3" in result.stdout

    result = runner.invoke(
        app,
        ["train-boxprompt", str(ann), "--preset", "tiny", "--steps", "3", "--out", str(run), "--device", "cpu", "-q"],
    )
    assert result.exit_code == 0, result.output
    weights = run / "last.safetensors"
    result = runner.invoke(
        app,
        ["localize", str(tmp_path / "ds/images/edit0.png"), "-m", "boxprompt", "--weights", str(weights)]
        + ["-o", str(out), "--device", "cpu", "-q", "--json"],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["method"]["name"] == "boxprompt" and record["method"]["version"] == "0.1+local"
    assert (out / "edit0.png.mask.png").is_file()
    result = runner.invoke(
        app, ["evaluate", str(tmp_path / "ds"), "-m", "boxprompt", "--weights", str(weights), "--device", "cpu", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "method boxprompt" in result.stdout


def test_report_appendix_describes_boxprompt():
    from imlforensic.registry import ModelCard
    from imlforensic.report.methods import describe

    [description] = describe(ModelCard(name="boxprompt", task="detector", version="0.1"))
    assert description.title.startswith("boxprompt (version 0.1): BoxPromptIML student")
    assert any("Guo" in reference and "coarse-grained annotations" in reference for reference in description.references)


def test_boxprompt_without_weights_is_a_clean_error(tmp_path):
    write_dataset(tmp_path / "ds", count=1, authentic=0)
    result = runner.invoke(
        app, ["localize", str(tmp_path / "ds/images/edit0.png"), "-m", "boxprompt", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "weights for 'boxprompt' are not installed" in result.output


class TwoCandidates(BrightRefiner):
    """A stand-in for SamRefiner.box_candidates: a fixed "SAM mask" (the left half of the box) and the box."""

    def box_candidates(self, rgb, boxes):
        from imlforensic.refiners.bayes import CandidateGroup

        groups = []
        for box in boxes:
            domain = box_mask([box], rgb.shape[:2])
            half = domain.copy()
            half[:, int((box[0] + box[2]) / 2) :] = False
            groups.append(CandidateGroup(domain=domain, candidates=[half, domain], weights=[0.9, 0.9]))
        return groups


class MapMethod(Method):
    def __init__(self, heatmap):
        super().__init__(ModelCard(name="map", task="detector"), 0.5)
        self.heatmap = heatmap

    def analyse(self, image):
        return MethodOutput(heatmap=self.heatmap, score=float(self.heatmap.max()))


def test_the_fused_teacher_lets_the_map_choose_between_sam_and_the_box(tmp_path):
    rgb, _ = boxed_image(0)
    cv2.imwrite(str(tmp_path / "a.png"), rgb)
    image = load_image(tmp_path / "a.png")
    box = (20.0, 10.0, 60.0, 50.0)
    everywhere = np.full((H, W), 0.05, np.float32)
    everywhere[10:50, 20:60] = 0.9  # the map sees an edit over the whole box
    left = np.full((H, W), 0.05, np.float32)
    left[10:50, 20:40] = 0.9  # ... or only over the left half, SAM's candidate
    whole = Teacher(TwoCandidates(), MapMethod(everywhere)).logits(image, [box]) >= 0
    half = Teacher(TwoCandidates(), MapMethod(left)).logits(image, [box]) >= 0
    assert whole[10:50, 20:60].all() and not whole[:, 60:].any()
    assert half[10:50, 20:40].all() and not half[10:50, 41:60].any()
