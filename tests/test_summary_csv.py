"""The batch summary CSV, from records written as localize writes them (tests/report_helpers.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from report_helpers import fake_result, photo, save_jpeg

from imlforensic.io.case import as_record_dict, load_case, locate
from imlforensic.io.summary_csv import COLUMNS, summary_csv_bytes, write_summary_csv


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _case(tmp_path: Path) -> Path:
    images, out = tmp_path / "in", tmp_path / "out"
    fake_result(out, save_jpeg(images / "Zürich 写真.jpg", photo(96, 64, 1)))
    formula = fake_result(out, save_jpeg(images / "=HYPERLINK(1).jpg", photo(96, 64, 2)), heatmap=np.full((64, 96), 0.1, np.float32))
    formula["input"]["path"] = "=HYPERLINK(1).jpg"  # as typed on the command line, relative
    (out / "=HYPERLINK(1).json").write_text(json.dumps(formula), encoding="utf-8")
    record = fake_result(out / "sub", save_jpeg(images / "gen.jpg", photo(80, 80, 3)), verdict="generated",
                         class_probs={"authentic": 0.05, "manipulated": 0.15, "generated": 0.8})
    record["regions"] = {"count": 2, "regions": [{"number": 1, "box": [10, 12, 40, 50], "area_fraction": 0.1}, {"number": 2}]}
    record["provenance"] = {"c2pa": {"status": "untrusted_signer", "message": "The file carries a C2PA manifest."},
                            "declared_ai": {"kind": "generated", "reason": "The picture's C2PA manifest declares it generated."}}
    (out / "sub" / "gen.json").write_text(json.dumps(record), encoding="utf-8")
    (out / "broken.json").write_text(json.dumps({"schema": "imlforensic.error/1", "input": {"path": "in/broken.jpg"},
                                                 "error": "corrupt image data"}), encoding="utf-8")
    return out


def test_one_row_per_image_in_utf8_with_bom(tmp_path: Path) -> None:
    out = _case(tmp_path)
    path = write_summary_csv(tmp_path / "summary.csv", load_case(out))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = _read(path)
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 4
    by_name = {Path(r["path"].lstrip("'")).name: r for r in rows}
    assert set(by_name) == {"Zürich 写真.jpg", "=HYPERLINK(1).jpg", "gen.jpg", "broken.jpg"}

    zurich = by_name["Zürich 写真.jpg"]
    assert zurich["verdict"] == "manipulated" and float(zurich["score"]) > 0.5 and len(zurich["sha256"]) == 64
    assert (zurich["width"], zurich["height"], zurich["format"]) == ("96", "64", "JPEG")
    assert 0 < float(zurich["flagged_fraction"]) < 1 and zurich["p_generated"] == ""
    # regions from the written mask and heatmap (the record does not list them yet)
    assert zurich["regions"] == "1"
    x0, y0, x1, y1 = (int(zurich[k]) for k in ("largest_x0", "largest_y0", "largest_x1", "largest_y1"))
    assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 64 and float(zurich["largest_area_fraction"]) > 0

    assert by_name["=HYPERLINK(1).jpg"]["path"] == "'=HYPERLINK(1).jpg"  # shown, not run as a formula
    assert by_name["=HYPERLINK(1).jpg"]["verdict"] == "authentic" and by_name["=HYPERLINK(1).jpg"]["regions"] == "0"
    gen = by_name["gen.jpg"]
    assert (gen["verdict"], gen["p_generated"], gen["regions"], gen["largest_x1"]) == ("generated", "0.8", "2", "40")
    assert "declares it generated" in gen["notes"] and "C2PA manifest" in gen["notes"]
    broken = by_name["broken.jpg"]
    assert broken["verdict"] == "failed" and broken["notes"] == "failed: corrupt image data" and broken["score"] == ""


def test_records_in_memory_and_typed_records(tmp_path: Path) -> None:
    out = _case(tmp_path)
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.rglob("*.json"))]

    class Typed:  # the typed record to come: anything with to_json()
        def __init__(self, data: dict) -> None:
            self.data = data

        def to_json(self) -> dict:
            return self.data

    entries = locate([Typed(r) for r in records], out)
    assert as_record_dict(Typed(records[0])) == records[0]
    assert {e.folder for e in entries if e.path.endswith("gen.jpg")} == {out / "sub"}
    text = summary_csv_bytes(entries).decode("utf-8-sig")
    assert text.count("\r\n") == 5 and "gen.jpg" in text

