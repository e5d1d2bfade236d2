"""The Bayesian fusion and the prompts (pure NumPy, fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imlforensic.refiners.bayes import (
    CandidateGroup,
    FusionParams,
    candidate_posteriors,
    effective_samples,
    evidence,
    fuse_candidates,
    fuse_partition,
)
from imlforensic.refiners.prompts import BoxError, clip_boxes, load_boxes, parse_box, prompts_from_map


def test_evidence_is_zero_at_the_neutral_point_and_monotonic() -> None:
    params = FusionParams(neutral=0.5)
    values = evidence(np.array([0.1, 0.5, 0.9], dtype=np.float32), params)
    assert values[1] == pytest.approx(0.0, abs=1e-6)
    assert values[0] < 0 < values[2]
    assert np.isfinite(evidence(np.array([0.0, 1.0]), params)).all()  # clipped, never infinite


def test_effective_samples_saturate() -> None:
    params = FusionParams(max_samples=4.0)
    small, large, huge = effective_samples(np.array([10.0, 1e5, 1e9]), (512, 512), params)
    assert small < large < huge <= 4.0
    assert huge > 3.99


def test_partition_posterior_follows_region_evidence() -> None:
    coarse = np.full((64, 64), 0.2, dtype=np.float32)
    coarse[:, 32:] = 0.8
    coarse[:, 28:36] = 0.5  # blurry boundary, straddling the two regions
    labels = np.zeros((64, 64), dtype=int)
    labels[:, 30:] = 1  # region boundary at x = 30
    result = fuse_partition(labels, coarse)
    assert result.posterior[:, 30:].min() > 0.5 > result.posterior[:, :30].max()
    assert result.posterior.dtype == np.float32 and result.posterior.shape == coarse.shape


def test_large_regions_do_not_become_certain() -> None:
    coarse = np.full((256, 256), 0.6, dtype=np.float32)  # weak evidence everywhere
    params = FusionParams(neutral=0.5, region_prior=None)
    one_region = fuse_partition(np.zeros((256, 256), dtype=int), coarse, params).region_probability
    assert 0.5 < float(one_region.max()) < 0.9


def test_strong_pixel_evidence_overrides_its_region() -> None:
    coarse = np.full((32, 32), 0.9, dtype=np.float32)
    coarse[0, 0] = 0.001
    params = FusionParams(pixel_weight=1.0)
    posterior = fuse_partition(np.zeros((32, 32), dtype=int), coarse, params).posterior
    assert posterior[0, 0] < 0.5 < posterior[5, 5]
    default = fuse_partition(np.zeros((32, 32), dtype=int), coarse).posterior
    assert posterior[0, 0] < default[0, 0] < default[5, 5]  # the default weight lets the region dominate


def test_candidates_compete_with_nothing_edited() -> None:
    coarse = np.full((40, 40), 0.1, dtype=np.float32)
    coarse[10:30, 10:30] = 0.9
    domain = np.zeros((40, 40), dtype=bool)
    domain[5:35, 5:35] = True
    right = np.zeros_like(domain)
    right[10:30, 10:30] = True
    wrong = np.zeros_like(domain)
    wrong[30:35, 5:35] = True
    params = FusionParams()
    probs, none = candidate_posteriors(CandidateGroup(domain, [right, wrong]), evidence(coarse, params), params)
    assert probs[0] > 0.9 and probs[1] < 0.05 and none < 0.1
    probs, none = candidate_posteriors(CandidateGroup(domain, [wrong]), evidence(coarse, params), params)
    assert none > 0.75 and probs[0] < 0.25
    posterior = fuse_candidates([CandidateGroup(domain, [right, wrong])], coarse).posterior
    assert posterior[20, 20] > 0.5 > posterior[32, 20]


def test_params_are_validated() -> None:
    with pytest.raises(ValueError):
        FusionParams(purity=1.0)
    with pytest.raises(ValueError):
        FusionParams().with_overrides(unknown=1.0)
    assert FusionParams(region_prior=None).prior == FusionParams().neutral
    assert FusionParams(region_prior=0.2).prior == 0.2
    assert abs(FusionParams(neutral=0.3).for_threshold(0.5).neutral - 0.3) < 1e-9
    assert FusionParams(neutral=0.3).for_threshold(0.7).neutral > 0.3


def test_parse_box() -> None:
    assert parse_box("1,2,30,40") == (1.0, 2.0, 30.0, 40.0)
    for bad in ("1,2,3", "a,b,c,d", "10,10,5,20", "1,2,3,nan"):
        with pytest.raises(BoxError):
            parse_box(bad)


def test_load_boxes_formats_and_errors(tmp_path) -> None:
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"boxes": [[0, 0, 10, 10], {"x0": 5, "y0": 5, "x1": 20, "y1": 30}]}))
    assert load_boxes(path) == [(0, 0, 10, 10), (5, 5, 20, 30)]
    path.write_text("[[0, 0, 10]]")
    with pytest.raises(BoxError, match="four numbers"):
        load_boxes(path)
    path.write_text("not json")
    with pytest.raises(BoxError, match="not valid JSON"):
        load_boxes(path)
    with pytest.raises(BoxError, match="outside"):
        clip_boxes([(100, 100, 120, 120)], (50, 50))


def test_prompts_box_the_components_and_point_at_the_maximum() -> None:
    coarse = np.zeros((100, 100), dtype=np.float32)
    coarse[20:40, 10:50] = 0.7
    coarse[30, 30] = 0.95
    coarse[70:72, 70:72] = 0.9  # too small to count
    prompts = prompts_from_map(coarse, 0.5)
    assert len(prompts) == 1
    assert prompts[0].boxes[0] == (10.0, 20.0, 50.0, 40.0)
    assert prompts[0].point == (30.0, 30.0)
    assert prompts_from_map(np.zeros((50, 50), dtype=np.float32)) == []
