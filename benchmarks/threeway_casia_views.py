"""Diagnostic: the shipped classifier on CASIA pictures read as chain views vs as files
(``python benchmarks/threeway_casia_views.py``, after ``benchmarks/threeway.py extract`` into
/work/scratch/threeway; writes results/casia_views.json there)."""

from __future__ import annotations

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
sys.path.insert(0, "benchmarks")
from pathlib import Path  # noqa: E402

from threeway_pool import heldout_pool, training_pool  # noqa: E402

from imlforensic.models.threeway import load_threeway  # noqa: E402
from imlforensic.training.threeway import in_val, predict  # noqa: E402
from imlforensic.training.threeway_data import inference_key, view_key  # noqa: E402

folder = next(Path("/work/scratch/threeway/cache").iterdir())
info = [json.loads(line) for line in open(folder / "index.jsonl")]
index = {e["key"]: i for i, e in enumerate(info)}
dim = json.load(open(folder / "spec.json"))["dim"]
feats = np.memmap(folder / "features.f16", dtype=np.float16, mode="r", shape=(len(info), dim))
model, header = load_threeway(Path("weights/threeway-lite0.safetensors"))
t = model.calibration.generated_threshold
data, work = Path("/work/shared/data"), Path("/work/scratch/threeway")
pool = training_pool(data, work)


def files(items):
    keys = [inference_key(i.path, 2) for i in items]
    keys = [k for k in keys if f"{k}/0" in index]
    return np.stack(
        [
            np.asarray(feats[[index[f"{k}/0"]], :], np.float32)[0] * 0.5
            + np.asarray(feats[[index[f"{k}/1"]], :], np.float32)[0] * 0.5
            for k in keys
        ]
    )


out = {}
for label in ("authentic", "manipulated"):
    casia_val = [i for i in pool if i.source == "casia1@train" and i.label == label and in_val(i.group)]
    chain = np.asarray(feats[[index[view_key(i, 0)] for i in casia_val]], np.float32)
    p_chain = predict(model, chain)[:, 2]
    p_file = predict(model, files(casia_val))[:, 2]
    held = [i for i in heldout_pool(data, work) if i.source == "casia1@val" and i.label == label]
    p_held = predict(model, files(held))[:, 2]
    out[label] = {
        "n_val_pictures": len(casia_val),
        "chain_views_called": float((p_chain >= t).mean()),
        "same_pictures_as_files_called": float((p_file >= t).mean()),
        "casia1@val_files_called": float((p_held >= t).mean()),
        "median_p_chain": float(np.median(p_chain)),
        "median_p_file": float(np.median(p_file)),
    }
print(json.dumps(out, indent=1))
json.dump(out, open("/work/scratch/threeway/results/casia_views.json", "w"), indent=1)
