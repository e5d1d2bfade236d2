"""Method descriptions for the report's appendix: a paragraph per method or refiner, with its papers.

Lookup for a model card ``{name, task, version, reference}`` (see :func:`describe`):

1. :data:`METHOD_NOTES` by exact name (add new methods with :func:`register_note`);
2. :data:`PAPER_NOTES`: a note whose pattern matches the card's or registry entry's reference
   (learned localizers and refiners that follow one of the papers in DESIGN.md);
3. the registry entry's ``summary`` and ``reference``, or the card's reference alone.

Texts say what the code does, modestly: what the map measures, where it comes from, and
what it cannot see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from imlforensic.registry.cards import ModelCard

REFERENCES = {
    "wcbnet": 'Z. Wang and C. Abhayaratne, "Weighted convolutional block modelling of signed-value error levels '
    'for image-wise copy-move and splicing detection", IEEE MMSP 2023.',
    "farid": 'H. Farid, "Exposing digital forgeries from JPEG ghosts", IEEE Transactions on Information Forensics '
    "and Security 4(1), 2009.",
    "mahdian": 'B. Mahdian and S. Saic, "Using noise inconsistencies for blind image forensics", Image and Vision '
    "Computing 27(10), 2009.",
    "donoho": 'D. L. Donoho and I. M. Johnstone, "Ideal spatial adaptation by wavelet shrinkage", Biometrika 81(3), 1994.',
    "wang2024": 'Z. Wang and C. Abhayaratne, "Weakly-supervised localization of manipulated image regions using '
    'multi-resolution learned features", BMVC 2024 workshop on media authenticity, arXiv:2505.23586.',
    "boxprompt": 'Z. Guo, D. Xi, S. Li and G. Yang, "From passive perception to active memory: a weakly supervised image '
    'manipulation localization framework driven by coarse-grained annotations" (BoxPromptIML).',
    "bridging": 'Y. Lee, Y. Na and H. Noh, "Bridging image manipulation localization and generated image detection '
    'in weakly-supervised setting".',
    "sam": 'A. Kirillov et al., "Segment Anything", ICCV 2023.',
    "amerini": 'I. Amerini, L. Ballan, R. Caldelli, A. Del Bimbo and G. Serra, "A SIFT-based forensic method for '
    'copy-move attack detection and transformation recovery", IEEE Transactions on Information Forensics '
    "and Security 6(3), 2011.",
}


@dataclass(frozen=True)
class MethodNote:
    title: str
    text: str
    references: tuple[str, ...] = ()  # keys of REFERENCES or full citations
    includes: tuple[str, ...] = ()  # other notes to print after this one (e.g. the views a combination uses)


@dataclass
class Description:
    name: str
    role: str  # "method" | "refiner"
    title: str
    paragraphs: list[str]
    references: list[str] = field(default_factory=list)


_CLASSICAL_SCORE = (
    "Its map is calibrated to a probability with a logistic function whose constants were fitted on authentic "
    "photographs (re-saved as JPEG at quality 70 to 100, or PNG) so that at the default threshold of 0.5 about one "
    "authentic photograph in twenty shows a flagged region. No trained weights are involved."
)

METHOD_NOTES: dict[str, MethodNote] = {
    "classical": MethodNote(
        title="classical: signed error levels and noise residuals combined",
        text=(
            "This method runs the two classical views described below, sel and noise, each calibrated to a "
            "probability map, and keeps the larger of the two at every pixel. A view that carries no signal on some "
            "material (noise after heavy JPEG compression, for example) therefore cannot dilute the other. The image "
            "score is pooled from this map. It is an image-statistics method without learned weights: it finds regions "
            "whose compression or noise history differs from the rest of the picture, which is what splicing and "
            "many retouches leave behind, but it cannot tell an edit from any other cause of such a difference."
        ),
        references=("wcbnet", "farid", "mahdian"),
        includes=("sel", "noise"),
    ),
    "mvcam": MethodNote(
        title="mvcam: weakly supervised multi-view localizer, fused with signed error levels and copy-move",
        text=(
            "The default method. It adds up, as evidence in log-odds, the map of the learned network described next "
            "(mvcam-net), the classical sel view (whose evidence is zero where an authentic photograph's typical pixel "
            "lies) and the copy-move view described below (evidence only inside a duplicated region), so a region is "
            "flagged most confidently where the views agree. The network's activation maps are coarse; the "
            "error-level view keeps the full-resolution outline of a region with another compression history; a "
            "region copied within the same photograph carries that photograph's compression and noise, and shows "
            "instead as a repetition. The image score is pooled from the combined map."
        ),
        references=("wang2024", "wcbnet", "amerini"),
        includes=("mvcam-net", "sel", "copymove"),
    ),
    "mvcam-net": MethodNote(
        title="mvcam-net: the learned multi-view, multi-resolution localizer",
        text=(
            "Follows Wang and Abhayaratne (2024). Two EfficientNet-Lite0 networks (ImageNet initialisation, trained "
            "with different random seeds, their maps averaged) read three forensic views of the image: JPEG-ghost "
            "statistics of the signed error levels at nine qualities (the input view of WCBnet), a noise-residual "
            "anomaly and per-block double-quantisation evidence. They were trained with image-level labels only "
            "(edited or not; real images and synthetic edits), never with pixel masks, through class activation maps "
            "of three stages fused with attention over the stages. The map used here combines the three stages' maps "
            "(strides of 8, 16 and 32 pixels) as a product, so a pixel is flagged only where every resolution agrees; "
            "the image and its mirror image are both analysed and averaged. A map raised over the whole picture is "
            "lowered to the background level of authentic photographs, because evidence everywhere does not say "
            "where an edit is. The map shows where the evidence for the decision lies; its boundaries are "
            "approximate and it tends to spread beyond the edited region. Large images are analysed in overlapping "
            "tiles at full resolution."
        ),
        references=("wang2024", "wcbnet"),
    ),
    "transcam": MethodNote(
        title="transcam: CNN-Transformer dual-stream localizer",
        text=(
            "Follows the localization part of Lee, Na and Noh, built like Conformer and TransCAM. A convolutional "
            "branch (EfficientNet-Lite0, ImageNet initialisation) reads the same forensic views as mvcam-net "
            "(JPEG-ghost statistics, a noise-residual anomaly and double-quantisation evidence, at half "
            "resolution); a Transformer branch (self-attention without positional embedding, trained from scratch) "
            "reads one token per 32 x 32 pixel cell. The two exchange features after every stage of the "
            "convolutional branch. The network was trained with image-level labels only (edited or not), never "
            "with pixel masks. The map is the convolutional branch's class activation map, refined by the "
            "Transformer's attention between cells: each cell takes the attention-weighted mean of the activation "
            "of the cells it attends to, so that all of an edit, and not only its most salient part, can light up. "
            "The image score is pooled from this map. The map is coarse (one value per 32-pixel cell, smoothly "
            "enlarged) and shows where the evidence for the decision lies; large images are analysed in "
            "overlapping tiles of 1280 pixels, and attention does not reach across tiles."
        ),
        references=("bridging",),
    ),
    "transcam-cam": MethodNote(
        title="transcam-cam: the transcam network's class activation map alone",
        text=(
            "The map of the convolutional branch of transcam (described above) before the Transformer's attention "
            "refines it: one value per 32-pixel cell, for comparison with the refined map."
        ),
        references=("bridging",),
    ),
    "transcam-attention": MethodNote(
        title="transcam-attention: the transcam network's attention alone",
        text=(
            "Where the Transformer branch of transcam (described above) looks when it decides: the attention of its "
            "class token to each 32-pixel cell, relative to the most attended cell and scaled by the branch's own "
            "probability that the image was edited. Attention says where the decision looked, not that the cell is "
            "edited; it is shown for comparison with the refined map."
        ),
        references=("bridging",),
    ),
    "boxprompt": MethodNote(
        title="boxprompt: BoxPromptIML student distilled from box-prompted Segment Anything masks",
        text=(
            "Follows BoxPromptIML (Guo et al.). Rough boxes drawn around edited regions (in the training material: "
            "the bounding boxes of real and synthetic edits, never their pixel masks) were turned into soft pseudo "
            "masks by a Segment Anything teacher; a lightweight student, an EfficientNet-Lite0 encoder reading the "
            "image and its noise residual with a small decoder, was trained to reproduce them (binary cross-entropy "
            "to the soft targets, Dice and temperature distillation). Its deepest features pass a memory-guided "
            "fusion module: each location attends to a learned bank of prototypes, adapted to the current picture "
            "(recall), alongside cues computed from the picture itself, how a location stands out from its "
            "neighbourhood (observation); a learned gate mixes the two. Only the student runs here, no SAM. Large "
            "pictures are analysed with their longer side reduced to 768 pixels. The student is as good as the "
            "pseudo masks it learned from, which follow the boxes closely where SAM cannot find an outline; thin or "
            "small edits are the hardest."
        ),
        references=("boxprompt", "sam"),
    ),
    "sel": MethodNote(
        title="sel: signed error levels (JPEG recompression consistency)",
        text=(
            "The image is recompressed as JPEG at nine qualities from 50 to 96 and compared with itself. These signed "
            "error levels are the input view of WCBnet (Wang and Abhayaratne, 2023). A region whose compression history "
            "differs from the rest – pasted from a JPEG saved at another quality, resampled, or never compressed – "
            "responds differently to recompression. Two cues are measured in 16-pixel windows: a JPEG ghost (Farid, "
            "2009), where a region once saved at some quality barely changes when recompressed at that quality, "
            "measured relative to the local texture; and the shape of the error across qualities, on luminance and "
            "colour. Each cue is compared with the image's own median in robust units at textured pixels only, and the "
            "largest deviation is the pixel's anomaly. Flat areas (sky, walls) carry little evidence and are damped. "
            + _CLASSICAL_SCORE
        ),
        references=("wcbnet", "farid"),
    ),
    "copymove": MethodNote(
        title="copy-move: regions repeated within the picture",
        text=(
            "Follows the keypoint method of Amerini et al. (2011). SIFT keypoints of the picture are matched with each "
            "other; a match counts only when it is clearly closer than the next candidates and the two points lie "
            "apart. Groups of matches that agree on one rotation, scale and shift are kept (at least eight), and the "
            "picture is then compared with itself moved by that transform, pixel by pixel, to outline both regions. "
            "The view cannot tell the original from the copy and marks both; mvcam shares its evidence between the "
            "two by what the other views see in each. Flat areas (a plain wall) carry no keypoints and cannot be "
            "matched. Pairs that look like natural repetition are set aside: a copy keeps the colours of its source, "
            "while look-alike objects usually differ in light, and a pattern that repeats on beyond the pair "
            "(windows along a facade) is a lattice, not a copy. Two identical objects in the same light still look "
            "like a copy to it, and a copy whose colours were changed, or one placed in a row of look-alikes, is "
            "missed. Each pair kept is counted in the record (copy_move_pairs). Its evidence weight was measured on "
            "synthetic edits of authentic photographs."
        ),
        references=("amerini",),
    ),
    "noise": MethodNote(
        title="noise: noise-residual inconsistency",
        text=(
            "A spliced region usually comes from another camera, sensor sensitivity, scale or processing chain, so its "
            "noise level differs from its surroundings (Mahdian and Saic, 2009). The luminance is high-pass filtered and "
            "the noise level of each 16 x 16 block is estimated robustly as the median absolute residual (Donoho's "
            "estimator), which ignores the few strong edges a block contains. Blocks whose level departs from the "
            "image's dominant level are flagged. Heavy compression, denoising and resizing flatten the noise and "
            "weaken this cue. " + _CLASSICAL_SCORE
        ),
        references=("mahdian", "donoho"),
    ),
}

PAPER_NOTES: list[tuple[re.Pattern[str], MethodNote]] = [
    (
        re.compile(r"multi-?resolution|2505\.23586|bayesian", re.IGNORECASE),
        MethodNote(
            title="weakly supervised localization with multi-resolution learned features",
            text=(
                "Follows Wang and Abhayaratne (2024): an image-level manipulation classifier in the style of WCBnet, "
                "which reads signed error levels alongside the image, is trained with image-level labels only; class "
                "activation maps taken at several depths (resolutions) of the network are fused into a coarse map. The "
                "paper refines that map with the regions of a pretrained segmentation model by Bayesian inference. As no "
                "pixel-level masks are used in training, the map shows where the evidence for the decision lies; its "
                "boundaries are approximate."
            ),
            references=("wang2024", "wcbnet"),
        ),
    ),
    (
        re.compile(r"box\s*prompt|BoxPromptIML", re.IGNORECASE),
        MethodNote(
            title="BoxPromptIML-style student localizer",
            text=(
                "Follows BoxPromptIML (Guo et al.): coarse boxes drawn around edited regions are turned into pseudo masks by "
                "a Segment Anything teacher, and a lightweight student localizer is trained from them by knowledge "
                "distillation, with a memory-inspired feature fusion module. At run time only the student is used. The "
                "student is as good as the pseudo masks it learned from; thin or small edits are the hardest."
            ),
            references=("boxprompt", "sam"),
        ),
    ),
    (
        re.compile(r"bridging|generated[- ]image detection|discrepancy", re.IGNORECASE),
        MethodNote(
            title="three-class detector and localizer (real, partially manipulated, fully generated)",
            text=(
                "Follows Lee, Na and Noh: features of a pretrained image encoder feed a classifier distilled into two "
                "students whose discrepancies separate real, partially manipulated and fully generated images; a "
                "CNN-Transformer localizer produces the map for images classified as partially manipulated. The class "
                "probabilities on each page come from this classifier. For an image judged generated, the whole picture "
                "is likely synthetic and the map is not an outline of an edit."
            ),
            references=("bridging",),
        ),
    ),
]

GENERIC_REFINER = (
    "Refinement: the method's coarse map is combined with image regions from a segmentation model. On each page the "
    "heatmap, mask and main overlay are the refined result, and the overlay before refinement is shown beside it."
)


def register_note(name: str, note: MethodNote) -> None:
    """Add or replace the appendix paragraph for a method or refiner name."""
    METHOD_NOTES[name] = note


def _registry_entry(name: str) -> Any:
    try:
        from imlforensic.registry import REGISTRY

        return REGISTRY.entry(name)
    except Exception:  # unknown here (made by another version or a plug-in)
        return None


def _cite(key: str) -> str:
    return REFERENCES.get(key, key)


def describe(card: ModelCard, role: str = "method") -> list[Description]:
    """Appendix descriptions for a model card (a method may include the views it combines)."""
    name = card.name
    entry = _registry_entry(name)
    version = card.version or (entry.version if entry is not None else None)
    reference = card.reference or (entry.reference if entry is not None else "") or ""
    summary = entry.summary if entry is not None else ""
    details = ([f"version {version}"] if version else []) + (["refiner"] if role == "refiner" else [])
    suffix = f" ({', '.join(details)})" if details else ""

    note = METHOD_NOTES.get(name)
    by_paper = False
    if note is None:
        for pattern, candidate in PAPER_NOTES:
            if pattern.search(reference) or (summary and pattern.search(summary)):
                note, by_paper = candidate, True
                break
    paragraphs: list[str] = []
    references: list[str] = []
    if note is not None:
        if note.title.startswith(name + ":"):
            title = name + suffix + note.title[len(name) :]
        else:
            title = f"{name}{suffix}: {note.title}"
        paragraphs.append(note.text)
        if by_paper and summary:
            paragraphs.append(f"This model: {summary}.")
        references += [_cite(k) for k in note.references]
        if by_paper and reference:
            references.append(reference)
    else:
        title = f"{name}{suffix}" + (f": {summary}" if summary else "")
        paragraphs.append(
            f"{summary}." if summary else "No description of this model is available in this version of imlforensic."
        )
        if reference:
            references.append(reference)
    if role == "refiner":
        paragraphs.append(GENERIC_REFINER)
    out = [
        Description(
            name=name, role=role, title=title, paragraphs=paragraphs, references=list(dict.fromkeys(references))
        )
    ]
    if note is not None:
        for included in note.includes:
            out += describe(ModelCard(name=included, task="detector"), role="view")
    return out
