"""``imlforensic report --html DIR``: a self-contained, offline HTML case viewer.

The folder holds ``index.html`` (the page, its CSS and JavaScript inline, the case data as an
inline JSON block) and ``img/NNN/`` per image (the PNG outputs copied from the results, a small
preview, and the original picture when its sha256 still matches the record). It opens from the
disk (``file://``) in any current browser and makes no request outside its own folder: a
Content-Security-Policy in the page forbids any (``default-src 'none'``), so neither a bug nor a
hostile file name in a record can make it load or send anything.

What it shows: a summary table (one row per image: preview, name, verdict, score, flagged area,
regions, notes; sortable, filterable) and, per image, two layers of the analyst's choice (the
original, the overlay, the heatmaps, the mask) compared with a swipe slider, zoom (wheel,
buttons, 1:1 = one image pixel per screen pixel) and pan (drag) at full resolution, the flagged
regions' boxes, the colour heatmap, and the record's evidence (verdict, probabilities, method,
input, provenance / metadata / JPEG findings when the record has them, and the full record).
"""

from imlforensic.report.html.viewer import ViewerResult, write_case_viewer

__all__ = ["ViewerResult", "write_case_viewer"]
