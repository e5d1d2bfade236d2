"""The CNN-Transformer dual-stream localizer (paper 3): coupling, maps, training, tiles, the method."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
from conftest import labelled_folder, save

from imlforensic.maps import pool_score
from imlforensic.methods.mvcam import LearnedLocalizer
from imlforensic.models.checkpoint import CheckpointError, load_model, read_metadata, save_checkpoint
from imlforensic.models.folding import fold_batch_norms
from imlforensic.models.transcam import TransCAMConfig, TransCAMNet, token_grid, transcam_loss
from imlforensic.training.trainer import TRANSCAM_PRESETS, train

TINY = TransCAMConfig(embed_dim=32, heads=2, head_width=16)


@pytest.fixture(scope="module")
def tiny_model() -> TransCAMNet:
    torch.manual_seed(0)
    return TransCAMNet(TINY, imagenet_init=True).eval()


def _views(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((2, 22, h, w), np.float32))


def test_coupling_shapes_both_ways(tiny_model):
    grid = token_grid(96, 160, TINY.token_stride)
    assert grid == (6, 10)
    stages = list(tiny_model.encoder.blocks)[TINY.first_stage :]
    assert len(stages) == len(tiny_model.down) == len(tiny_model.up) == len(TINY.depths) == 4
    x = tiny_model.encoder.bn1(tiny_model.encoder.conv_stem(_views(96, 160)))
    x = tiny_model.encoder.blocks[0](x)
    for stage, down, up in zip(stages, tiny_model.down, tiny_model.up):
        x = stage(x)
        tokens = down(x, grid)  # CNN -> tokens: (B, N, E), LayerNorm'd
        assert tokens.shape == (2, 60, TINY.embed_dim)
        back = up(tokens, grid, x.shape[-2:])  # tokens -> CNN: the stage's channels and size
        assert back.shape == x.shape
    assert x.shape[-2:] == grid  # the last coupled stage is at the token resolution (the CAM's)


def test_product_map_size_range_and_affinity(tiny_model):
    with torch.no_grad():
        out = tiny_model(_views(96, 160), with_affinity=True)
    for key in ("logit_map", "cam_logit_map", "attention_logit_map"):
        assert out[key].shape == (2, 1, 6, 10)
    affinity = out["affinity"]
    assert affinity.shape == (2, 60, 60) and torch.allclose(affinity.sum(-1), torch.ones(2, 60), atol=1e-5)
    product = torch.sigmoid(out["logit_map"])
    cam = torch.sigmoid(out["cam_logit_map"]).flatten(1)
    # the refined map is the affinity-weighted mean of the CAM: inside the CAM's range, a probability
    assert torch.allclose(product.flatten(1), torch.bmm(affinity, cam[:, :, None])[:, :, 0], atol=1e-3)
    assert float(product.min()) >= float(cam.min()) - 1e-4 and float(product.max()) <= float(cam.max()) + 1e-4
    # the localizer enlarges it to the image: same size, in [0, 1], and the score is pooled from it
    rgb = (np.random.default_rng(1).random((150, 230, 3)) * 255).astype(np.uint8)
    for key in ("logit_map", "cam_logit_map", "attention_logit_map"):
        heatmap, _ = LearnedLocalizer(tiny_model, "cpu", flip=False, map_key=key).heatmap(rgb)
        assert heatmap.shape == (150, 230) and 0.0 <= heatmap.min() <= heatmap.max() <= 1.0


def test_no_positional_embedding_patches_are_a_set(tiny_model):
    """Permuting whole token cells permutes the Transformer's output the same way (it sees a set)."""
    block = tiny_model.transformer[-1][0]
    tokens = torch.randn(1, 9, TINY.embed_dim)
    order = torch.tensor([0, 3, 1, 8, 2, 7, 4, 6, 5])
    with torch.no_grad():
        out, _ = block(tokens)
        shuffled, _ = block(tokens[:, order])
    assert torch.allclose(out[:, order], shuffled, atol=1e-5)


def test_tiny_training_lowers_the_loss_writes_a_checkpoint_and_resumes(tmp_path, photos):
    labelled_folder(tmp_path / "data", photos)
    config = dataclasses.replace(TRANSCAM_PRESETS["tiny"], steps=40, val_every=10, batch_size=6, lr=2e-3, size=(64, 96))
    checkpoint = train(
        config, [str(tmp_path / "data")], [], [str(tmp_path / "data")], tmp_path / "run", show_progress=False
    )
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [10, 20, 30, 40]
    assert log[-1]["loss_mean"] < log[0]["loss_mean"]
    assert "val_pixel_auc" in log[-1]
    metadata = read_metadata(checkpoint)
    assert metadata["format"] == "imlforensic.transcam/1" and metadata["steps"] == 40
    assert metadata["train_config"]["network"]["depths"] == [1, 1, 1, 1]
    model, _ = load_model(checkpoint)
    assert isinstance(model, TransCAMNet)
    longer = dataclasses.replace(config, steps=42)
    train(longer, [str(tmp_path / "data")], [], [], tmp_path / "run", resume=True, show_progress=False)
    assert read_metadata(checkpoint)["steps"] == 42


def test_tiled_inference_of_a_large_image(tmp_path, tiny_model):
    from imlforensic.io.images import load_image
    from imlforensic.models.inputs import TiledViews

    rgb = (np.random.default_rng(0).random((700, 1100, 3)) * 255).astype(np.uint8)
    cv2.rectangle(rgb, (300, 200), (600, 450), (40, 200, 90), -1)
    tiled = LearnedLocalizer(tiny_model, "cpu", tile=192, overlap=64, flip=False)
    assert not tiled.fits_one_pass(*rgb.shape[:2])  # 350 x 550 views: 3 x 4 tiles of 192
    logits = tiled.view_logits(rgb)  # the large-picture path: views one tile at a time, blended
    assert logits.shape == (350, 550) and np.isfinite(logits).all()
    # where only the first tile reaches (view rows and columns below the next origin, 128), the
    # blend is that tile's own map
    first = tiled.run_batch(torch.from_numpy(TiledViews(rgb, TINY).window(0, 192, 0, 192))[None])[0]
    assert np.allclose(logits[:128, :128], first[:128, :128], atol=1e-4)
    assert not np.allclose(logits[:, 300:], first[:, :250].mean())  # the other tiles are their own
    output = tiled.analyse(load_image(save(rgb, tmp_path / "large.png")))  # tiles blended at the views' size
    assert output.heatmap.shape == (700, 1100) and 0.0 <= output.heatmap.min() <= output.heatmap.max() <= 1.0
    assert output.score == pytest.approx(pool_score(output.heatmap))


def test_folded_model_and_checkpoint_round_trip_keep_the_maps(tmp_path, tiny_model):
    import copy

    path = tmp_path / "t.safetensors"
    save_checkpoint(path, tiny_model, {"classes": ["authentic", "manipulated"]})
    loaded, metadata = load_model(path)
    assert isinstance(loaded, TransCAMNet) and metadata["config"]["embed_dim"] == 32
    folded = copy.deepcopy(loaded)
    assert fold_batch_norms(folded) > 0
    x = _views(64, 96)
    with torch.no_grad():
        for key in ("logit_map", "cam_logit_map", "attention_logit_map"):
            assert torch.allclose(tiny_model(x)[key], loaded(x)[key])
            assert torch.allclose(loaded(x)[key], folded(x)[key], atol=1e-3)


def test_checkpoint_with_an_impossible_config_is_rejected(tmp_path, tiny_model):
    from safetensors.torch import save_file

    path = tmp_path / "bad.safetensors"
    config = dict(TINY.as_dict(), depths=[1, 1])  # two depths for four coupled stages
    tensors = {k: v.contiguous() for k, v in tiny_model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": "imlforensic.transcam/1", "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="Transformer depths"):
        load_model(path)
    config = dict(TINY.as_dict(), embed_dim=100000)
    save_file(tensors, str(path), metadata={"format": "imlforensic.transcam/1", "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="embed_dim"):
        load_model(path)


def test_method_transcam_without_weights_says_so_and_runs_a_checkpoint(
    tmp_path, runner, photos, tiny_model, isolated_registry
):
    from imlforensic.cli import app

    image = save(cv2.resize(photos["coffee"], (384, 288)), tmp_path / "c.jpg", quality=90)
    result = runner.invoke(app, ["localize", str(image), "--method", "transcam", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "weights for 'transcam' are not installed" in result.output
    checkpoint = tmp_path / "mine.safetensors"
    save_checkpoint(checkpoint, tiny_model, {"classes": ["authentic", "manipulated"]})
    for method in ("transcam", "transcam-cam", "transcam-attention"):
        out = tmp_path / method
        args = ["localize", str(image), "-m", method, "--weights", str(checkpoint), "--out", str(out), "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
        assert record["method"]["name"] == method and 0.0 <= record["score"] <= 1.0
    # an mvcam checkpoint is not a transcam one, and the other way round
    result = runner.invoke(
        app, ["localize", str(image), "-m", "mvcam-net", "--weights", str(checkpoint), "--out", str(tmp_path / "x")]
    )
    assert result.exit_code != 0 and "run it with --method transcam" in result.output


def test_report_appendix_describes_transcam_as_the_localizer_not_the_three_way_classifier():
    from imlforensic.registry.cards import ModelCard
    from imlforensic.report.methods import describe

    [description] = describe(ModelCard(name="transcam", task="detector"))
    assert description.title.startswith("transcam (version 0.1): CNN-Transformer dual-stream localizer")
    assert "class activation map" in description.paragraphs[0] and "three-class" not in description.paragraphs[0]
    assert any("Bridging" in r for r in description.references)


def test_mixed_precision_forward_and_backward(tiny_model):
    """The dtype plumbing of the maps under autocast (CPU bfloat16 here; the trainer uses CUDA float16)."""
    import copy

    model = copy.deepcopy(tiny_model).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_views(64, 96))
        loss = transcam_loss(out, torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(loss) and out["logit_map"].dtype == torch.float32
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.transformer.parameters())


def test_train_command_takes_the_network_flag(tmp_path, runner, photos):
    from imlforensic.cli import app

    for name, rgb in photos.items():
        save(cv2.resize(rgb, (96, 64)), tmp_path / "photos" / f"{name}.jpg", quality=92)
    args = ["train", "--synthesize-from", str(tmp_path / "photos"), "--preset", "tiny", "--steps", "2"]
    args += ["--out", str(tmp_path / "run"), "--device", "cpu", "--quiet", "--calibration-samples", "8"]
    result = runner.invoke(app, [*args, "--network", "transcam"])
    assert result.exit_code == 0, result.output
    metadata = read_metadata(tmp_path / "run" / "last.safetensors")
    assert metadata["format"] == "imlforensic.transcam/1" and metadata["steps"] == 2
    assert set(metadata["thresholds"]) == {"sel", "network"} and "logit" in metadata["background"]
    result = runner.invoke(app, [*args, "--network", "nope"])
    assert result.exit_code == 2 and "unknown network 'nope'; choose one of mvcam, transcam" in result.output
