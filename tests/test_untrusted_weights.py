"""Untrusted checkpoints (issue 16): crafted safetensors headers, crafted pickles, odd `--from`.

Each crafted file is a few kilobytes; a checkpoint that declares too much must be refused from
its header, before any network is built, in one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from imlforensic.cli import app
from imlforensic.models.checkpoint import FORMAT, CheckpointError, load_model, save_checkpoint
from imlforensic.models.network import MultiViewCAMNet, NetworkConfig

TINY = NetworkConfig(qualities=(75,), head_width=16)
GOOD_CONFIG = json.dumps(TINY.as_dict())


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in MultiViewCAMNet(TINY, imagenet_init=False).state_dict().items()}


@pytest.fixture()
def nothing_built(monkeypatch):
    """Fail the test if a network is constructed (the refusal must come from the header)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a network was built from a checkpoint that should have been refused")

    monkeypatch.setattr("imlforensic.models.checkpoint.MultiViewCAMNet", refuse)
    monkeypatch.setattr("imlforensic.models.checkpoint.CAMEnsemble", refuse)


def crafted(path: Path, metadata: dict[str, str], tensors: dict[str, torch.Tensor] | None = None) -> Path:
    save_file(tensors if tensors is not None else {"x": torch.zeros(1)}, str(path), metadata=metadata)
    return path


def one_line(message: str) -> bool:
    return "\n" not in message.strip()


CRAFTED_HEADERS = {
    "no-config": ({"format": FORMAT}, "metadata 'config' is missing or not an object"),
    "config-not-json": ({"format": FORMAT, "config": "{backbone"}, "metadata 'config' is not JSON"),
    "config-a-list": ({"format": FORMAT, "config": "[1, 2]"}, "metadata 'config' is missing or not an object"),
    "unknown-view": (
        {"format": FORMAT, "config": json.dumps({"views": ["rgb", "nonexistent_view"]})},
        "config 'views'",
    ),
    "huge-backbone": (
        {"format": FORMAT, "config": json.dumps({"backbone": "tf_efficientnet_b7"})},
        "config 'backbone'",
    ),
    "huge-head": ({"format": FORMAT, "config": json.dumps({"head_width": 1_000_000})}, "config 'head_width'"),
    "400-members": ({"format": FORMAT, "config": GOOD_CONFIG, "members": "400"}, "metadata 'members' is 400"),
    "members-a-string": ({"format": FORMAT, "config": GOOD_CONFIG, "members": '"two"'}, "metadata 'members'"),
    "bool-scale": ({"format": FORMAT, "config": json.dumps({"input_scale": True})}, "config 'input_scale'"),
    "bad-blocks": ({"format": FORMAT, "config": json.dumps({"blocks": [3, 1, 9]})}, "config 'blocks'"),
    "bad-qualities": ({"format": FORMAT, "config": json.dumps({"qualities": [0]})}, "config 'qualities'"),
    "sel-at-half-size": (
        {"format": FORMAT, "config": json.dumps({"views": ["sel"], "input_scale": 2})},
        "input_scale 1",
    ),
    "thresholds-a-list": ({"format": FORMAT, "config": GOOD_CONFIG, "thresholds": "[0.5]"}, "metadata 'thresholds'"),
    "threshold-a-string": (
        {"format": FORMAT, "config": GOOD_CONFIG, "thresholds": json.dumps({"sel": {"threshold": "high"}})},
        "metadata 'thresholds'",
    ),
    "background-nan": (
        {"format": FORMAT, "config": GOOD_CONFIG, "background": '{"logit": NaN}'},
        "metadata 'background'",
    ),
    "other-format": ({"format": "something/else"}, "not an imlforensic localizer checkpoint"),
    "extra-not-json": ({"format": FORMAT, "config": GOOD_CONFIG, "notes": "free text"}, "metadata 'notes' is not JSON"),
}


@pytest.mark.parametrize("case", list(CRAFTED_HEADERS))
def test_crafted_metadata_is_refused_in_one_line_before_anything_is_built(tmp_path, nothing_built, case):
    metadata, expected = CRAFTED_HEADERS[case]
    path = crafted(tmp_path / "crafted.safetensors", metadata)
    assert path.stat().st_size < 4096
    with pytest.raises(CheckpointError) as info:  # was: KeyError, AttributeError, 2-3 GB and 13-21 s
        load_model(path)
    message = str(info.value)
    assert expected in message and str(path) in message and one_line(message)


def test_tensors_are_checked_against_the_declared_configuration(tmp_path, tiny_state):
    metadata = {"format": FORMAT, "config": GOOD_CONFIG}
    name, tensor = next((k, v) for k, v in tiny_state.items() if v.ndim == 4)
    variants = {
        "misses tensor": {k: v for k, v in tiny_state.items() if k != name},
        "unexpected tensor 'extra'": {**tiny_state, "extra": torch.zeros(2)},
        f"tensor '{name}' has shape": {**tiny_state, name: torch.zeros(3)},
        f"tensor '{name}' is U8": {**tiny_state, name: tensor.to(torch.uint8)},
    }
    for expected, tensors in variants.items():
        path = crafted(tmp_path / "t.safetensors", metadata, tensors)
        with pytest.raises(CheckpointError, match="^" + str(path).replace(".", r"\.") + ": ") as info:
            load_model(path)
        assert expected in str(info.value) and one_line(str(info.value)), expected
    members = {"format": FORMAT, "config": GOOD_CONFIG, "members": "2"}
    path = crafted(tmp_path / "m.safetensors", members, {f"members.0.{k}": v for k, v in tiny_state.items()})
    with pytest.raises(CheckpointError, match=r"misses tensor 'members\.1\."):
        load_model(path)
    path = crafted(tmp_path / "ok.safetensors", metadata, tiny_state)
    model, loaded_metadata = load_model(path)  # the untampered state still loads
    assert isinstance(model, MultiViewCAMNet) and loaded_metadata["config"]["head_width"] == 16


def test_the_shipped_and_a_saved_checkpoint_pass_validation(tmp_path, tiny_state):
    from imlforensic.registry import REGISTRY

    load_model(REGISTRY.weights_path("mvcam"))
    model = MultiViewCAMNet(TINY, imagenet_init=False)
    save_checkpoint(
        tmp_path / "s.safetensors", model, {"thresholds": {"sel": {"threshold": 0.6}}, "background": {"logit": -2.0}}
    )
    assert load_model(tmp_path / "s.safetensors")[1]["thresholds"]["sel"]["threshold"] == 0.6


def test_weights_option_with_a_crafted_checkpoint_fails_in_one_line(tmp_path, runner, isolated_registry):
    image = tmp_path / "c.jpg"
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(image, quality=90)
    path = crafted(tmp_path / "w.safetensors", {"format": FORMAT, "config": GOOD_CONFIG, "members": "400"})
    result = runner.invoke(app, ["localize", str(image), "--weights", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: cannot load 'mvcam': {path}: metadata 'members' is 400; it must be an integer from 0 to 8"
    ]


# --- SAM checkpoints (torch.load(weights_only=True)) ---------------------------------------------


def _image(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((64, 64, 3), 100, np.uint8)).save(path)
    return path


def test_sam_checkpoint_with_a_wrong_typed_tensor_is_one_line(tmp_path, runner, isolated_registry):
    path = tmp_path / "sam.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": [1.0, 2.0], "mask_decoder.x": torch.zeros(1)}, path)
    result = runner.invoke(app, ["refine", str(_image(tmp_path)), "--box", "1,1,30,30", "--sam-checkpoint", str(path)])
    assert result.exit_code == 1  # was: AttributeError: 'list' object has no attribute 'shape'
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {path}: checkpoint entry 'image_encoder.patch_embed.proj.weight' is a list, not a tensor"]


class _Payload:
    """A pickle that runs a shell command when unpickled without restrictions."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_is_refused_without_running_it(tmp_path, runner, isolated_registry):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"model": _Payload(marker)}, path)
    result = runner.invoke(app, ["refine", str(_image(tmp_path)), "--box", "1,1,30,30", "--sam-checkpoint", str(path)])
    assert result.exit_code == 1 and "not a loadable PyTorch checkpoint" in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
    assert not marker.exists()


# --- models fetch --from ---------------------------------------------------------------------


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMLFORENSIC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "weights"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("/nonexistent/sam.pt", "/nonexistent/sam.pt: no such file"),  # was: ValueError: unknown url type
        ("ftp://example.org/sam.pt", "ftp://example.org/sam.pt: unsupported URL scheme 'ftp'"),
        ("FOLDER", "FOLDER: not a regular file"),
        ("/dev/null", "/dev/null: not a regular file"),
    ],
)
def test_models_fetch_from_a_bad_source_is_one_line(tmp_path, runner, cache, source, expected):
    source = source.replace("FOLDER", str(tmp_path))
    expected = expected.replace("FOLDER", str(tmp_path))
    result = runner.invoke(app, ["models", "fetch", "sam-vit-b", "--from", source, "-q"])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {expected}")
    assert not cache.exists() or not any(cache.iterdir())
