"""The appendix: what each method and refiner used does (with its papers), and how to read the
report (score, threshold, heatmap, mask, metadata, known limits, evidence integrity)."""

from __future__ import annotations

from imlforensic.report.cover import distinct_cards
from imlforensic.report.layout import Block, text_blocks
from imlforensic.report.methods import describe
from imlforensic.report.style import BODY, H1, H3, KEY, REF, SMALL, ItemInfo, ReportMeta, bullet_blocks, heading


def appendix_blocks(meta: ReportMeta, infos: list[ItemInfo]) -> list[Block]:
    paper = meta.paper
    x, W = paper.margin_x, paper.content_width
    blocks: list[Block] = [heading("Appendix A — Methods", H1, x, W, space_before=0, keep=2)]
    blocks += text_blocks(
        "A paragraph for each method and refiner used in this report, with the publications it builds on.", SMALL, W, x
    )
    seen: set[str] = set()
    descriptions = []
    for role, card, _count in distinct_cards(infos):
        for description in describe(card, role=role):
            if description.name in seen:
                continue
            seen.add(description.name)
            descriptions.append(description)
    if not descriptions:
        blocks += text_blocks("No image was analysed, so no method was used.", BODY, W, x, space_before=6)
    for description in descriptions:
        blocks.append(heading(description.title, H3, x, W, space_before=10, keep=2))
        for paragraph in description.paragraphs:
            blocks += text_blocks(paragraph, BODY, W, x, space_before=3)
        if description.references:
            blocks += text_blocks("References", KEY, W, x, space_before=4, keep_with_next=1)
            for ref in description.references:
                blocks += text_blocks(ref, REF, W - 10, x + 10, space_before=1)

    thresholds = sorted({i.record.threshold for i in infos if i.record.threshold is not None})
    t_text = ", ".join(f"{t:.2f}" for t in thresholds) or "—"
    refined = any(i.item.refined for i in infos)
    has_classes = any(i.record.tells_generated for i in infos)
    blocks.append(heading("Appendix B — How to read this report", H1, x, W, space_before=18, keep=2))
    for title, paragraphs in reading_guide(t_text, refined, has_classes):
        blocks.append(heading(title, H3, x, W, space_before=9, keep=2))
        for paragraph in paragraphs:
            if paragraph.startswith("• "):
                blocks += bullet_blocks(paragraph[2:], BODY, W, x, space_before=3)
            else:
                blocks += text_blocks(paragraph, BODY, W, x, space_before=3)
    return blocks


def reading_guide(thresholds: str, refined: bool, has_classes: bool) -> list[tuple[str, list[str]]]:
    verdicts = "The verdict is 'manipulated' when the score reaches the threshold and 'authentic' otherwise." + (
        " A three-class model can also answer 'generated' (a fully synthetic picture) when that class is the most "
        "probable; its class probabilities are printed on the page."
        if has_classes
        else " A three-class model (not used here) can also answer 'generated', for a fully synthetic picture."
    )
    overlay = (
        "The overlay draws the mask on a slightly desaturated copy of the picture: a translucent orange fill and a "
        "double contour (white outside, black inside) that stays visible on any background, in print and in grey. "
        "The flagged area is the mask's share of the image."
    )
    if refined:
        overlay += (
            " When a refiner was used, the heatmap, mask and main overlay are the refined result, and the "
            "overlay before refinement is shown beside it; refinement follows object boundaries more closely, "
            "but it can also spread a false alarm over a whole object."
        )
    return [
        (
            "Score and verdict",
            [
                "Each image gets a score between 0 and 1: how strongly the method finds signs of an edit. " + verdicts,
                "A score is not the probability that someone tampered with the picture in bad faith, and 'authentic' "
                "means only that this method found no region reaching the threshold: it is not a certificate of "
                "authenticity.",
            ],
        ),
        (
            "Threshold",
            [
                f"Threshold used in this report: {thresholds}. Lowering the threshold finds more edits and raises more "
                "false alarms; raising it does the reverse. The mask and the overlay use the same threshold as the "
                "verdict. For methods whose score is read from their map, as all built-in ones (mvcam, mvcam-net, sel, noise, classical) "
                "do, the two always agree: an image judged authentic has an empty mask, one judged manipulated has at "
                "least one flagged region. For the classical methods the default of 0.5 is calibrated so that about one "
                "authentic photograph in twenty shows a flagged region.",
            ],
        ),
        (
            "Heatmap",
            [
                "The heatmap gives, for every pixel, the probability of an edit on the scale printed under it. Its "
                "colormap, cividis, runs from dark blue (0) to yellow (1), reads the same for colour-blind readers and "
                "stays ordered in grey print (darker = lower). The mark on the scale is the threshold. Maps are smoothed: "
                "they point at regions, not exact edges, and a bright area does not say what kind of edit it is.",
            ],
        ),
        (
            "Mask and overlay",
            [
                "The mask is the set of pixels whose probability reaches the threshold, keeping only connected regions "
                "of at least 0.25 % of the image (and at least 16 pixels), so isolated specks are not reported. On the "
                "page it is printed dark on white.",
                overlay,
            ],
        ),
        (
            "Metadata",
            [
                "Camera, software and dates come from the file's EXIF and XMP metadata, which any program can remove or "
                "rewrite. Editing software named there means that the file was saved by that program, possibly only to "
                "crop it or adjust its colours; its absence proves nothing. Pictures from messaging apps and social "
                "networks usually carry no metadata at all.",
            ],
        ),
        (
            "Known limits",
            [
                "• False alarms: heavy or repeated JPEG recompression, resizing, screenshots, pictures pasted into "
                "documents, strong noise reduction or sharpening, phone HDR and 'computational photography', text and "
                "graphics overlays, and large flat, dark or saturated areas can all make a region look inconsistent. "
                "Check each flagged region against the content of the picture.",
                "• Missed edits: edits smaller than the minimum region, edits followed by a strong recompression of the "
                "whole picture, copy-moves of flat or untextured areas (too few distinctive points to match), copies "
                "whose colours were changed, and fully regenerated pictures (unless a three-class method is used) can go "
                "undetected. A copy-move can also be shown on its source region as well as on the copy.",
                "• Maps are coarse: boundaries are approximate and small or thin edits can merge with their surroundings. "
                "Large images are shown downscaled on the pages (each page says so); the full-resolution maps are in the "
                "results folder.",
                "• A result is one piece of evidence, to be weighed with others (the source and context of the picture, "
                "other copies of it); it is not proof on its own.",
            ],
        ),
        (
            "Evidence integrity",
            [
                "Inputs are never modified. Each page gives the sha256 of the analysed file; the report checks that the "
                "original it shows still has that sha256 and says so when it has changed or cannot be found. The pictures "
                "on the pages are copies resampled for display; the maps, masks and JSON records in the results folder "
                "are the reference outputs.",
            ],
        ),
    ]
