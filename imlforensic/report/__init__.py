"""``imlforensic report``: PDF case reports and print-ready figures from ``localize`` outputs.

Layout: :mod:`.collect` (results folder / batch logs -> items, failed and missing ones
included) -> :mod:`.metadata` (original file check, EXIF) -> :mod:`.pages` (cover, summary
table, one page per image, appendix; drawn with :mod:`.layout` and :mod:`.text`, pictures
prepared by :mod:`.panels`, method paragraphs from :mod:`.methods`) -> :mod:`.build` (the PDF)
and :mod:`.figures` (``--figures``).
"""

from imlforensic.report.build import ReportOptions, ReportResult, build_report
from imlforensic.report.collect import Collection, ReportItem, collect, looks_like_results

__all__ = ["ReportOptions", "ReportResult", "build_report", "Collection", "ReportItem", "collect", "looks_like_results"]
