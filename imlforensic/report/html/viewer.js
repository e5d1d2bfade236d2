/* imlforensic case viewer. Everything it shows comes from the JSON block in the page and from
   the image files in its own folder; text is only ever inserted with textContent. */
"use strict";
(function () {
  const CASE = JSON.parse(document.getElementById("case-data").textContent);
  const IMAGES = CASE.images;
  const LABELS = Object.assign({ original: "Original" }, CASE.layers);
  const $ = (id) => document.getElementById(id);
  const STAGES = ["stage-left", "stage-right"];
  const state = { current: -1, scale: 1, tx: 0, ty: 0, fitted: true, swipe: 50, sort: ["number", 1] };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const pct = (v, digits = 2) => (v === null || v === undefined ? "—" : (100 * v).toFixed(digits) + " %");
  const num = (v, digits = 3) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
  const regionCount = (img) => (img.regions ? img.regions.count : null);
  // "generated" is a whole-image finding: said as "fully generated", and no region box is drawn
  const badge = (verdict) => el("span", { class: "badge " + (verdict || "failed") },
    verdict === "generated" ? "fully generated" : (verdict || "—"));

  /* ---------- summary ---------- */
  function buildSummary() {
    $("case-meta").textContent = `${IMAGES.length} image${IMAGES.length === 1 ? "" : "s"} · ${CASE.tool} · ${CASE.created} · offline viewer`;
    const body = document.querySelector("#summary-table tbody");
    body.replaceChildren();
    const order = IMAGES.slice().sort(compare);
    for (const img of order) {
      const preview = img.preview ? el("img", { src: img.preview, alt: "", loading: "lazy" }) : "—";
      const row = el("tr", { tabindex: 0, "data-index": img.number - 1 },
        el("td", { class: "num" }, img.number),
        el("td", { class: "preview" }, preview),
        el("td", { class: "name", title: img.path }, img.name),
        el("td", {}, badge(img.verdict)),
        el("td", { class: "num" }, num(img.score)),
        el("td", { class: "num" }, pct(img.flagged_fraction)),
        el("td", { class: "num" }, regionCount(img) === null ? "—" : regionCount(img)),
        el("td", { class: "notes" }, (img.notes || []).join(" · ")));
      row.dataset.text = [img.path, img.verdict, ...(img.notes || [])].join(" ").toLowerCase();
      row.addEventListener("click", () => go(img.number - 1));
      row.addEventListener("keydown", (e) => { if (e.key === "Enter") go(img.number - 1); });
      body.append(row);
    }
    applyFilter();
  }
  function compare(a, b) {
    const [key, dir] = state.sort;
    const value = (img) => ({ number: img.number, name: img.name.toLowerCase(), verdict: img.verdict || "",
      score: img.score ?? -1, flagged: img.flagged_fraction ?? -1, regions: regionCount(img) ?? -1 })[key];
    const va = value(a), vb = value(b);
    return (va < vb ? -1 : va > vb ? 1 : a.number - b.number) * dir;
  }
  function applyFilter() {
    const text = $("filter").value.trim().toLowerCase();
    let shown = 0;
    for (const row of document.querySelectorAll("#summary-table tbody tr")) {
      const visible = !text || row.dataset.text.includes(text);
      row.hidden = !visible;
      shown += visible ? 1 : 0;
    }
    $("shown-count").textContent = `${shown} of ${IMAGES.length} shown`;
  }

  /* ---------- detail ---------- */
  /* Render at once rather than on the asynchronous hashchange: the page is never seen with the
     new address and the old picture (the later hashchange finds nothing changed). */
  function go(index) { location.hash = index < 0 ? "" : "#image=" + (index + 1); route(); }
  function route() {
    const match = /^#image=(\d+)$/.exec(location.hash);
    const index = match ? Number(match[1]) - 1 : -1;
    if (index >= 0 && index < IMAGES.length) showDetail(index);
    else showSummary();
  }
  function showSummary() {
    state.current = -1;
    $("detail").hidden = true;
    $("summary").hidden = false;
    document.title = CASE.title;
  }
  function layerOptions(select, img, chosen) {
    select.replaceChildren();
    for (const kind of Object.keys(img.layers)) select.append(el("option", { value: kind, selected: kind === chosen }, LABELS[kind] || kind));
  }
  function showDetail(index) {
    const img = IMAGES[index];
    const changed = state.current !== index;
    state.current = index;
    $("summary").hidden = true;
    $("detail").hidden = false;
    document.title = `${img.name} — ${CASE.title}`;
    $("detail-title").textContent = img.name;
    $("detail-verdict").replaceWith(Object.assign(badge(img.verdict), { id: "detail-verdict" }));
    $("detail-position").textContent = `${index + 1} / ${IMAGES.length}`;
    $("prev").disabled = index === 0;
    $("next").disabled = index === IMAGES.length - 1;
    const kinds = Object.keys(img.layers);
    const left = kinds.includes("overlay") ? "overlay" : kinds[0];
    const right = kinds.includes("original") ? "original" : (kinds.find((k) => k !== left) || left);
    layerOptions($("layer-left"), img, left);
    layerOptions($("layer-right"), img, right);
    const none = kinds.length === 0;
    $("no-pictures").hidden = !none;
    $("no-pictures").textContent = none ? (img.status === "failed" ? "Not analysed: " + (img.notes || []).join(" ") : "No pictures were found for this image.") : "";
    for (const id of ["plane-left", "plane-right", "divider", "regions", "label-left", "label-right"]) $(id).style.visibility = none ? "hidden" : "";
    setLayers();
    const width = img.width || 1, height = img.height || 1;
    for (const id of STAGES) {
      $(id).style.width = width + "px";
      $(id).style.height = height + "px";
    }
    drawRegions(img);
    const heat = img.layers.heatmap_color || img.layers.heatmap;
    $("heatmap-figure").hidden = !heat;
    if (heat) $("heatmap-view").src = heat;
    buildEvidence(img);
    if (changed) fit();
  }
  function setLayers() {
    const img = IMAGES[state.current];
    const left = $("layer-left").value, right = $("layer-right").value;
    for (const [id, kind] of [["img-left", left], ["img-right", right]]) {
      if (img.layers[kind]) $(id).src = img.layers[kind];
      else $(id).removeAttribute("src");
    }
    $("label-left").textContent = LABELS[left] || "";
    $("label-right").textContent = LABELS[right] || "";
  }
  function drawRegions(img) {
    // Boxes live in viewport coordinates (placed by placeRegions at every zoom / pan), so their
    // lines stay 2 px wide on screen at any zoom.
    const box = $("regions");
    box.replaceChildren();
    const boxed = img.verdict === "generated" ? [] : (img.regions && img.regions.regions) || [];
    for (const r of boxed) {
      if (!r.box || r.box.length !== 4) continue;
      const div = el("div", { class: "region-box", title: `region ${r.number}` }, el("span", {}, String(r.number)));
      div.dataset.box = JSON.stringify(r.box.map((v) => v * (img.scale || 1)));
      box.append(div);
    }
    box.hidden = !$("show-regions").checked;
  }
  function placeRegions() {
    for (const div of $("regions").children) {
      const [x0, y0, x1, y1] = JSON.parse(div.dataset.box);
      Object.assign(div.style, {
        left: (state.tx + x0 * state.scale) + "px", top: (state.ty + y0 * state.scale) + "px",
        width: Math.max(2, (x1 - x0) * state.scale) + "px", height: Math.max(2, (y1 - y0) * state.scale) + "px",
      });
    }
  }

  /* ---------- swipe, zoom and pan ---------- */
  function applySwipe() {
    const p = Number($("swipe").value);
    state.swipe = p;
    $("plane-left").style.clipPath = `inset(0 ${(100 - p).toFixed(2)}% 0 0)`;
    $("divider").style.left = p + "%";
  }
  function applyTransform() {
    const t = `translate(${state.tx}px, ${state.ty}px) scale(${state.scale})`;
    for (const id of STAGES) {
      $(id).style.transform = t;
      $(id).classList.toggle("pixelated", state.scale >= 2);
    }
    placeRegions();
    $("zoom-level").textContent = (state.scale * 100).toFixed(state.scale < 0.1 ? 1 : 0) + " %";
  }
  function natural() {
    const img = IMAGES[state.current];
    return [img.width || 1, img.height || 1];
  }
  function fit() {
    const view = $("viewport").getBoundingClientRect();
    const [w, h] = natural();
    state.scale = Math.min(view.width / w, view.height / h) || 1;
    state.tx = (view.width - w * state.scale) / 2;
    state.ty = (view.height - h * state.scale) / 2;
    state.fitted = true;
    applyTransform();
  }
  function zoomAt(factor, cx, cy) {
    const view = $("viewport").getBoundingClientRect();
    if (cx === undefined) { cx = view.width / 2; cy = view.height / 2; }
    const scale = Math.min(64, Math.max(0.02, state.scale * factor));
    state.tx = cx - (cx - state.tx) * (scale / state.scale);
    state.ty = cy - (cy - state.ty) * (scale / state.scale);
    state.scale = scale;
    state.fitted = false;
    applyTransform();
  }
  function oneToOne() {
    // One image pixel per CSS pixel, about the middle of the view. (Images downscaled with the
    // viewer's --max-side option show their own pixels: img.scale says by how much.)
    const img = IMAGES[state.current];
    zoomAt(1 / ((img.scale || 1) * state.scale));
  }
  function setupInteraction() {
    const view = $("viewport");
    let drag = null;
    view.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      drag = { x: e.clientX, y: e.clientY, tx: state.tx, ty: state.ty };
      view.setPointerCapture(e.pointerId);
      view.classList.add("dragging");
      view.focus({ preventScroll: true });
    });
    view.addEventListener("pointermove", (e) => {
      if (!drag) return;
      state.tx = drag.tx + e.clientX - drag.x;
      state.ty = drag.ty + e.clientY - drag.y;
      state.fitted = false;
      applyTransform();
    });
    const end = (e) => { if (drag) { drag = null; view.classList.remove("dragging"); try { view.releasePointerCapture(e.pointerId); } catch (_) { /* already released */ } } };
    view.addEventListener("pointerup", end);
    view.addEventListener("pointercancel", end);
    view.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = view.getBoundingClientRect();
      const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      zoomAt(Math.exp(-delta * 0.0015), e.clientX - rect.left, e.clientY - rect.top);
    }, { passive: false });
    $("swipe").addEventListener("input", applySwipe);
    $("layer-left").addEventListener("change", setLayers);
    $("layer-right").addEventListener("change", setLayers);
    $("zoom-in").addEventListener("click", () => zoomAt(1.5));
    $("zoom-out").addEventListener("click", () => zoomAt(1 / 1.5));
    $("zoom-fit").addEventListener("click", fit);
    $("zoom-1").addEventListener("click", oneToOne);
    $("show-regions").addEventListener("change", () => { $("regions").hidden = !$("show-regions").checked; });
    $("back").addEventListener("click", () => go(-1));
    $("prev").addEventListener("click", () => go(Math.max(0, state.current - 1)));
    $("next").addEventListener("click", () => go(Math.min(IMAGES.length - 1, state.current + 1)));
    $("heatmap-figure").addEventListener("click", () => {
      const img = IMAGES[state.current];
      const kind = img.layers.heatmap_color ? "heatmap_color" : "heatmap";
      if (img.layers[kind]) { $("layer-left").value = kind; setLayers(); }
    });
    $("filter").addEventListener("input", applyFilter);
    for (const th of document.querySelectorAll("th[data-sort]")) {
      th.addEventListener("click", () => {
        const key = th.dataset.sort;
        state.sort = [key, state.sort[0] === key ? -state.sort[1] : (key === "name" || key === "number" ? 1 : -1)];
        buildSummary();
      });
    }
    window.addEventListener("resize", () => { if (state.current >= 0 && state.fitted) fit(); });
    document.addEventListener("keydown", (e) => {
      if (state.current < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
      const tag = (e.target && e.target.tagName) || "";
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") { if (e.key === "Escape") e.target.blur(); return; }
      const keys = {
        ArrowLeft: () => go(Math.max(0, state.current - 1)), ArrowRight: () => go(Math.min(IMAGES.length - 1, state.current + 1)),
        Escape: () => go(-1), "+": () => zoomAt(1.5), "=": () => zoomAt(1.5), "-": () => zoomAt(1 / 1.5), "0": fit, "1": oneToOne,
        "[": () => { $("swipe").value = Math.max(0, state.swipe - 5); applySwipe(); },
        "]": () => { $("swipe").value = Math.min(100, state.swipe + 5); applySwipe(); },
      };
      if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
    });
    window.addEventListener("hashchange", route);
  }

  /* ---------- evidence ---------- */
  function dl(rows) {
    const list = el("dl");
    for (const [key, value, cls] of rows) {
      if (value === null || value === undefined || value === "") continue;
      list.append(el("dt", {}, key), el("dd", { class: cls || null }, value));
    }
    return list;
  }
  function section(title, content) { return [el("h3", {}, title), content]; }
  function tree(value, depth = 0) {
    // Any nested part of a record (provenance, metadata, JPEG findings, details), as nested lists.
    if (value === null || typeof value !== "object") return String(value);
    if (depth > 4) return JSON.stringify(value);
    if (Array.isArray(value)) {
      if (value.every((v) => v === null || typeof v !== "object")) return value.join(", ") || "—";
      return el("ul", {}, ...value.map((v) => el("li", {}, tree(v, depth + 1))));
    }
    return dl(Object.entries(value).map(([k, v]) => [k, tree(v, depth + 1)]));
  }
  function buildEvidence(img) {
    const rec = img.record || {};
    const input = rec.input || {};
    const method = rec.method || {};
    const parts = [];
    const probs = Object.entries(img.class_probs || {}).map(([k, v]) => `${k} ${num(v)}`).join(" · ");
    parts.push(...section("Verdict", dl([
      ["Verdict", badge(img.verdict)], ["Score", num(img.score)], ["Probabilities", probs],
      ["Flagged area", pct(img.flagged_fraction)], ["Threshold", img.threshold === null ? null : num(img.threshold, 2)],
      ["Method", img.method], ["Weights", method.weights_sha256 ? method.weights_sha256.slice(0, 16) + "…" : null, "mono"],
      ["Refiner", rec.refiner ? [rec.refiner.name, rec.refiner.version].filter(Boolean).join(" ") : null],
    ])));
    if (img.notes && img.notes.length) parts.push(...section("Notes", el("ul", {}, ...img.notes.map((n) => el("li", {}, n)))));
    const listed = (img.regions && img.regions.regions) || [];
    if (img.regions) {
      const table = el("table", {}, el("tr", {}, ...["#", "box (x0, y0, x1, y1)", "area", "mean", "peak"].map((h) => el("th", {}, h))));
      for (const r of listed) {
        table.append(el("tr", {}, el("td", {}, r.number), el("td", { class: "mono" }, (r.box || []).join(", ")),
          el("td", { class: "num" }, pct(r.area_fraction)), el("td", { class: "num" }, num(r.mean_probability, 2)),
          el("td", { class: "num" }, num(r.peak_probability, 2))));
      }
      const more = img.regions.count > listed.length ? el("p", { class: "meta" }, `${img.regions.count - listed.length} smaller region(s) not listed`) : null;
      parts.push(...section(`Regions (${img.regions.count})`, img.regions.count ? el("div", {}, table, more) : el("p", { class: "meta" }, "none")));
    }
    for (const [key, title] of [["provenance", "Provenance"], ["metadata", "Metadata"], ["jpeg", "JPEG structure"], ["details", "Method details"]]) {
      const value = rec[key];
      if (value && (typeof value !== "object" || Object.keys(value).length)) parts.push(...section(title, tree(value)));
    }
    const original = img.original || {};
    parts.push(...section("Input", dl([
      ["Path", img.path, "mono"], ["SHA-256", img.sha256, "mono"],
      ["Size", img.width ? `${img.width} × ${img.height} px` : null], ["Format", [input.format, input.mode].filter(Boolean).join(", ")],
      ["Bytes", input.bytes], ["JPEG quality", input.jpeg_quality], ["EXIF orientation", input.exif_orientation],
      ["Conversions", (input.conversions || []).join("; ")],
      ["Original", original.status === "ok" ? `shown: ${original.how || "verified"}` : (original.message || original.status)],
      ["Analysed", rec.created], ["Tool", rec.tool ? `${rec.tool.name} ${rec.tool.version}` : null],
    ])));
    $("evidence").replaceChildren(...parts);
    $("raw").textContent = JSON.stringify(rec, null, 2);
  }

  setupInteraction();
  buildSummary();
  applySwipe();
  route();
})();
