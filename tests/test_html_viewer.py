"""The offline HTML case viewer: the folder it writes, then the page in a real headless browser.

The browser test starts Debian's chromium through its chromedriver (selenium, no Selenium
Manager download). Without a browser the session fixture tries ``apt-get install -y chromium
chromium-driver`` (as root, where apt-get exists) and otherwise skips, the reason shown in the
pytest summary.
"""

from __future__ import annotations

import html.parser
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_helpers import fake_result, photo, save_jpeg

from imlforensic.io.case import load_case
from imlforensic.report.html import write_case_viewer

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", "--force-device-scale-factor=1")
N_IMAGES = 20


# --- the folder ------------------------------------------------------------------------------

def _data(index: Path) -> dict:
    text = index.read_text(encoding="utf-8")
    start = text.index('<script type="application/json" id="case-data">') + len('<script type="application/json" id="case-data">')
    return json.loads(text[start:text.index("</script>", start)])


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.csp = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = values.get("content") or ""


def _small_case(tmp_path: Path) -> Path:
    images, out = tmp_path / "in", tmp_path / "out"
    fake_result(out, save_jpeg(images / "a.jpg", photo(96, 64, 1)))
    hostile = fake_result(out, save_jpeg(images / "b.jpg", photo(64, 96, 2)), name="b")
    hostile["input"]["path"] = '</script><script>alert(1)</script>{{JS}}.jpg'
    (out / "b.json").write_text(json.dumps(hostile), encoding="utf-8")
    gone = save_jpeg(images / "gone.jpg", photo(80, 60, 3))
    fake_result(out, gone)
    gone.unlink()
    changed = save_jpeg(images / "changed.png", photo(80, 60, 4))
    fake_result(out, changed)
    Image.fromarray(photo(80, 60, 5)).save(changed)
    (out / "failed.json").write_text(json.dumps({"schema": "imlforensic.error/1", "input": {"path": "in/failed.jpg"},
                                                 "error": "not a recognised image format"}), encoding="utf-8")
    return out


def test_the_folder_is_self_contained(tmp_path: Path) -> None:
    out = _small_case(tmp_path)
    result = write_case_viewer(tmp_path / "viewer", load_case(out), title="Case <42>")
    index = tmp_path / "viewer" / "index.html"
    assert result.index == index and result.images == 5
    assert result.originals == {"ok": 2, "missing": 1, "changed": 1, "none": 1}
    text = index.read_text(encoding="utf-8")
    links = _Links()
    links.feed(text)
    assert "default-src 'none'" in links.csp and "connect-src" not in links.csp
    assert all(u.startswith("data:") or "://" not in u for u in links.urls), links.urls
    assert "<script>alert(1)" not in text and "<title>Case &lt;42&gt;</title>" in text
    data = _data(index)
    by_path = {img["path"]: img for img in data["images"]}
    assert '</script><script>alert(1)</script>{{JS}}.jpg' in by_path  # intact, as data
    for img in data["images"]:
        for src in list(img["layers"].values()) + ([img["preview"]] if img["preview"] else []):
            assert (tmp_path / "viewer" / src).is_file(), src
    a = next(i for i in data["images"] if i["path"].endswith("a.jpg"))
    assert a["original"]["status"] == "ok" and a["layers"]["original"].endswith("original.jpg")
    assert (tmp_path / "viewer" / a["layers"]["original"]).read_bytes() == (tmp_path / "in" / "a.jpg").read_bytes()
    assert a["regions"]["count"] == 1 and len(a["regions"]["regions"][0]["box"]) == 4
    gone = next(i for i in data["images"] if i["path"].endswith("gone.jpg"))
    assert gone["original"]["status"] == "missing" and "original" not in gone["layers"]
    assert any("no longer at" in n for n in gone["notes"])
    changed = next(i for i in data["images"] if i["path"].endswith("changed.png"))
    assert changed["original"]["status"] == "changed" and any("has changed" in n for n in changed["notes"])
    failed = next(i for i in data["images"] if i["path"].endswith("failed.jpg"))
    assert failed["status"] == "failed" and failed["verdict"] == "failed" and failed["layers"] == {} and failed["preview"] == ""
    assert failed["notes"] == ["failed: not a recognised image format"]


def test_records_in_memory_and_downscaled_pictures(tmp_path: Path) -> None:
    out = tmp_path / "out"
    record = fake_result(out, save_jpeg(tmp_path / "in" / "big.jpg", photo(400, 200, 7)))
    write_case_viewer(tmp_path / "viewer", [record], results_dir=out, max_side=100)
    img = _data(tmp_path / "viewer" / "index.html")["images"][0]
    assert img["scale"] == pytest.approx(0.25) and img["original"]["status"] == "ok"
    with Image.open(tmp_path / "viewer" / img["layers"]["overlay"]) as overlay:
        assert overlay.size == (100, 50)
    with Image.open(tmp_path / "viewer" / img["layers"]["original"]) as original:
        assert original.size == (100, 50) and original.format == "PNG"


# --- the browser -----------------------------------------------------------------------------

def _find_chrome() -> tuple[str | None, str | None]:
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                    if shutil.which(b)), None)
    driver = shutil.which("chromedriver") or next((p for p in ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver")
                                                   if os.path.exists(p)), None)
    return browser, driver


@pytest.fixture(scope="session")
def chrome_paths() -> tuple[str, str]:
    pytest.importorskip("selenium", reason="selenium is not installed (pip install '.[test]')")
    browser, driver = _find_chrome()
    if not (browser and driver) and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        command = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]
        try:
            if subprocess.run(command, env=env, capture_output=True, timeout=900).returncode != 0:
                subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
                subprocess.run(command, env=env, capture_output=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired):
            pass
        browser, driver = _find_chrome()
    if not (browser and driver):
        pytest.skip("no headless browser: chromium and chromedriver are not installed and could not be installed "
                    "(as root: apt-get install -y chromium chromium-driver)")
    return browser, driver


def _case(root: Path) -> Path:
    """20 tiny images in the tool's format: landscape and portrait, JPEG and PNG, one generated,
    one with regions and provenance in its record, one whose original is gone; and one input
    that failed (its error record)."""
    images, out = root / "in", root / "out"
    for i in range(N_IMAGES):
        w, h = (96, 64) if i % 3 else (64, 96)
        rgb = photo(w, h, i)
        path = images / f"photo_{i:02d}.jpg"
        if i % 5 == 4:
            path = path.with_suffix(".png")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(path)
        else:
            save_jpeg(path, rgb)
        heat = None if i % 4 else np.full((h, w), 0.08, np.float32)  # every 4th: authentic
        fake_result(out, path, heatmap=heat,
                    verdict="generated" if i == 7 else None,
                    class_probs={"authentic": 0.1, "manipulated": 0.1, "generated": 0.8} if i == 7 else None)
    record_path = out / "photo_01.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["regions"] = {"count": 1, "listed": 1, "regions": [{"number": 1, "box": [40, 10, 80, 50], "area_fraction": 0.26,
                                                              "mean_probability": 0.7, "peak_probability": 0.9}]}
    record["provenance"] = {"c2pa": {"status": "no_manifest", "message": "The file carries no C2PA manifest."},
                            "xmp_digital_source_types": ["digitalCapture"]}
    record_path.write_text(json.dumps(record), encoding="utf-8")
    (images / "photo_02.jpg").unlink()
    (out / "zz_broken.json").write_text(json.dumps({"schema": "imlforensic.error/1", "input": {"path": str(images / "zz_broken.jpg")},
                                                    "error": "corrupt image data: truncated"}), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def page(chrome_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    root = tmp_path_factory.mktemp("viewer")
    write_case_viewer(root / "viewer", load_case(_case(root)), title="Case 20")
    options = webdriver.ChromeOptions()
    options.binary_location = chrome_paths[0]
    for flag in CHROME_FLAGS + (f"--user-data-dir={root / 'profile'}",):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chrome_paths[1]), options=options)
    try:
        driver.get("about:blank")
        driver.get_log("performance")  # drop the browser's own start-up events
        driver.get((root / "viewer" / "index.html").as_uri())
        yield driver
    finally:
        driver.quit()


def _wait(driver, script: str, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _loaded(driver, element_id: str) -> int:
    return _wait(driver, f"const i = document.getElementById('{element_id}'); return i.complete && i.naturalWidth;")


def test_every_image_appears(page) -> None:
    from selenium.webdriver.common.by import By

    rows = page.find_elements(By.CSS_SELECTOR, "#summary-table tbody tr")
    assert len(rows) == N_IMAGES + 1
    names = [r.find_element(By.CSS_SELECTOR, "td.name").text for r in rows]
    assert sorted(names) == sorted([f"photo_{i:02d}.{'png' if i % 5 == 4 else 'jpg'}" for i in range(N_IMAGES)] + ["zz_broken.jpg"])
    previews = _wait(page, "const p = [...document.querySelectorAll('td.preview img')]; "
                           "return p.every(i => i.complete && i.naturalWidth > 0) && p.length")
    assert previews == N_IMAGES
    verdicts = {r.find_element(By.CSS_SELECTOR, ".badge").text for r in rows}
    assert verdicts == {"authentic", "manipulated", "fully generated", "failed"}

    rows[0].click()
    for i in range(N_IMAGES):
        title = _wait(page, f"return location.hash === '#image={i + 1}' && document.getElementById('detail-title').textContent")
        assert title.startswith(f"photo_{i:02d}.")
        assert _loaded(page, "img-left") in (64, 96)  # the overlay, at full resolution
        if i != 2:
            assert page.execute_script("return document.getElementById('layer-right').value") == "original"
            assert _loaded(page, "img-right") in (64, 96)
        else:  # its original was deleted: the page says so
            assert "no longer at" in page.find_element(By.ID, "evidence").text
        if i < N_IMAGES - 1:
            page.find_element(By.ID, "next").click()
    page.find_element(By.ID, "next").click()  # the failed input: a page that says so
    message = _wait(page, "const m = document.getElementById('no-pictures'); return !m.hidden && m.textContent")
    assert "corrupt image data" in message
    assert page.find_element(By.ID, "next").get_attribute("disabled") is not None
    page.get(page.current_url.split("#")[0] + "#image=2")
    evidence = _wait(page, "return document.getElementById('evidence').textContent")
    assert "Regions (1)" in evidence and "40, 10, 80, 50" in evidence and "Provenance" in evidence
    assert len(page.find_elements(By.CSS_SELECTOR, "#regions .region-box")) == 1
    # the generated picture (its mask has a region): a whole-image finding, said so, with no box drawn
    page.get(page.current_url.split("#")[0] + "#image=8")
    _wait(page, "return location.hash === '#image=8' && document.getElementById('evidence').textContent")
    assert page.find_element(By.ID, "detail-verdict").text == "fully generated"
    assert len(page.find_elements(By.CSS_SELECTOR, "#regions .region-box")) == 0
    page.get(page.current_url.split("#")[0] + "#image=2")
    _wait(page, "return location.hash === '#image=2' && document.getElementById('evidence').textContent")
    assert len(page.find_elements(By.CSS_SELECTOR, "#regions .region-box")) == 1  # a manipulated one keeps its box


def test_swipe_moves_the_clip(page) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    page.get(page.current_url.split("#")[0] + "#image=1")
    _loaded(page, "img-left")
    clip = "return document.getElementById('plane-left').style.clipPath"
    assert page.execute_script(clip) == "inset(0px 50% 0px 0px)"
    slider = page.find_element(By.ID, "swipe")
    slider.send_keys(Keys.HOME)
    assert page.execute_script(clip) == "inset(0px 100% 0px 0px)"
    Select(page.find_element(By.ID, "layer-left")).select_by_value("mask")
    _loaded(page, "img-left")
    viewport = page.find_element(By.ID, "viewport")
    original_only = np.asarray(Image.open(io.BytesIO(viewport.screenshot_as_png)).convert("RGB"))
    slider.send_keys(Keys.END)
    assert page.execute_script(clip) == "inset(0px 0% 0px 0px)"
    mask_only = np.asarray(Image.open(io.BytesIO(viewport.screenshot_as_png)).convert("RGB"))
    # the mask is black and white, the original is a colourful photo: the swipe changed what is shown
    assert np.abs(original_only.astype(int) - mask_only.astype(int)).mean() > 20
    assert len(np.unique(mask_only.reshape(-1, 3) // 32, axis=0)) < len(np.unique(original_only.reshape(-1, 3) // 32, axis=0))
    width = slider.size["width"]
    ActionChains(page).click_and_hold(slider).move_by_offset(-width // 4, 0).release().perform()  # a drag to about 25 %
    right = float(page.execute_script(clip).split()[1].rstrip("%"))
    assert 55 < right < 95
    divider = page.execute_script("return parseFloat(document.getElementById('divider').style.left)")
    assert divider == pytest.approx(100 - right, abs=0.6)
    Select(page.find_element(By.ID, "layer-left")).select_by_value("overlay")


def test_zoom_and_pan(page) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By

    page.get(page.current_url.split("#")[0] + "#image=1")
    _loaded(page, "img-left")
    matrix = "const m = new DOMMatrix(getComputedStyle(document.getElementById('stage-left')).transform); return [m.a, m.e, m.f];"
    fitted = page.execute_script(matrix)[0]
    assert fitted > 2  # the 64 x 96 picture fills the view
    page.find_element(By.ID, "zoom-in").click()
    assert page.execute_script(matrix)[0] == pytest.approx(fitted * 1.5)
    page.find_element(By.ID, "zoom-1").click()
    assert page.execute_script(matrix)[0] == pytest.approx(1.0)
    shown, natural = page.execute_script("const i = document.getElementById('img-left'); return [i.getBoundingClientRect().width, i.naturalWidth]")
    assert shown == pytest.approx(natural, abs=0.5) and natural == 64  # 1:1 = one image pixel per screen pixel
    viewport = page.find_element(By.ID, "viewport")
    ActionChains(page).scroll_from_origin(ScrollOrigin.from_element(viewport), 0, -300).perform()
    scale_after_wheel = _wait(page, "const m = new DOMMatrix(getComputedStyle(document.getElementById('stage-left')).transform); return m.a > 1.05 && m.a")
    assert scale_after_wheel > 1.05
    before = page.execute_script(matrix)
    ActionChains(page).move_to_element(viewport).click_and_hold().move_by_offset(120, 40).release().perform()
    after = page.execute_script(matrix)
    assert after[0] == pytest.approx(before[0]) and after[1] - before[1] == pytest.approx(120, abs=2)
    assert after[2] - before[2] == pytest.approx(40, abs=2)
    assert page.execute_script(matrix) == page.execute_script(matrix.replace("stage-left", "stage-right"))  # layers stay aligned
    page.find_element(By.ID, "zoom-fit").click()
    assert page.execute_script(matrix)[0] == pytest.approx(fitted)


def test_no_console_errors_no_network_and_a_screenshot_with_content(page) -> None:
    page.get(page.current_url.split("#")[0] + "#image=5")
    _loaded(page, "img-left")
    _loaded(page, "img-right")
    _wait(page, "return document.getElementById('heatmap-view').complete")
    errors = [e for e in page.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == []
    requested = []
    for entry in page.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    assert requested and all(u.startswith(("file://", "data:")) for u in requested), [u for u in requested if not u.startswith("file")]
    resources = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith(("file://", "data:")) for u in resources)
    shot = np.asarray(Image.open(io.BytesIO(page.get_screenshot_as_png())).convert("RGB"))
    assert shot.shape[0] > 500 and shot.shape[1] > 1000
    assert shot.std() > 30 and len(np.unique(shot.reshape(-1, 3) // 8, axis=0)) > 300  # not blank: text, photo, heatmap
