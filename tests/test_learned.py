"""The weakly supervised localizer: training, checkpoints, synthetic edits, tiling, defaults."""

from __future__ import annotations

import copy
import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
from conftest import labelled_folder, save

from imlforensic.data.splits import in_training_part, load_split, parse_spec
from imlforensic.methods.mvcam import LearnedLocalizer, tile_origins
from imlforensic.models.checkpoint import CheckpointError, load_model, read_metadata, save_checkpoint
from imlforensic.models.folding import fold_batch_norms
from imlforensic.models.network import CAMEnsemble, MultiViewCAMNet, NetworkConfig
from imlforensic.training import synth
from imlforensic.training.trainer import PRESETS, train

TINY = NetworkConfig(qualities=(75,), head_width=16)


@pytest.fixture(scope="module")
def tiny_model() -> MultiViewCAMNet:
    torch.manual_seed(0)
    return MultiViewCAMNet(TINY, imagenet_init=True).eval()


def test_tiny_training_lowers_the_loss_and_resumes(tmp_path, photos):
    labelled_folder(tmp_path / "data", photos)
    config = dataclasses.replace(PRESETS["tiny"], steps=40, val_every=10, batch_size=8, lr=2e-3, size=(128, 192))
    checkpoint = train(
        config,
        [str(tmp_path / "data")],
        [],
        [str(tmp_path / "data")],
        tmp_path / "run",
        device="cpu",
        show_progress=False,
    )
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [10, 20, 30, 40]
    assert log[-1]["loss"] < log[0]["loss"]
    metadata = read_metadata(checkpoint)
    assert metadata["steps"] == 40 and metadata["classes"] == ["authentic", "manipulated"]
    assert metadata["data"]["labels"].startswith("image-level only")
    # resuming continues from step 40 to 50 instead of starting again
    longer = dataclasses.replace(config, steps=50)
    train(longer, [str(tmp_path / "data")], [], [], tmp_path / "run", device="cpu", resume=True, show_progress=False)
    assert read_metadata(checkpoint)["steps"] == 50
    assert json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])["step"] == 50


def test_train_command_calibrates_the_checkpoint_on_synthetic_edits(tmp_path, runner, photos):
    from imlforensic.cli import app
    from imlforensic.training.calibration import CANDIDATES

    for name, rgb in photos.items():
        save(cv2.resize(rgb, (192, 128)), tmp_path / "photos" / f"{name}.jpg", quality=92)
    result = runner.invoke(
        app,
        [
            "train",
            "--synthesize-from",
            str(tmp_path / "photos"),
            "--preset",
            "tiny",
            "--steps",
            "4",
            "--out",
            str(tmp_path / "run"),
            "--device",
            "cpu",
            "--quiet",
            "--calibration-samples",
            "12",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "calibrated on 12 synthetic samples" in result.output
    assert f"evaluate DATASET --weights {tmp_path / 'run' / 'last.safetensors'}" in result.output
    metadata = read_metadata(tmp_path / "run" / "last.safetensors")
    assert metadata["steps"] == 4 and set(metadata["thresholds"]) == {"sel", "network"}
    assert all(any(np.isclose(v["threshold"], CANDIDATES)) for v in metadata["thresholds"].values())
    assert np.isfinite(metadata["background"]["logit"]) and metadata["calibration"]["samples"] == 12


def test_background_level_lowers_a_map_raised_everywhere(tiny_model):
    rgb = (np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)
    plain = LearnedLocalizer(tiny_model, "cpu")
    logits = plain.logit_map(rgb)
    median = float(np.median(logits))
    lowered, _ = LearnedLocalizer(tiny_model, "cpu", background=median - 1.0).heatmap(rgb)
    np.testing.assert_allclose(lowered, 1 / (1 + np.exp(-(logits - 1.0))), atol=1e-5)
    unchanged, _ = LearnedLocalizer(tiny_model, "cpu", background=median + 1.0).heatmap(rgb)
    np.testing.assert_allclose(unchanged, 1 / (1 + np.exp(-logits)), atol=1e-5)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, tiny_model):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, tiny_model, {"classes": ["authentic", "manipulated"], "note": "test"})
    loaded, metadata = load_model(path)
    assert metadata["note"] == "test" and metadata["config"]["qualities"] == [75]
    x = torch.randn(1, 6, 64, 96)
    with torch.no_grad():
        assert torch.equal(tiny_model(x)["logit_map"], loaded(x)["logit_map"])
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_model(tmp_path / "bad.safetensors")


def test_folding_batch_norms_keeps_the_outputs(tiny_model):
    from imlforensic.registry import REGISTRY

    model = copy.deepcopy(tiny_model)
    generator = torch.Generator().manual_seed(1)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:  # statistics and affine far from the identity, so a wrong fold shows
        norm.running_mean.normal_(0.0, 0.5, generator=generator)
        norm.running_var.uniform_(0.5, 2.0, generator=generator)
        norm.weight.data.uniform_(0.5, 1.5, generator=generator)
        norm.bias.data.normal_(0.0, 0.2, generator=generator)
    x = torch.randn(1, 6, 64, 96)
    with torch.no_grad():
        before = model(x)
        folded = copy.deepcopy(model)
        assert fold_batch_norms(folded) == len(norms) == 36  # 33 in the backbone, one per block head
        after = folded(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    for key in ("logit_map", "attention_map", "logit"):
        torch.testing.assert_close(after[key], before[key], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="eval-mode"):
        fold_batch_norms(copy.deepcopy(model).train())
    # the registry's learned methods run folded networks
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in REGISTRY.load("mvcam", "cpu").model.modules())


def test_block_maps_fuse_as_a_product_of_experts(tiny_model):
    x = torch.randn(2, 6, 64, 96)
    with torch.no_grad():
        out = tiny_model(x)
        features = tiny_model.encoder(x)
        blocks = [head(f) for head, f in zip(tiny_model.cam_heads, features)]
    assert [f.shape[-1] for f in features] == [24, 12, 6]  # strides 4, 8, 16
    # only the stages that feed a block are computed: stride 16 is the fifth of lite0's seven
    assert len(tiny_model.encoder.blocks) == 5
    expected = torch.stack([torch.nn.functional.interpolate(b, size=(16, 24), mode="bilinear") for b in blocks]).mean(0)
    torch.testing.assert_close(out["logit_map"], expected)
    weights = out["block_weights"]
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    upsampled = [torch.nn.functional.interpolate(b, size=(16, 24), mode="bilinear") for b in blocks]
    torch.testing.assert_close(
        out["attention_map"], sum(weights[:, i, None, None, None] * u for i, u in enumerate(upsampled))
    )


def test_ensemble_averages_its_members_and_round_trips(tmp_path):
    torch.manual_seed(1)
    members = [MultiViewCAMNet(TINY, imagenet_init=False).eval() for _ in range(2)]
    ensemble = CAMEnsemble(members).eval()
    x = torch.randn(1, 6, 64, 96)
    with torch.no_grad():
        maps = [m(x)["logit_map"] for m in members]
        torch.testing.assert_close(ensemble(x)["logit_map"], (maps[0] + maps[1]) / 2)
        assert not torch.equal(maps[0], maps[1])
    path = tmp_path / "ensemble.safetensors"
    save_checkpoint(path, ensemble, {"note": "two"})
    loaded, metadata = load_model(path)
    assert isinstance(loaded, CAMEnsemble) and len(loaded.members) == 2 and metadata["members"] == 2
    with torch.no_grad():
        assert torch.equal(loaded(x)["logit_map"], ensemble(x)["logit_map"])
    with pytest.raises(ValueError, match="same configuration"):
        CAMEnsemble([members[0], MultiViewCAMNet(dataclasses.replace(TINY, head_width=8), imagenet_init=False)])


def test_flip_averaging_makes_the_map_mirror_equivariant(tiny_model):
    views = torch.randn(1, 6, 64, 96)  # width a multiple of 32: no padding, so the mirror is exact
    mirrored = torch.flip(views, dims=[3])
    with_flip = LearnedLocalizer(tiny_model, "cpu", flip=True)
    np.testing.assert_allclose(with_flip._run(mirrored), with_flip._run(views)[:, ::-1], atol=1e-5)
    without = LearnedLocalizer(tiny_model, "cpu", flip=False)
    assert np.abs(without._run(mirrored) - without._run(views)[:, ::-1]).max() > 1e-3


def test_ensemble_members_take_turns_reading_the_mirror_image():
    torch.manual_seed(2)
    members = [MultiViewCAMNet(TINY, imagenet_init=False).eval() for _ in range(2)]
    views = torch.randn(1, 6, 64, 96)
    with torch.no_grad():
        expected = 0.5 * (
            members[0](views)["logit_map"] + torch.flip(members[1](torch.flip(views, dims=[3]))["logit_map"], dims=[3])
        )
    expected = torch.nn.functional.interpolate(expected, size=(64, 96), mode="bilinear")[0, 0].numpy()
    localizer = LearnedLocalizer(CAMEnsemble(members).eval(), "cpu", flip=True)
    np.testing.assert_allclose(localizer._run(views), expected, atol=1e-5)
    assert len(localizer._passes()) == 2 and len(LearnedLocalizer(members[0], "cpu")._passes()) == 2


@pytest.mark.parametrize("kind", synth.KINDS)
def test_synthetic_edit_mask_matches_what_changed(photos, kind):
    rng = np.random.default_rng(3)
    host = cv2.resize(photos["coffee"], (384, 256))
    if kind == "splice":
        edited, mask = synth.splice(host, cv2.resize(photos["astronaut"], (384, 256)), rng)
    else:
        edited, mask = {
            "copymove": synth.copy_move,
            "removal": synth.removal,
            "retouch": synth.retouch,
            "double_jpeg": synth.double_jpeg,
        }[kind](host, rng)
    changed = np.any(edited != host, axis=2)
    assert mask.sum() > 100
    assert changed[mask].mean() > 0.5  # what the mask marks did change
    band = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert not changed[~band].any()  # nothing changed away from the mask (feathering stays near it)


def test_synthesizer_samples_share_the_global_chain(tmp_path, photos):
    for name, rgb in photos.items():
        save(rgb, tmp_path / f"{name}.jpg", quality=95)
    editor = synth.EditSynthesizer(sorted(tmp_path.glob("*.jpg")), size=(128, 192))
    rng = np.random.default_rng(0)
    samples = [editor.sample(rng) for _ in range(16)]
    assert all(s.rgb.shape == (128, 192, 3) and s.mask.shape == (128, 192) for s in samples)
    assert {s.label for s in samples} == {0, 1}
    assert all((s.label == 1) == bool(s.mask.any()) for s in samples)


def test_generated_donors_add_the_generated_blend_edit(tmp_path, photos):
    for name in ("coffee", "chelsea"):
        save(photos[name], tmp_path / "photos" / f"{name}.jpg", quality=95)
    save(photos["rocket"], tmp_path / "generated" / "rocket.png")
    editor = synth.EditSynthesizer(
        sorted((tmp_path / "photos").glob("*.jpg")), size=(128, 192), donors=[tmp_path / "generated" / "rocket.png"]
    )
    assert editor.kinds[-1] == synth.GENERATED_KIND
    assert synth.GENERATED_KIND not in synth.EditSynthesizer(editor.photos).kinds  # only with donors
    host = cv2.resize(photos["coffee"], (192, 128))
    edited, mask = editor.edit(host, synth.GENERATED_KIND, np.random.default_rng(5))
    changed = np.any(edited != host, axis=2)
    assert mask.sum() > 100 and changed[mask].mean() > 0.5
    band = cv2.dilate(mask.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    assert not changed[~band].any()  # the feathered seam stays near the mask


def test_the_sharing_chain_ends_in_jpeg_webp_or_nothing(tmp_path, photos):
    save(photos["coffee"], tmp_path / "coffee.png")
    editor = synth.EditSynthesizer([tmp_path / "coffee.png"], size=(96, 128))
    rgb = cv2.resize(photos["coffee"], (128, 96))
    empty = np.zeros((96, 128), bool)
    endings = {"jpeg": 0, "webp_or_none": 0, "none": 0}
    for seed in range(60):
        out, mask, table = editor.postprocess(rgb, empty, np.random.default_rng(seed))
        assert out.shape == (96, 128, 3) and mask.shape == (96, 128) and not mask.any()
        if table is not None:
            endings["jpeg"] += 1
        else:
            endings["webp_or_none"] += 1
            endings["none"] += int(np.array_equal(out, rgb))
    assert endings["jpeg"] > 25 and endings["webp_or_none"] > 5  # about 70 % / 30 %
    assert 0 < endings["none"] < endings["webp_or_none"]  # some lossless, some WebP


def test_tiled_inference_keeps_the_image_size(tiny_model):
    rgb = (np.random.default_rng(0).random((203, 331, 3)) * 255).astype(np.uint8)
    tiled = LearnedLocalizer(tiny_model, "cpu", tile=128, overlap=32).logit_map(rgb)
    whole = LearnedLocalizer(tiny_model, "cpu", tile=4096).logit_map(rgb)
    assert tiled.shape == whole.shape == (203, 331)
    assert np.corrcoef(tiled.ravel(), whole.ravel())[0, 1] > 0.9
    assert tile_origins(1000, 1024, 128) == [0]
    origins = tile_origins(3000, 1024, 128)
    assert origins[0] == 0 and origins[-1] + 1024 >= 3000 and all(o % 32 == 0 for o in origins)
    assert all(b - a <= 1024 - 128 for a, b in zip(origins, origins[1:]))


def test_fixed_split_by_name(tmp_path):
    assert parse_spec("data/x@val") == (parse_spec("data/x")[0], "val")
    assert parse_spec("odd@name") == (parse_spec("odd@name")[0], None)
    names = [f"img{i}.jpg" for i in range(400)]
    share = np.mean([in_training_part(n) for n in names])
    assert 0.4 < share < 0.6
    (tmp_path / "authentic").mkdir()
    for n in names[:40]:
        (tmp_path / "authentic" / n).write_bytes(b"x")
    train_part = {s.name for s in load_split(f"{tmp_path}@train")}
    val_part = {s.name for s in load_split(f"{tmp_path}@val")}
    assert train_part and val_part and not train_part & val_part and len(train_part | val_part) == 40


def test_cli_uses_the_shipped_weights_by_default(tmp_path, runner, photos):
    from imlforensic.cli import app
    from imlforensic.io.hashing import sha256_file as file_sha256
    from imlforensic.registry import DEFAULT_METHOD, REGISTRY

    entry = REGISTRY.entry(DEFAULT_METHOD)
    assert DEFAULT_METHOD == "mvcam" and REGISTRY.state(entry) == "ready"
    weights = entry.weights.locate()
    assert weights.stat().st_size <= 30e6 and file_sha256(weights) == entry.weights.sha256
    image = save(cv2.resize(photos["coffee"], (384, 288)), tmp_path / "c.jpg", quality=90)
    result = runner.invoke(app, ["localize", str(image), "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["method"]["name"] == "mvcam" and record["method"]["weights_sha256"] == entry.weights.sha256
    # mvcam 2.3 decides at 0.5 on its calibrated map (the fused map's threshold is in the registry entry)
    assert record["threshold"] == 0.5 and entry.extra["fusion"]["decision"][0] > 0.5
    assert "thresholds" in read_metadata(weights)  # the checkpoint's own, used for a user's checkpoint
    assert record["details"]["background_shift_logit"] >= 0.0
    assert record["reliability"]["in_domain"] is True
    heatmap = cv2.imread(str(tmp_path / "o" / "c.jpg.heatmap.png"), cv2.IMREAD_GRAYSCALE)
    assert heatmap.shape == (288, 384)


def test_default_falls_back_to_classical_without_weights(tmp_path, runner, photos, monkeypatch):
    from imlforensic.cli import app
    from imlforensic.registry import REGISTRY, BundledFile

    entry = REGISTRY.entry("mvcam")
    monkeypatch.setitem(
        REGISTRY._entries, "mvcam", dataclasses.replace(entry, weights=BundledFile("absent.safetensors"))
    )
    REGISTRY.clear()  # a model built by an earlier test would otherwise be reused
    image = save(photos["coffee"], tmp_path / "c.jpg", quality=90)
    result = runner.invoke(app, ["detect", str(image), "--json"])
    assert result.exit_code == 0
    assert "default method 'mvcam' is unavailable (missing weights); using 'classical'" in result.stderr
    assert json.loads(result.stdout)["method"]["name"] == "classical"
    result = runner.invoke(app, ["detect", str(image), "--method", "mvcam"])
    assert result.exit_code == 1 and "weights for 'mvcam' are not installed" in result.stderr


@pytest.mark.parametrize("copied", [False, True])
def test_default_method_adds_the_sel_and_copy_move_evidence_to_the_network_map(tmp_path, photos, copied):
    from imlforensic.io.images import load_image
    from imlforensic.maps import pool_score
    from imlforensic.registry import REGISTRY
    from imlforensic.views.copy_move import EVIDENCE_LOGIT, find_copies

    rgb = cv2.resize(photos["astronaut" if copied else "coffee"], (384, 256) if copied else (256, 192))
    if copied:
        rgb[100:164, 190:254] = rgb[60:124, 40:104].copy()
    image = load_image(save(rgb, tmp_path / "c.jpg", quality=85))
    fused = REGISTRY.load("mvcam", "cpu").analyse(image)
    network = REGISTRY.load("mvcam-net", "cpu").analyse(image).heatmap
    sel = REGISTRY.load("sel", "cpu").analyse(image).heatmap
    np.testing.assert_allclose(fused.views["network"], network, atol=1e-5)
    np.testing.assert_allclose(fused.views["sel"], sel, atol=1e-6)
    copies = fused.views["copymove"]
    assert fused.details["copy_move_pairs"] == int(copied) and fused.details["copy_move_repetitions"] == 0
    assert (copies[100:164, 190:254] >= 0.5).mean() > 0.3 if copied else not copies.any()

    def logit(p):
        p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    # log-odds add up; the sel view's evidence is zero where its calibrated map reads sigmoid(-3);
    # the copy-move view's EVIDENCE_LOGIT is shared between the two regions of a pair by the
    # medians of the rest of the evidence (E + log 2 sigmoid(z_region - z_other_region)), zero elsewhere
    # mvcam 2.3: sel's log-odds weighted and capped, then the calibrated decision sigmoid(a (z - logit t))
    fusion = REGISTRY.entry("mvcam").extra["fusion"]
    other = logit(network) + fusion["sel_weight"] * np.minimum(logit(sel) + 3.0, fusion["sel_cap"])
    evidence = np.zeros_like(other)
    pairs = find_copies(image.rgb).pairs
    assert len(pairs) == int(copied)
    for pair in pairs:
        z_source, z_target = (np.median(other[region >= 0.5]) for region in (pair.source, pair.target))
        for region, lead in ((pair.source, z_source - z_target), (pair.target, z_target - z_source)):
            evidence = np.maximum(evidence, region * max(0.0, EVIDENCE_LOGIT + np.log(2 / (1 + np.exp(-lead)))))
    threshold, slope = fusion["decision"]
    expected = 1 / (1 + np.exp(-slope * (other + evidence - np.log(threshold / (1 - threshold)))))
    inside = (network > 1e-4) & (network < 1 - 1e-4) & (sel > 1e-4) & (sel < 1 - 1e-4)
    np.testing.assert_allclose(fused.heatmap[inside], expected[inside], atol=2e-3)
    assert fused.heatmap.shape == rgb.shape[:2] and fused.score == pytest.approx(pool_score(fused.heatmap))
    thresholds = read_metadata(REGISTRY.weights_path("mvcam"))["thresholds"]
    assert REGISTRY.load("mvcam", "cpu").default_threshold == thresholds["sel"]["threshold"]
    assert REGISTRY.load("mvcam-net", "cpu").default_threshold == thresholds["network"]["threshold"]


def test_weights_option_runs_a_trained_checkpoint(tmp_path, runner, photos, tiny_model, isolated_registry):
    from imlforensic.cli import app
    from imlforensic.io.hashing import sha256_file as file_sha256

    checkpoint = tmp_path / "mine.safetensors"
    save_checkpoint(
        checkpoint,
        tiny_model,
        {
            "classes": ["authentic", "manipulated"],
            "thresholds": {"sel": {"threshold": 0.7}, "network": {"threshold": 0.6}},
        },
    )
    # large enough to be in the domain (reliability notes would raise the threshold of a small picture)
    image = save(cv2.resize(photos["coffee"], (384, 288)), tmp_path / "c.jpg", quality=90)
    result = runner.invoke(
        app,
        [
            "localize",
            str(image),
            "--method",
            "mvcam-net",
            "--weights",
            str(checkpoint),
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["method"]["name"] == "mvcam-net" and record["method"]["version"] == "2.0+local"
    assert record["method"]["weights_sha256"] == file_sha256(checkpoint)
    assert record["threshold"] == pytest.approx(0.6)  # the checkpoint's own, not the shipped one

    labelled_folder(tmp_path / "data", photos, n=3)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "data"), "--weights", str(checkpoint), "--json", "-q"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["method"] == "mvcam" and payload["weights"] == str(checkpoint) and payload["threshold"] == 0.7
    assert payload["datasets"][str(tmp_path / "data")]["image_auc"] is not None


def test_weights_option_rejects_bad_choices(tmp_path, runner, photos, isolated_registry):
    from imlforensic.cli import app

    image = save(cv2.resize(photos["coffee"], (96, 64)), tmp_path / "c.jpg", quality=90)
    result = runner.invoke(app, ["detect", str(image), "--method", "classical", "--weights", str(image)])
    assert result.exit_code == 2
    assert (
        "--weights goes with a learned method (mvcam, mvcam-net, transcam, transcam-cam, transcam-attention, threeway, "
        "boxprompt), not 'classical'" in result.stderr
    )
    result = runner.invoke(app, ["detect", str(image), "--weights", str(tmp_path / "absent.safetensors")])
    assert result.exit_code == 1 and "absent.safetensors: no such file" in result.stderr
    result = runner.invoke(app, ["evaluate", str(tmp_path), "--weights", str(image)])
    assert result.exit_code == 1 and "cannot load 'mvcam':" in result.stderr
    assert "not a readable safetensors checkpoint" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_sel_evidence_is_capped_and_the_decision_calibrated(tiny_model, photos):
    """mvcam 2.3: sel's log-likelihood ratio is capped, and with a calibrated decision (t, a) the
    map is sigmoid(a * (z - logit t)): a score at t becomes 0.5, the order of pixels is kept."""
    rgb = cv2.resize(photos["coffee"], (192, 128))
    logits = np.zeros((128, 192), np.float32)
    anomaly = np.zeros((128, 192), np.float32)
    anomaly[20:80, 30:120] = 60.0  # an enormous error-level anomaly: uncapped, it saturates the map
    plain = LearnedLocalizer(tiny_model, "cpu", fuse_sel=True)
    capped = LearnedLocalizer(tiny_model, "cpu", fuse_sel=True, sel_cap=1.0)
    uncapped_map = plain.read_logits(logits, rgb, anomaly=anomaly)[0]
    capped_map = capped.read_logits(logits, rgb, anomaly=anomaly)[0]
    assert uncapped_map[50, 60] > 0.999
    assert capped_map[50, 60] == pytest.approx(1 / (1 + np.exp(-1.0)), abs=1e-3)  # z = 0 + min(llr, 1)
    calibrated = LearnedLocalizer(tiny_model, "cpu", fuse_sel=True, sel_cap=1.0, decision=(0.7, 2.0))
    assert calibrated.default_threshold == 0.5
    calibrated_map = calibrated.read_logits(logits, rgb, anomaly=anomaly)[0]
    z = np.log(capped_map / (1 - capped_map))
    expected = 1 / (1 + np.exp(-2.0 * (z - np.log(0.7 / 0.3))))
    np.testing.assert_allclose(calibrated_map, expected, atol=1e-4)
    order = np.argsort(capped_map.ravel(), kind="stable")
    assert np.all(np.diff(calibrated_map.ravel()[order]) >= -1e-6)  # monotone: same ranking of pixels
