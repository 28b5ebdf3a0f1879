/* glassnet explain — the page's script. Plain JS, no libraries, no network.
 *
 * The data block (#page-data) holds one forward pass: per layer its output map (flat,
 * row-major HWC: X[i, j, c] = data[(i * W + j) * C + c]), its geometry and, for the layers
 * whose cells can be opened, its weights. A clicked conv/pool/dense cell is recomputed here
 * from the embedded inputs and weights and compared with the embedded output (the reference).
 */
(function () {
  "use strict";

  const DATA = (window.glassnet && window.glassnet.data) || JSON.parse(document.getElementById("page-data").textContent); // engine.js: decoded weights, computed maps
  const LAYERS = DATA.layers;
  const BY_KEY = Object.fromEntries(LAYERS.map((l) => [l.key, l]));
  const SHOW_CHANNELS = 16; // maps shown per overview column before "show all"
  const SHOW_CARDS = 4; // input channels shown per conv cell before "show all"
  const state = { key: null, ch: 0, i: 0, j: 0, allCards: false };

  // ----- small helpers ------------------------------------------------------------------
  // Markup is built only with the markup`...` tag: every interpolated value is escaped unless it
  // is itself Markup, so a layer or class name from the model file is always text, never HTML.
  class Markup {
    constructor(text) { this.text = text; }
    toString() { return this.text; }
  }
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escapeHTML = (v) => String(v).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
  function markup(strings, ...values) {
    let out = strings[0];
    values.forEach((v, k) => {
      out += (v instanceof Markup ? v.text : v === null || v === undefined || v === false ? ""
        : escapeHTML(v)) + strings[k + 1];
    });
    return new Markup(out);
  }
  // Long markup in pieces: Markup pieces as they are, anything else escaped.
  const concat = (...parts) => new Markup(parts.map((v) => (v instanceof Markup ? v.text
    : escapeHTML(v))).join(""));
  // The only place HTML is parsed: { html: m } needs Markup; any other value is set as text.
  function setHTML(node, m) {
    if (m instanceof Markup) node.innerHTML = m.text;
    else node.textContent = m;
  }
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "html") setHTML(node, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) {
      if (kid !== null && kid !== undefined && kid !== false) {
        node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
      }
    }
    return node;
  }
  const num = (v) => (v === null || v === undefined ? NaN : v);
  function fmt(v, digits) {
    v = num(v);
    if (Number.isNaN(v)) return "—";
    if (v === 0) return "0";
    const a = Math.abs(v);
    const d = digits || 4;
    const text = a >= 1e5 || a < 1e-3 ? v.toExponential(Math.max(d - 2, 1))
      : String(Number(v.toPrecision(d)));
    return text.replace("-", "\u2212");
  }
  const big = (n) => n.toLocaleString("en-US");
  function si(n) {
    for (const [u, s] of [["G", 1e9], ["M", 1e6], ["K", 1e3]]) {
      if (n >= s) return (n / s).toFixed(2).replace(/\.?0+$/, "") + " " + u;
    }
    return String(n);
  }
  const shapeText = (s) => s.join("×");
  function say(text) { document.getElementById("live").textContent = text; }

  // A map as a grid of cells: (H, W, C) maps as they are, flat (F,) vectors wrapped in rows.
  function grid(layer) {
    const m = layer.map;
    if (m.shape.length === 3) {
      const [h, w, c] = m.shape;
      return { h, w, c, flat: false, n: h * w * c,
        get: (i, j, ch) => num(m.data[(i * w + j) * c + ch]) };
    }
    const n = m.shape[0];
    const w = n <= 16 ? n : Math.ceil(Math.sqrt(n));
    const h = Math.ceil(n / w);
    return { h, w, c: 1, flat: true, n,
      get: (i, j) => (i * w + j < n ? num(m.data[i * w + j]) : NaN) };
  }
  const scaleOf = (layer) => Math.max(Math.abs(layer.range[0]), Math.abs(layer.range[1])) || 1;

  // Diverging heat map: blue (negative) — near white (0) — orange (positive).
  const NEG = [28, 100, 184], POS = [217, 72, 15], MID = [250, 250, 250];
  function heat(v, scale, gray) {
    if (Number.isNaN(v)) return [220, 220, 220];
    if (gray) {
      const g = Math.round(255 * Math.min(Math.max(v, 0), 1));
      return [g, g, g];
    }
    const t = Math.max(-1, Math.min(1, v / scale));
    const end = t < 0 ? NEG : POS;
    const a = Math.abs(t);
    return MID.map((m, k) => Math.round(m + (end[k] - m) * a));
  }
  const isImage = (layer) => layer.info.kind === "input" && layer.range[0] >= 0 &&
    layer.range[1] <= 1;

  // Draw channel `ch` of a layer on a canvas, `cell` CSS pixels per value; `pad` adds padding.
  function drawMap(canvas, layer, ch, cell, pad) {
    const g = grid(layer);
    const p = pad || [[0, 0], [0, 0]];
    const rows = g.h + p[0][0] + p[0][1], cols = g.w + p[1][0] + p[1][1];
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cols * cell * dpr);
    canvas.height = Math.round(rows * cell * dpr);
    canvas.style.width = cols * cell + "px";
    canvas.style.height = rows * cell + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const scale = scaleOf(layer), gray = isImage(layer);
    const img = ctx.createImageData(g.w, g.h);
    for (let i = 0; i < g.h; i++) {
      for (let j = 0; j < g.w; j++) {
        const c = heat(g.get(i, j, ch), scale, gray), o = 4 * (i * g.w + j);
        img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
      }
    }
    const off = document.createElement("canvas");
    off.width = g.w; off.height = g.h;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.fillStyle = "#e4e7ec";
    ctx.fillRect(0, 0, cols * cell, rows * cell);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, p[1][0] * cell, p[0][0] * cell, g.w * cell, g.h * cell);
    if (cell >= 6) {
      ctx.strokeStyle = "rgba(0,0,0,0.07)";
      ctx.lineWidth = 1;
      for (let i = 0; i <= rows; i++) line(ctx, 0, i * cell, cols * cell, i * cell);
      for (let j = 0; j <= cols; j++) line(ctx, j * cell, 0, j * cell, rows * cell);
    }
    return { ctx, g, cell, p };
  }
  function line(ctx, x0, y0, x1, y1) {
    ctx.beginPath(); ctx.moveTo(x0 + 0.5, y0 + 0.5); ctx.lineTo(x1 + 0.5, y1 + 0.5); ctx.stroke();
  }
  function box(ctx, x, y, w, h, color, width) {
    ctx.strokeStyle = color; ctx.lineWidth = width || 2;
    ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
  }

  // ----- header -------------------------------------------------------------------------
  function header() {
    const m = DATA.model, s = DATA.softmax;
    document.getElementById("model-name").textContent = m.name;
    const stats = [
      markup`input <b>${shapeText(m.input_shape)}</b>`, markup`<b>${LAYERS.length - 1}</b> layers`,
      markup`<b>${big(m.total_params)}</b> parameters`,
      markup`<b>${si(m.total_macs)}</b> multiply-adds (MACs)`,
    ];
    if (s) {
      const p = s.probs[s.predicted];
      stats.push(markup`prediction <b>${s.class_names[s.predicted]}</b> (${
        (100 * p).toFixed(1)}%)`);
    }
    setHTML(document.getElementById("model-stats"), new Markup(stats.join(" · ")));
    const note = document.getElementById("model-note");
    note.textContent = "Weights: " + m.note + ".";
    if (m.note.startsWith("random")) note.className = "untrained";
    document.getElementById("input-note").textContent = "Input: " + DATA.input.note + ".";
    document.getElementById("digits").textContent = DATA.significant_digits;
    if (!s) document.getElementById("nav-softmax").hidden = true;
  }

  // ----- 1. overview --------------------------------------------------------------------
  function describeType(l) {
    const i = l.info;
    const act = i.activation && i.activation !== "linear" && i.kind !== "elementwise"
      ? ", " + i.activation : "";
    if (i.kind === "conv") {
      const k = i.kernel_size.join("×"), s = i.strides[0] === i.strides[1] ? i.strides[0]
        : i.strides.join("×");
      return `${l.type} ${k}, stride ${s}${i.groups > 1 ? ", groups " + i.groups : ""}${act}`;
    }
    if (i.kind === "pool") return `${l.type} ${i.pool_size.join("×")}, stride ${i.strides[0]}`;
    return l.type + act;
  }

  function thumbButton(l, ch, size) {
    const g = grid(l);
    const cell = Math.max(1, Math.floor(size / Math.max(g.w, g.h)));
    const canvas = el("canvas", { "aria-hidden": "true" });
    const label = g.flat ? `${l.key}: all ${g.n} values` : `${l.key}: channel ${ch}`;
    const btn = el("button", { class: "thumb", type: "button", "data-layer": l.key,
      "data-channel": ch, "aria-label": label, title: label,
      onclick: () => select(l.key, ch, true) }, canvas);
    drawMap(canvas, l, ch, cell);
    canvas.style.width = "100%"; // the grid cell sets the size; the bitmap keeps its pixels
    canvas.style.height = "auto";
    return btn;
  }

  // A colour input as the picture it is (the channels follow as heat maps).
  function rgbPreview(l) {
    const g = grid(l);
    const canvas = el("canvas", { class: "rgb", role: "img", "aria-label": "the input in colour" });
    canvas.width = g.w; canvas.height = g.h;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(g.w, g.h);
    for (let i = 0; i < g.h; i++) {
      for (let j = 0; j < g.w; j++) {
        for (let c = 0; c < 3; c++) img.data[4 * (i * g.w + j) + c] = 255 * g.get(i, j, c);
        img.data[4 * (i * g.w + j) + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    return canvas;
  }

  function probBars(l) {
    const s = DATA.softmax;
    const g = grid(l);
    return el("div", { class: "bars" }, s.probs.map((p, k) => el("button", {
      type: "button", class: "row" + (k === s.predicted ? " pred" : "") +
        (k === s.label ? " truth" : ""), "data-layer": l.key, "data-unit": k,
      title: `${s.class_names[k]}: p = ${fmt(p, 6)} (click: how it is computed)`,
      onclick: () => select(l.key, 0, true, [Math.floor(k / g.w), k % g.w]) },
      el("span", { class: "cls", text: s.class_names[k] }),
      el("span", { class: "track" }, el("span", { class: "fill",
        style: `display:block;width:${(100 * p).toFixed(1)}%` })),
      el("span", { text: (100 * p).toFixed(1) + "%" }))));
  }

  function column(l, isLast) {
    const g = grid(l);
    const col = el("div", { class: "layer", role: "listitem", "data-layer": l.key });
    const meta = [el("span", { class: "shape", text: shapeText(l.shape) })];
    const prev = LAYERS[LAYERS.indexOf(l) - 1];
    if (l.inputs.length > 1 || (prev && l.inputs.length && l.inputs[0] !== prev.key)) {
      meta.push(el("br"), `from ${l.inputs.join(" + ")}`);
    }
    if (l.params) meta.push(el("br"), `${big(l.params)} params`);
    if (l.macs) meta.push(el("br"), `${si(l.macs)} MACs`);
    col.append(el("div", { class: "lname", text: l.key }),
      el("div", { class: "ltype", text: describeType(l) }), el("div", { class: "lmeta" }, meta));
    if (isLast && DATA.softmax && g.flat) {
      col.append(probBars(l));
      return col;
    }
    if (l.info.kind === "input" && g.c === 3 && isImage(l)) col.append(rgbPreview(l));
    const perRow = g.c === 1 ? 1 : g.c <= 4 ? 2 : 4;
    const size = Math.floor((114 - 3 * (perRow - 1)) / perRow);
    const thumbs = el("div", { class: "thumbs", style: `grid-template-columns:repeat(${perRow},1fr)` });
    const shown = Math.min(g.c, SHOW_CHANNELS);
    for (let ch = 0; ch < shown; ch++) thumbs.append(thumbButton(l, ch, size));
    col.append(thumbs);
    if (g.c > shown) {
      const more = el("button", { class: "more", type: "button", "aria-expanded": "false",
        text: `show all ${g.c} channels` });
      more.addEventListener("click", () => {
        for (let ch = shown; ch < g.c; ch++) thumbs.append(thumbButton(l, ch, size));
        more.remove();
      });
      col.append(more);
    }
    return col;
  }

  function overview() {
    const cols = document.getElementById("columns");
    LAYERS.forEach((l, k) => cols.append(column(l, k === LAYERS.length - 1)));
    document.getElementById("legend").append(
      el("span", { text: "colours:" }), el("span", { text: "negative" }),
      el("span", { class: "bar", "aria-hidden": "true" }), el("span", { text: "positive" }),
      el("span", { text: "(white = 0; each layer scaled to its largest |value|; the input is " +
        "drawn in gray, 0 = black, 1 = white)" }));
    if (cols.scrollWidth > cols.clientWidth + 4) {
      document.getElementById("legend").append(el("span", { class: "scroll-hint",
        text: `${LAYERS.length} columns: scroll sideways for more →` }));
    }
    const reduced = LAYERS.filter((l) => !l.full);
    if (reduced.length) {
      const note = document.getElementById("reduced-note");
      note.hidden = false;
      note.textContent = "To keep this page small, these layers are shown as thumbnails " +
        "only (their cells cannot be opened): " + reduced.map((l) => l.key).join(", ") +
        ". Rebuild with a larger --max-mb to embed everything.";
    }
    // Arrow keys move between maps: left/right across layers, up/down within one.
    cols.addEventListener("keydown", (ev) => {
      const t = ev.target;
      if (!t.classList || !t.classList.contains("thumb")) return;
      const colEl = t.closest(".layer");
      const mine = [...colEl.querySelectorAll(".thumb")], at = mine.indexOf(t);
      let next = null;
      if (ev.key === "ArrowDown") next = mine[at + 1];
      else if (ev.key === "ArrowUp") next = mine[at - 1];
      else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        let c = ev.key === "ArrowRight" ? colEl.nextElementSibling : colEl.previousElementSibling;
        while (c && !c.querySelector(".thumb")) {
          c = ev.key === "ArrowRight" ? c.nextElementSibling : c.previousElementSibling;
        }
        if (c) {
          const theirs = c.querySelectorAll(".thumb");
          next = theirs[Math.min(at, theirs.length - 1)];
        }
      }
      if (next) { ev.preventDefault(); next.focus(); }
    });
  }

  // ----- 2. detail: selection and maps --------------------------------------------------
  function select(key, ch, scroll, cell) {
    const l = BY_KEY[key];
    const g = grid(l);
    if (cell) {
      state.i = cell[0]; state.j = cell[1];
    } else if (state.key !== key) {
      const best = brightest(l, ch);
      state.i = best[0]; state.j = best[1];
    }
    state.key = key;
    state.ch = Math.max(0, Math.min(ch, g.flat ? 0 : g.c - 1));
    state.i = Math.min(state.i, g.h - 1); state.j = Math.min(state.j, g.w - 1);
    document.querySelectorAll(".layer").forEach((c) =>
      c.classList.toggle("current", c.dataset.layer === key));
    document.querySelectorAll(".thumb").forEach((b) => b.setAttribute("aria-pressed",
      String(b.dataset.layer === key && Number(b.dataset.channel) === state.ch)));
    renderDetail();
    if (scroll) document.getElementById("detail").scrollIntoView({ block: "start" });
  }

  // The cell with the largest value in a channel: a good first cell to look at.
  function brightest(l, ch) {
    const g = grid(l);
    let best = [0, 0], top = -Infinity;
    for (let i = 0; i < g.h; i++) {
      for (let j = 0; j < g.w; j++) {
        const v = g.get(i, j, g.flat ? 0 : ch);
        if (v > top) { top = v; best = [i, j]; }
      }
    }
    return best;
  }

  const cellSize = (g, room) => Math.max(3, Math.min(26, Math.floor(room / Math.max(g.h, g.w))));
  function roomFor() {
    const body = document.getElementById("detail-body");
    return Math.min(300, Math.max(160, (body.clientWidth || 320) - 24));
  }

  function outputFigure(l, onMove) {
    const g = grid(l);
    const cell = cellSize(g, roomFor());
    const canvas = el("canvas", { id: "out-canvas", class: "mapcanvas", tabindex: "0",
      role: "grid", "aria-label": `output map of ${l.key}; arrow keys move the selected cell`,
      "data-rows": g.h, "data-cols": g.w, "data-cell": cell });
    const v = drawMap(canvas, l, state.ch, cell);
    box(v.ctx, state.j * cell - 1, state.i * cell - 1, cell + 2, cell + 2, "#111", 2.5);
    canvas.addEventListener("click", (ev) => {
      const r = canvas.getBoundingClientRect();
      const i = Math.floor((ev.clientY - r.top - canvas.clientTop) / cell);
      const j = Math.floor((ev.clientX - r.left - canvas.clientLeft) / cell);
      if (i >= 0 && j >= 0 && i < g.h && j < g.w && !(g.flat && i * g.w + j >= g.n)) {
        onMove(i, j, true);
      }
    });
    canvas.addEventListener("keydown", (ev) => {
      const d = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (d[ev.key]) {
        ev.preventDefault();
        const i = Math.max(0, Math.min(g.h - 1, state.i + d[ev.key][0]));
        const j = Math.max(0, Math.min(g.w - 1, state.j + d[ev.key][1]));
        if (!(g.flat && i * g.w + j >= g.n)) onMove(i, j, true);
      } else if ((ev.key === "]" || ev.key === "PageDown") && !g.flat) {
        ev.preventDefault(); changeChannel(1);
      } else if ((ev.key === "[" || ev.key === "PageUp") && !g.flat) {
        ev.preventDefault(); changeChannel(-1);
      }
    });
    const what = g.flat ? `all ${g.n} values` : `channel ${state.ch} of ${g.c}`;
    const caption = markup`<b>Output</b> of ${l.key} — ${what}`;
    return el("figure", {}, el("figcaption", { html: caption }),
      canvas, el("div", { class: "keys", text: g.flat ? "click a value or use the arrow keys"
        : "click a cell · arrow keys move · [ ] change channel" }));
  }

  function changeChannel(delta) {
    const g = grid(BY_KEY[state.key]);
    const ch = (state.ch + delta + g.c) % g.c;
    select(state.key, ch, false);
    document.getElementById("out-canvas").focus();
  }

  // The input map with the padding drawn around it and the cells a window reads outlined.
  function inputFigure(l, ch, cells, caption, extra, scattered) {
    const src = BY_KEY[l.inputs[0]];
    const g = grid(src);
    const pad = l.info.pads || [[0, 0], [0, 0]];
    const cell = cellSize({ h: g.h + pad[0][0] + pad[0][1], w: g.w + pad[1][0] + pad[1][1] },
      roomFor());
    const canvas = el("canvas", { id: "in-canvas", class: "mapcanvas", "aria-hidden": "true" });
    const v = drawMap(canvas, src, ch, cell, pad);
    if (cells.length) {
      const ys = cells.map((c) => c[0]), xs = cells.map((c) => c[1]);
      const y0 = Math.min(...ys) + pad[0][0], x0 = Math.min(...xs) + pad[1][0];
      const y1 = Math.max(...ys) + pad[0][0], x1 = Math.max(...xs) + pad[1][0];
      v.ctx.fillStyle = "rgba(245, 159, 0, 0.35)";
      for (const [r, c] of cells) {
        v.ctx.fillRect((c + pad[1][0]) * cell, (r + pad[0][0]) * cell, cell, cell);
      }
      if (scattered) {
        for (const [r, c] of cells) {
          box(v.ctx, (c + pad[1][0]) * cell - 1, (r + pad[0][0]) * cell - 1, cell + 2, cell + 2,
            "#e67700", 2);
        }
      } else {
        box(v.ctx, x0 * cell - 1, y0 * cell - 1, (x1 - x0 + 1) * cell + 2,
          (y1 - y0 + 1) * cell + 2, "#e67700", 2.5);
      }
    }
    const padded = pad[0][0] + pad[0][1] + pad[1][0] + pad[1][1] > 0 ? " (gray ring: padding = 0)"
      : "";
    return el("figure", {}, el("figcaption", { html: concat(caption, padded) }), extra || null,
      canvas);
  }

  function renderDetail() {
    const body = document.getElementById("detail-body");
    body.replaceChildren();
    const l = BY_KEY[state.key];
    const g = grid(l);
    const chanNav = g.flat || g.c === 1 ? null : el("span", { class: "chan-nav" },
      el("button", { type: "button", "aria-label": "previous channel", text: "◀",
        onclick: () => changeChannel(-1) }),
      el("span", { text: `${l.info.kind === "conv" ? "filter" : "channel"} ${state.ch} / ${g.c}` }),
      el("button", { type: "button", "aria-label": "next channel", text: "▶",
        onclick: () => changeChannel(1) }));
    body.append(el("div", { class: "dhead" }, el("h3", { text: `${l.key}` }),
      el("span", { class: "sub", text: `${describeType(l)} · output ${shapeText(l.shape)}` }),
      chanNav));
    const calc = el("div", { class: "calc", id: "calc" });
    const maps = el("div", { class: "maps" });
    body.append(el("div", { class: "detail-grid" }, maps, calc));
    const move = (i, j, announce) => {
      state.i = i; state.j = j;
      renderDetail();
      const c = document.getElementById("out-canvas");
      if (announce && c) c.focus();
    };
    maps.append(outputFigure(l, move));
    const explain = EXPLAINERS[l.info.kind] || explainOther;
    if (!l.explorable && l.info.kind !== "input") {
      calc.append(el("p", { class: "warn", text: l.full ? "This layer's inputs or weights " +
        "were left out to keep the page small, so its cells cannot be recomputed here."
        : "This layer is shown as a thumbnail only (reduced to keep the page small)." }));
      calc.append(valueLine(l, g));
      return;
    }
    explain(l, g, calc, maps);
    say(`${l.key} cell ${state.i}, ${state.j}: ${document.getElementById("cell-ref")
      ? document.getElementById("cell-ref").textContent : ""}`);
  }

  function refValue(l, g) {
    return g.flat ? g.get(state.i, state.j) : g.get(state.i, state.j, state.ch);
  }
  const flatIndex = (g) => state.i * g.w + state.j;
  function valueLine(l, g) {
    const where = g.flat ? `a[${flatIndex(g)}]` : `[${state.i}, ${state.j}, ${state.ch}]`;
    const v = refValue(l, g);
    return el("p", {}, `${l.key}${where} = `, el("b", { id: "cell-ref", "data-value": v,
      text: fmt(v, 6) }));
  }

  function matrix(rows, cls, caption, digits, extra) {
    const t = el("table", { class: "mat" + (extra ? " " + extra : "") });
    if (caption) t.append(el("caption", { text: caption }));
    for (let u = 0; u < rows.length; u++) {
      t.append(el("tr", {}, rows[u].map((cell, v) => el("td", {
        class: (cls && cls(u, v)) || null, text: fmt(cell, digits || 3) }))));
    }
    return t;
  }

  function checkBadge(mine, ref) {
    const tol = 1e-4 * Math.max(1, Math.abs(ref));
    const ok = Math.abs(mine - ref) <= tol;
    return el("span", { class: "check " + (ok ? "ok" : "no"), id: "check",
      text: ok ? "✓ matches the forward pass" : `✗ differs by ${fmt(mine - ref, 3)}` });
  }

  function resultTable(rows) {
    return el("table", { class: "result" }, rows.map(([label, value, attrs, cls]) =>
      el("tr", { class: cls || null }, el("th", { html: label }),
        el("td", attrs || {}, value))));
  }

  const ACT = {
    linear: (z) => z, relu: (z) => Math.max(z, 0), relu6: (z) => Math.min(Math.max(z, 0), 6),
    leaky_relu: (z, s) => (z > 0 ? z : s * z), sigmoid: (z) => 1 / (1 + Math.exp(-z)),
    tanh: (z) => Math.tanh(z),
  };
  const ACT_TEXT = {
    relu: "max(0, z)", relu6: "min(max(0, z), 6)", leaky_relu: "z if z > 0 else 0.2·z",
    sigmoid: markup`1 / (1 + e<sup>−z</sup>)`, tanh: "tanh(z)", linear: "z",
  };

  // ----- 2. detail: one explainer per layer kind ----------------------------------------
  const EXPLAINERS = {};
  function explainOther(l, g, calc) {
    calc.append(valueLine(l, g), el("p", { class: "note", text: "This page does not break " +
      `down ${l.type} layers yet; the value above is the layer's real output.` }));
  }

  EXPLAINERS.input = function (l, g, calc) {
    calc.append(valueLine(l, g), el("p", { class: "note", text: "This is the input itself: " +
      "the numbers every later layer is computed from. Pick a layer in the overview above " +
      "to see how its cells are computed." }));
  };

  // One cell of a (grouped, strided, dilated, padded) convolution, recomputed from X and K.
  function convCell(l, i, j, f) {
    const info = l.info, K = info.kernel, [KH, KW, CG, F] = K.shape;
    const X = grid(BY_KEY[l.inputs[0]]);
    const group = Math.floor(f / (F / info.groups));
    const rows = [], cols = [];
    for (let u = 0; u < KH; u++) rows.push(i * info.strides[0] + u * info.dilation[0] - info.pads[0][0]);
    for (let v = 0; v < KW; v++) cols.push(j * info.strides[1] + v * info.dilation[1] - info.pads[1][0]);
    const cards = [];
    let total = 0;
    for (let c = 0; c < CG; c++) {
      const ch = group * CG + c, win = [], ker = [], prod = [], pad = [];
      let part = 0;
      for (let u = 0; u < KH; u++) {
        win.push([]); ker.push([]); prod.push([]); pad.push([]);
        for (let v = 0; v < KW; v++) {
          const r = rows[u], q = cols[v];
          const inside = r >= 0 && q >= 0 && r < X.h && q < X.w;
          const x = inside ? X.get(r, q, ch) : 0;
          const k = num(K.data[((u * KW + v) * CG + c) * F + f]);
          win[u].push(x); ker[u].push(k); prod[u].push(x * k); pad[u].push(!inside);
          part += x * k;
        }
      }
      total += part;
      cards.push({ c, ch, win, ker, prod, pad, part });
    }
    const bias = info.bias ? num(info.bias[f]) : 0;
    return { rows, cols, cards, total, bias, z: total + bias, group, KH, KW, CG, F };
  }

  function sumExpr(sym, value, pad) {
    if (!value && !pad) return sym;
    return sym + (value ? ` + ${value}` : "") + (pad ? ` − ${pad}` : "");
  }

  EXPLAINERS.conv = function (l, g, calc, maps) {
    const info = l.info, f = state.ch, i = state.i, j = state.j;
    const cc = convCell(l, i, j, f);
    const [sh, sw] = info.strides, [dh, dw] = info.dilation;
    const pt = info.pads[0][0], pl = info.pads[1][0];
    const base = info.groups > 1 ? `${cc.group * cc.CG} + c` : "c";
    const uTerm = dh > 1 ? `u·${dh}` : "u", vTerm = dw > 1 ? `v·${dw}` : "v";
    const gen = concat(markup`O[i, j, f] = Σ<sub>u,v,c</sub> `,
      `X[i·S${sh !== sw ? "h" : ""} + ${dh > 1 ? "u·D" : "u"}${pt ? " − P" : ""}, `,
      `j·S${sh !== sw ? "w" : ""} + ${dw > 1 ? "v·D" : "v"}${pl ? " − P" : ""}, `,
      info.groups > 1 ? markup`g·C<sub>g</sub> + c` : "c",
      `] · K[u, v, c, f]${info.bias ? " + b[f]" : ""}`);
    const filled = concat(
      markup`O[${i}, ${j}, ${f}] = Σ<sub>u&lt;${cc.KH}, v&lt;${cc.KW}, c&lt;${cc.CG}</sub> `,
      `X[${sumExpr(`${i}·${sh}`, uTerm, pt)}, ${sumExpr(`${j}·${sw}`, vTerm, pl)}, ${base}] · `,
      `K[u, v, c, ${f}]${info.bias ? ` + b[${f}]` : ""}`);
    calc.append(el("p", { class: "note", text: "Slide the kernel over the input: each output " +
      "cell multiplies the window of inputs under the kernel by the kernel's weights, " +
      "element by element, adds up the products, adds the bias and applies the activation." }),
    el("div", { class: "formula", html: gen }), el("div", { class: "formula filled", html: filled }));
    // The input map, channel by channel (the window's cells outlined).
    const chs = cc.cards.map((c) => c.ch);
    if (!chs.includes(state.inCh)) state.inCh = chs[0];
    const picker = chs.length > 1 ? el("select", { "aria-label": "input channel shown",
      onchange: (ev) => { state.inCh = Number(ev.target.value); renderDetail(); } },
    chs.map((c) => el("option", { value: c, selected: c === state.inCh, text: `channel ${c}` })))
      : null;
    const cells = [];
    cc.rows.forEach((r) => cc.cols.forEach((q) => cells.push([r, q])));
    maps.prepend(inputFigure(l, state.inCh, cells, markup`<b>Input</b> X = ${l.inputs[0]}${
      chs.length > 1 ? ` — channel ${state.inCh} of the ${chs.length} the filter sees` : ""}`,
    picker));
    // One card per input channel: window × kernel slice = products.
    const shown = state.allCards ? cc.cards : cc.cards.slice(0, SHOW_CARDS);
    const wrap = el("div", { class: "channels" });
    for (const card of shown) {
      wrap.append(el("div", { class: "chan" },
        el("h4", { text: `input channel c = ${card.ch}` + (cc.CG > 1 ? "" : "") }),
        el("div", { class: "trio" },
          matrix(card.win, (u, v) => (card.pad[u][v] ? "pad" : null), "X window"),
          el("span", { class: "op", text: "×" }),
          matrix(card.ker, null, `K[:, :, ${card.c}, ${f}]`),
          el("span", { class: "op", text: "=" }),
          matrix(card.prod, null, "products")),
        el("div", { class: "psum", text: `Σ = ${fmt(card.part, 6)}` })));
    }
    calc.append(wrap);
    if (cc.cards.length > SHOW_CARDS) {
      calc.append(el("button", { type: "button", class: "show-all",
        text: state.allCards ? `show only the first ${SHOW_CARDS} channels`
          : `show all ${cc.cards.length} input channels (${cc.cards.length - SHOW_CARDS} more)`,
        onclick: () => { state.allCards = !state.allCards; renderDetail(); } }));
    }
    const act = ACT[info.activation];
    const out = act ? act(cc.z, info.leaky_slope) : NaN;
    const ref = g.get(i, j, f);
    const n = cc.KH * cc.KW * cc.CG;
    const rows = [
      [`Σ of all ${n} products (${cc.KH}·${cc.KW}·${cc.CG})`, fmt(cc.total, 7),
        { id: "conv-sum", "data-value": cc.total }],
      [`+ bias b[${f}]`, fmt(cc.bias, 7), { id: "conv-bias", "data-value": cc.bias }],
      ["= z (before the activation)", fmt(cc.z, 7), { id: "conv-z", "data-value": cc.z }],
    ];
    if (info.activation !== "linear") {
      rows.push([markup`${info.activation}(z) = ${ACT_TEXT[info.activation] || "over channels"}`,
        act ? fmt(out, 7) : "(softmax needs every channel)", { id: "conv-out", "data-value": out }]);
    }
    rows.push([`forward pass O[${i}, ${j}, ${f}]`, el("span", {},
      el("b", { id: "cell-ref", "data-value": ref, text: fmt(ref, 7) }), " ",
      act ? checkBadge(info.activation === "linear" ? cc.z : out, ref) : null), {}, "final"]);
    calc.append(resultTable(rows));
  };

  // Max or average over one window; padding never wins a max.
  EXPLAINERS.pool = function (l, g, calc, maps) {
    const info = l.info, c = state.ch, i = state.i, j = state.j;
    const X = grid(BY_KEY[l.inputs[0]]);
    const [kh, kw] = info.pool_size, [sh, sw] = info.strides;
    const [[pt, pb], [pl, pr]] = info.pads;
    const rows = [], cols = [];
    for (let u = 0; u < kh; u++) rows.push(i * sh + u - pt);
    for (let v = 0; v < kw; v++) cols.push(j * sw + v - pl);
    const win = rows.map((r) => cols.map((q) =>
      (r >= 0 && q >= 0 && r < X.h && q < X.w ? X.get(r, q, c) : NaN)));
    let best = -Infinity, at = null, total = 0, count = 0;
    win.forEach((row, u) => row.forEach((x, v) => {
      if (Number.isNaN(x)) return;
      total += x; count += 1;
      if (x > best) { best = x; at = [u, v]; }
    }));
    if (info.count_include_pad) {
      count = rows.filter((r) => r >= -pt && r < X.h + pb).length *
        cols.filter((q) => q >= -pl && q < X.w + pr).length;
    }
    const isMax = info.op === "max";
    const value = isMax ? best : total / count;
    const cells = [];
    rows.forEach((r) => cols.forEach((q) => cells.push([r, q])));
    maps.prepend(inputFigure(l, c, cells, markup`<b>Input</b> ${l.inputs[0]} — channel ${c}`));
    calc.append(el("p", { class: "note", text: isMax
      ? "Max pooling keeps the largest value of each window: the highlighted cell wins. " +
        "Nothing is learned here (0 parameters)."
      : "Average pooling replaces each window by its mean. Nothing is learned here." }),
    el("div", { class: "formula", html: concat(
      markup`O[i, j, c] = ${isMax ? "max" : "mean"}<sub>u&lt;${kh}, v&lt;${kw}</sub> `,
      `X[i·${sh} + u${pt ? " − " + pt : ""}, j·${sw} + v${pl ? " − " + pl : ""}, c]`) }),
    el("p", { class: "note", text: `The window of channel ${c}: input rows ${rows[0]}…` +
      `${rows[rows.length - 1]}, columns ${cols[0]}…${cols[cols.length - 1]}` +
      (win.flat().some(Number.isNaN) ? " (— = padding, never counted)" : "") }),
    matrix(win, (u, v) => (Number.isNaN(win[u][v]) ? "pad" : isMax && at && at[0] === u &&
      at[1] === v ? "win" : null), null, 4, "big"));
    const ref = g.get(i, j, c);
    const winner = at ? `${rows[at[0]]},${cols[at[1]]}` : "";
    calc.append(resultTable([
      isMax ? [`max of the window (winner: input row ${rows[at[0]]}, column ${cols[at[1]]})`,
        fmt(value, 7), { id: "pool-result", "data-value": value, "data-winner": winner }]
        : [`mean = ${fmt(total, 6)} / ${count}`, fmt(value, 7),
          { id: "pool-result", "data-value": value, "data-count": count }],
      [`forward pass O[${i}, ${j}, ${c}]`, el("span", {}, el("b", { id: "cell-ref",
        "data-value": ref, text: fmt(ref, 7) }), " ", checkBadge(value, ref)), {}, "final"],
    ]));
  };

  EXPLAINERS.gap = function (l, g, calc, maps) {
    const c = flatIndex(g), X = grid(BY_KEY[l.inputs[0]]);
    let total = 0;
    for (let i = 0; i < X.h; i++) for (let j = 0; j < X.w; j++) total += X.get(i, j, c);
    const value = total / (X.h * X.w), ref = refValue(l, g);
    maps.prepend(inputFigure(l, c, [], markup`<b>Input</b> ${l.inputs[0]} — channel ${c}`));
    calc.append(el("div", { class: "formula",
      html: markup`a[c] = (1 / (H·W)) · Σ<sub>i,j</sub> X[i, j, c]` }),
      resultTable([[`Σ of channel ${c}'s ${X.h * X.w} values / ${X.h * X.w}`, fmt(value, 7),
        { id: "pool-result", "data-value": value }],
      [`forward pass a[${c}]`, el("span", {}, el("b", { id: "cell-ref", "data-value": ref,
        text: fmt(ref, 7) }), " ", checkBadge(value, ref)), {}, "final"]]));
  };

  // Dense: z[k] = Σ_i x[i]·W[i, k] + b[k]; the largest terms are listed.
  EXPLAINERS.dense = function (l, g, calc, maps) {
    const info = l.info, k = flatIndex(g), src = grid(BY_KEY[l.inputs[0]]);
    const [fin, units] = info.kernel.shape;
    if (k >= units) return;
    const terms = [];
    let total = 0;
    for (let n = 0; n < fin; n++) {
      const x = num(BY_KEY[l.inputs[0]].map.data[n]), w = num(info.kernel.data[n * units + k]);
      terms.push([n, x, w, x * w]);
      total += x * w;
    }
    const top = [...terms].sort((a, b) => Math.abs(b[3]) - Math.abs(a[3])).slice(0, 8);
    maps.prepend(inputFigure(l, 0, top.map((t) => [Math.floor(t[0] / src.w), t[0] % src.w]),
      markup`<b>Input</b> x = ${l.inputs[0]} (${fin} values; the largest terms outlined)`, null,
      true));
    const bias = info.bias ? num(info.bias[k]) : 0, z = total + bias;
    const act = ACT[info.activation];
    calc.append(el("p", { class: "note", text: "A dense unit multiplies every input by its own " +
      "weight and adds everything up, plus a bias." }),
    el("div", { class: "formula", html: markup`z[k] = Σ<sub>i</sub> x[i] · W[i, k] + b[k]` }),
    el("div", { class: "formula filled", html: concat(markup`z[${k}] = Σ<sub>i&lt;${fin}</sub> `,
      `x[i] · W[i, ${k}]${info.bias ? ` + b[${k}]` : ""}`) }));
    const t = el("table", { class: "mat" }, el("caption", { text: `the ${top.length} largest ` +
      `of ${fin} terms x[i]·W[i, ${k}]` }), el("tr", {}, ["i", "x[i]", `W[i, ${k}]`, "product"]
      .map((h) => el("td", { class: "pad", text: h }))),
    top.map((r) => el("tr", {}, el("td", { text: r[0] }), [r[1], r[2], r[3]].map((v) =>
      el("td", { text: fmt(v, 4) })))));
    calc.append(t);
    const ref = refValue(l, g);
    const rows = [[`Σ of all ${fin} products`, fmt(total, 7), { id: "dense-sum", "data-value": total }],
      [`+ bias b[${k}]`, fmt(bias, 7), {}], ["= z", fmt(z, 7), { id: "dense-z", "data-value": z }]];
    if (act) {
      const out = act(z, info.leaky_slope);
      if (info.activation !== "linear") {
        rows.push([markup`${info.activation}(z) = ${ACT_TEXT[info.activation]}`, fmt(out, 7), {}]);
      }
      rows.push([`forward pass a[${k}]`, el("span", {}, el("b", { id: "cell-ref", "data-value": ref,
        text: fmt(ref, 7) }), " ", checkBadge(out, ref)), {}, "final"]);
    } else {
      const s = DATA.softmax;
      rows.push([`logit z[${k}] from the forward pass`, el("span", {}, el("b", { id: "cell-ref",
        "data-value": s ? s.logits[k] : NaN, text: s ? fmt(s.logits[k], 7) : "—" }), " ",
      s ? checkBadge(z, s.logits[k]) : null), {}, "final"]);
      rows.push([`softmax → p[${k}] (section 3)`, fmt(ref, 6), {}]);
    }
    calc.append(resultTable(rows));
  };

  // Flatten: a[n] = X[h, w, c] with n = (h·W + w)·C + c (row-major over H, W, C).
  EXPLAINERS.flatten = function (l, g, calc, maps) {
    const n = flatIndex(g), src = BY_KEY[l.inputs[0]], X = grid(src);
    if (n >= g.n) return;
    const ref = refValue(l, g);
    if (X.flat) { calc.append(valueLine(l, g)); return; }
    const c = n % X.c, w = Math.floor(n / X.c) % X.w, h = Math.floor(n / (X.c * X.w));
    const x = X.get(h, w, c);
    maps.prepend(inputFigure(l, c, [[h, w]], markup`<b>Input</b> ${l.inputs[0]} — channel ${c}`));
    calc.append(el("p", { class: "note", text: "Flatten only re-arranges the numbers into one " +
      "long vector, row by row, channels fastest (Keras' order). No arithmetic." }),
    el("div", { class: "formula", text: "a[n] = X[h, w, c] with n = (h·W + w)·C + c" }),
    el("div", { class: "formula filled", text: `a[${n}] = X[${h}, ${w}, ${c}]: ` +
      `${n} = (${h}·${X.w} + ${w})·${X.c} + ${c}` }),
    resultTable([[`X[${h}, ${w}, ${c}]`, fmt(x, 7), { id: "flat-src", "data-value": x }],
      [`a[${n}]`, el("span", {}, el("b", { id: "cell-ref", "data-value": ref, text: fmt(ref, 7) }),
        " ", checkBadge(x, ref)), {}, "final"]]));
  };

  function sameIndex(l, g, calc, maps, fn, formula, what) {
    const src = BY_KEY[l.inputs[0]], X = grid(src);
    const x = g.flat ? X.get(state.i, state.j) : X.get(state.i, state.j, state.ch);
    const value = fn(x), ref = refValue(l, g);
    if (!g.flat) {
      maps.prepend(inputFigure(l, state.ch, [[state.i, state.j]],
        markup`<b>Input</b> ${l.inputs[0]} — channel ${state.ch}`));
    }
    calc.append(el("p", { class: "note", text: what }),
      el("div", { class: "formula", html: formula }),
      resultTable([["input value", fmt(x, 7), {}], ["result", fmt(value, 7), {}],
        ["forward pass", el("span", {}, el("b", { id: "cell-ref", "data-value": ref,
          text: fmt(ref, 7) }), " ", checkBadge(value, ref)), {}, "final"]]));
  }
  EXPLAINERS.identity = function (l, g, calc, maps) {
    sameIndex(l, g, calc, maps, (x) => x, "a = x", l.info.why || "The identity.");
  };
  EXPLAINERS.elementwise = function (l, g, calc, maps) {
    const name = l.info.activation, cap = l.info.cap;
    const fn = name === "relu_cap" ? (z) => Math.min(Math.max(z, 0), cap)
      : (z) => ACT[name](z, l.info.leaky_slope);
    sameIndex(l, g, calc, maps, fn,
      markup`a = ${name}(z) = ${ACT_TEXT[name] || `min(max(0, z), ${cap})`}`,
      "An activation layer works on each number by itself.");
  };

  // ----- 3. softmax ----------------------------------------------------------------------
  function softmaxSection() {
    const s = DATA.softmax, body = document.getElementById("softmax-body");
    if (!s) { document.getElementById("softmax").hidden = true; return; }
    const z = s.logits.map(num), m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m)), sum = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / sum);
    const label = s.label;
    body.append(el("p", { class: "hint", html: concat(
      markup`The last layer gives one score (a <i>logit</i>) z per class — here ${s.source}. `,
      markup`Softmax turns the scores into probabilities that add up to 1: p<sub>k</sub> = `,
      markup`e<sup>z<sub>k</sub> − max z</sup> / Σ<sub>j</sub> e<sup>z<sub>j</sub> − max z</sup>. `,
      `Subtracting max z = ${fmt(m, 5)} changes nothing mathematically but keeps `,
      markup`e<sup>z</sup> from overflowing. Computed here in your browser.`) }));
    const heads = ["class", "logit z", "z − max z", "e^(z − max z)", "p", ""];
    if (label !== null) heads.push("y", "p − y");
    const table = el("table", { class: "smax", id: "softmax-table" },
      el("thead", {}, el("tr", {}, heads.map((h, k) => el("th", { class: k === 0 ? "cls" : null,
        text: h })))));
    const tb = el("tbody");
    z.forEach((zk, k) => {
      const y = k === label ? 1 : 0;
      const cells = [el("td", { class: "cls", text: s.class_names[k] }), el("td", { text: fmt(zk, 5) }),
        el("td", { text: fmt(zk - m, 5) }), el("td", { text: fmt(e[k], 5) }),
        el("td", { text: fmt(p[k], 5), "data-value": p[k] }),
        el("td", { class: "barcell" }, el("div", { class: "track" }, el("div", { class: "fill",
          style: `width:${(100 * p[k]).toFixed(1)}%` })))];
      if (label !== null) cells.push(el("td", { text: y }), el("td", { text: fmt(p[k] - y, 5) }));
      tb.append(el("tr", { class: (k === s.predicted ? "pred " : "") + (k === label ? "truth" : "") },
        cells));
    });
    table.append(tb, el("tfoot", {}, el("tr", {}, el("td", { class: "cls", text: "Σ" }),
      el("td"), el("td"), el("td", { id: "softmax-sum", "data-value": sum, text: fmt(sum, 6) }),
      el("td", { text: fmt(p.reduce((a, b) => a + b, 0), 6) }), el("td"),
      label !== null ? [el("td"), el("td")] : null)));
    body.append(el("div", { class: "smax-wrap" }, table));
    const ref = s.model_probs || s.probs;
    const worst = Math.max(...p.map((v, k) => Math.abs(v - num(ref[k]))));
    const ok = worst <= 1e-4;
    body.append(el("p", {}, el("span", { class: "check " + (ok ? "ok" : "no"), text: ok
      ? `✓ equals the ${s.model_probs ? "model's output" : "probabilities computed in Python"} ` +
        `(largest difference ${fmt(worst, 2)})` : `✗ differs by ${fmt(worst, 3)}` })));
    if (label !== null) {
      body.append(el("p", { html: concat(
        markup`With the true class y = <b>${s.class_names[label]}</b>, the cross-entropy `,
        markup`loss is L = −log p<sub>y</sub> = −log ${fmt(p[label], 5)} = `,
        markup`<b id="softmax-loss" data-value="${-Math.log(p[label])}">`,
        markup`${fmt(-Math.log(p[label]), 5)}</b>, and its gradient with respect to the logits `,
        "is simply dL/dz = p − y (last column): that is where backpropagation starts.") }));
    }
  }

  // ----- 4. trace ------------------------------------------------------------------------
  function tensorView(packed) {
    const sh = packed.shape, d = packed.data.map(num);
    if (sh.length === 0) return el("b", { class: "mono", text: fmt(d[0], 6) });
    if (sh.length === 1) return matrix([d], null, null, 5);
    if (sh.length === 2) {
      const rows = [];
      for (let i = 0; i < sh[0]; i++) rows.push(d.slice(i * sh[1], (i + 1) * sh[1]));
      return matrix(rows, null, null, 5);
    }
    const [H, W] = sh, rest = d.length / (H * W), views = [];
    for (let s = 0; s < rest; s++) {
      const rows = [];
      for (let i = 0; i < H; i++) {
        rows.push([]);
        for (let j = 0; j < W; j++) rows[i].push(d[(i * W + j) * rest + s]);
      }
      const idx = sh.length === 3 ? `[:, :, ${s}]`
        : `[:, :, ${Math.floor(s / sh[3])}, ${s % sh[3]}]`;
      views.push(matrix(rows, null, idx, 5));
    }
    return el("div", { class: "channels" }, views);
  }

  function traceSection() {
    const t = DATA.trace;
    if (!t) return;
    document.getElementById("trace").hidden = false;
    document.getElementById("nav-trace").hidden = false;
    const body = document.getElementById("trace-body");
    body.append(el("p", { class: "hint", text: `${t.name}: ${t.mode}. Step through the ` +
      "forward pass, the loss, the backward pass (last layer first, as backpropagation " +
      "computes it) and the update; each value has its formula beside it." }));
    const nav = el("div", { class: "step-nav", role: "tablist", "aria-label": "trace steps" });
    const panel = el("div", { class: "tstep", role: "tabpanel", id: "trace-panel" });
    const names = { input: "input", forward: "forward", loss: "loss", backward: "backward",
      update: "update" };
    const counters = {};
    const buttons = t.steps.map((step, k) => {
      counters[step.phase] = (counters[step.phase] || 0) + 1;
      const label = step.phase === "input" || step.phase === "loss" ? names[step.phase]
        : `${names[step.phase]} ${step.title.split(" ")[1]}`;
      return el("button", { type: "button", role: "tab", class: "phase-" + step.phase,
        "aria-selected": "false", tabindex: "-1", "data-step": k, text: label,
        onclick: () => show(k, false) });
    });
    nav.append(...buttons);
    nav.addEventListener("keydown", (ev) => {
      const at = buttons.findIndex((b) => b.getAttribute("aria-selected") === "true");
      if (ev.key === "ArrowRight" && at < buttons.length - 1) { ev.preventDefault(); show(at + 1, true); }
      if (ev.key === "ArrowLeft" && at > 0) { ev.preventDefault(); show(at - 1, true); }
    });
    function show(k, focus) {
      buttons.forEach((b, n) => {
        b.setAttribute("aria-selected", String(n === k));
        b.tabIndex = n === k ? 0 : -1;
      });
      if (focus) buttons[k].focus();
      const step = t.steps[k];
      panel.replaceChildren(el("h3", { text: `${step.phase}: ${step.title}` }),
        ...step.items.map((it) => el("div", { class: "titem" }, el("div", { class: "lab",
          text: it.label }), el("div", { class: "val" }, it.value ? tensorView(it.value)
          : el("span", { class: "note", text: "(same values as above)" })))));
    }
    body.append(nav, panel);
    show(0, false);
  }

  function start() {
    header();
    overview();
    const first = LAYERS.find((l) => l.info.kind === "conv" && l.explorable) ||
      LAYERS.find((l) => l.info.kind !== "input" && l.explorable) || LAYERS[0];
    select(first.key, 0, false);
    softmaxSection();
    traceSection();
  }
  window.GLASSNET = { DATA, state, select };
  start();
})();
