/* glassnet explain — the page's VIEW. Plain JS, no libraries, no network.
 *
 * The data block (#page-data) holds one forward pass: per layer its output map (flat,
 * row-major HWC: X[i, j, c] = data[(i * W + j) * C + c]), its geometry and the weights of the
 * layers whose cells can be opened. The engine (engine.js, inlined before this file) defines
 * window.glassnet.forward / backward; this file renders from a MUTABLE store of layer values
 * (VALUES), filled first from the embedded maps and then, whenever an input is chosen, drawn or
 * uploaded, from the engine's in-page forward pass. A clicked conv/pool/dense cell is
 * recomputed here by its own formula (independently of the engine) and compared with the
 * layer's value in the store.
 *
 * Safety: strings from the model or a file (layer and class names) reach the DOM only as text
 * (el(..., { text }) / textContent) or through the markup`` tag, which escapes them.
 */
(function () {
  "use strict";

  // engine.js decodes the data (exact weights, maps it computed); without it, the JSON block.
  const DATA = (window.glassnet && window.glassnet.data) ||
    JSON.parse(document.getElementById("page-data").textContent);
  const LAYERS = DATA.layers;
  const BY_KEY = new Map(LAYERS.map((l) => [l.key, l]));
  const layerOf = (key) => BY_KEY.get(key);
  const SHOW_CHANNELS = 16; // maps shown per overview column before "show all"
  const SHOW_TERMS = 8; // dense terms listed before the "rest" line
  const state = { key: null, ch: 0, i: 0, j: 0, inCh: null, label: null, result: null,
    backward: null, bpKey: null, bpUnit: 0, playing: null, speed: 4, hover: null,
    pixels: null, inputNote: null, sumsOpen: false };
  const GN = (window.glassnet = window.glassnet || {});
  const engine = () => typeof GN.forward === "function";

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
  const prod = (s) => s.reduce((a, b) => a * b, 1);
  function say(text) { document.getElementById("live").textContent = text; }
  const byId = (id) => document.getElementById(id);

  // ----- the value store ----------------------------------------------------------------
  // VALUES: layer key -> { shape, data (Float64Array), range, step }. step > 1 marks a map the
  // page data reduced to a thumbnail (every step-th pixel); the in-page forward replaces it.
  const VALUES = new Map();
  function rangeOf(data) {
    let lo = Infinity, hi = -Infinity;
    for (const v of data) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return lo === Infinity ? [0, 0] : [lo, hi];
  }
  function store(key, shape, data, step) {
    const values = data instanceof Float64Array ? data : Float64Array.from(data, num);
    VALUES.set(key, { shape, data: values, range: rangeOf(values), step: step || 1 });
  }
  // A map whose shape is the layer's is full (the engine may have filled in a thumbnail).
  const sameShape = (a, b) => a.length === b.length && a.every((v, k) => v === b[k]);
  LAYERS.forEach((l) => store(l.key, l.map.shape, l.map.data,
    sameShape(l.map.shape, l.shape) ? 1 : l.step || 2));
  const isFull = (key) => VALUES.get(key).step === 1;

  // Weights of a conv/dense layer: { kernel: {shape, data}, bias: array or null }, from the
  // exact arrays (l.weights, decoded by the engine) or the older 6-digit copy in l.info.
  function weightsOf(l) {
    const w = l.weights;
    if (w && w.kernel && w.kernel.data && typeof w.kernel.data !== "string" && !w.kernel.b64) {
      return { kernel: w.kernel, bias: w.bias ? w.bias.data : null };
    }
    if (l.info.kernel) return { kernel: l.info.kernel, bias: l.info.bias };
    return null;
  }
  function canOpen(l) {
    if (l.info.kind === "input") return true;
    if (!isFull(l.key) || !l.inputs.every(isFull)) return false;
    return !(l.info.kind === "conv" || l.info.kind === "dense") || weightsOf(l) !== null;
  }

  // A map as a grid of cells: (H, W, C) maps as they are, flat (F,) vectors wrapped in rows.
  function gridOf(v) {
    const d = v.data;
    if (v.shape.length === 3) {
      const [h, w, c] = v.shape;
      return { h, w, c, flat: false, n: h * w * c, get: (i, j, ch) => d[(i * w + j) * c + ch] };
    }
    const n = prod(v.shape);
    const w = n <= 16 ? n : Math.ceil(Math.sqrt(n));
    const h = Math.ceil(n / w);
    return { h, w, c: 1, flat: true, n, get: (i, j) => (i * w + j < n ? d[i * w + j] : NaN) };
  }
  const grid = (l) => gridOf(VALUES.get(l.key));
  const scaleOfRange = (r) => Math.max(Math.abs(r[0]), Math.abs(r[1])) || 1;
  const scaleOf = (l) => scaleOfRange(VALUES.get(l.key).range);

  // Diverging heat map: blue (negative) — near white (0) — orange (positive).
  const NEG = [28, 100, 184], POS = [217, 72, 15], MID = [250, 250, 250];
  function heat(v, scale, gray, cap) {
    if (Number.isNaN(v)) return [220, 220, 220];
    if (gray) {
      const g = Math.round(255 * Math.min(Math.max(v, 0), 1));
      return [g, g, g];
    }
    const t = Math.max(-1, Math.min(1, v / scale)) * (cap || 1);
    const end = t < 0 ? NEG : POS;
    const a = Math.abs(t);
    return MID.map((m, k) => Math.round(m + (end[k] - m) * a));
  }
  // Table cells are tinted at most 60%, so dark text on them keeps a contrast above 4.5:1.
  const tint = (v, scale) => `background:rgb(${heat(v, scale, false, 0.6).join(",")})`;
  const isImage = (l) => l.info.kind === "input" && VALUES.get(l.key).range[0] >= 0 &&
    VALUES.get(l.key).range[1] <= 1;

  // Draw channel `ch` of grid g on a canvas, `cell` CSS pixels per value; `pad` adds padding.
  function drawGrid(canvas, g, ch, cell, opts) {
    const o = opts || {};
    const p = o.pad || [[0, 0], [0, 0]];
    const rows = g.h + p[0][0] + p[0][1], cols = g.w + p[1][0] + p[1][1];
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cols * cell * dpr);
    canvas.height = Math.round(rows * cell * dpr);
    canvas.style.width = cols * cell + "px";
    canvas.style.height = rows * cell + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const img = new ImageData(g.w, g.h);
    for (let i = 0; i < g.h; i++) {
      for (let j = 0; j < g.w; j++) {
        const fade = o.upto !== undefined && i * g.w + j > o.upto;
        const c = fade ? [236, 238, 241] : heat(g.get(i, j, ch), o.scale, o.gray);
        const at = 4 * (i * g.w + j);
        img.data[at] = c[0]; img.data[at + 1] = c[1]; img.data[at + 2] = c[2];
        img.data[at + 3] = 255;
      }
    }
    const off = document.createElement("canvas");
    off.width = g.w; off.height = g.h;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.fillStyle = "#d5d9e0";
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
  function drawMap(canvas, l, ch, cell, opts) {
    return drawGrid(canvas, grid(l), ch, cell, Object.assign({ scale: scaleOf(l),
      gray: isImage(l) }, opts || {}));
  }
  function line(ctx, x0, y0, x1, y1) {
    ctx.beginPath(); ctx.moveTo(x0 + 0.5, y0 + 0.5); ctx.lineTo(x1 + 0.5, y1 + 0.5); ctx.stroke();
  }
  function box(ctx, x, y, w, h, color, width, dash) {
    ctx.strokeStyle = color; ctx.lineWidth = width || 2;
    ctx.setLineDash(dash || []);
    ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
    ctx.setLineDash([]);
  }

  // Wherever content scrolls sideways (wide formulas and matrices on a phone), say so.
  function hintScrollers() {
    document.querySelectorAll(".scrolls, .formula:not(.scrolls > .formula)").forEach((box_) => {
      const next = box_.nextElementSibling;
      const has = next && next.classList.contains("scroll-hint");
      const over = box_.scrollWidth > box_.clientWidth + 2;
      if (over && !has) {
        box_.after(el("p", { class: "scroll-hint", text: "scroll sideways for more →" }));
      } else if (!over && has) next.remove();
    });
  }
  window.addEventListener("resize", hintScrollers);

  // ----- softmax numbers of the current input -------------------------------------------
  // SOFT: logits z, probabilities p, predicted class and the true label when known.
  let SOFT = DATA.softmax ? { logits: DATA.softmax.logits.map(num),
    probs: (DATA.softmax.model_probs || DATA.softmax.probs).map(num) } : null;
  state.label = DATA.softmax ? DATA.softmax.label : null;
  state.trueLabel = state.label;
  const classNames = () => DATA.softmax.class_names;
  const predicted = () => SOFT.probs.indexOf(Math.max(...SOFT.probs));

  // The logits of the current values: the pre-activation of a softmax Dense, the input of a
  // Softmax layer, or the output itself when the model applies no softmax.
  function currentLogits() {
    const last = LAYERS[LAYERS.length - 1];
    if (!DATA.softmax.in_model) return Array.from(VALUES.get(last.key).data);
    if (last.info.kind === "dense") {
      const w = weightsOf(last), x = VALUES.get(last.inputs[0]).data;
      if (!w) return SOFT.logits;
      const [fin, units] = w.kernel.shape, z = [];
      for (let k = 0; k < units; k++) {
        let s = w.bias ? num(w.bias[k]) : 0;
        for (let n = 0; n < fin; n++) s += x[n] * num(w.kernel.data[n * units + k]);
        z.push(s);
      }
      return z;
    }
    return Array.from(VALUES.get(last.inputs[0]).data);
  }

  // ----- input: setInput runs the engine and re-renders every view ----------------------
  const INPUT = LAYERS[0];
  function setInput(pixels, note) {
    const n = prod(INPUT.shape);
    if (!pixels || pixels.length !== n) {
      throw new Error(`setInput: expected ${n} values (${shapeText(INPUT.shape)}), got ` +
        `${pixels ? pixels.length : 0}`);
    }
    if (!engine()) throw new Error("setInput: this page has no in-page engine");
    const x = Float64Array.from(pixels, Number);
    const result = GN.forward(x);
    state.pixels = x;
    state.result = result;
    state.backward = null;
    store(INPUT.key, INPUT.shape, x);
    VALUES.get(INPUT.key).fromEngine = true;
    for (const out of result.layers) {
      if (!BY_KEY.has(out.name)) continue;
      store(out.name, out.shape, out.values);
      VALUES.get(out.name).fromEngine = true;
    }
    if (SOFT) {
      SOFT = { logits: result.logits ? Array.from(result.logits) : null,
        probs: Array.from(result.probabilities) };
      if (!SOFT.logits) SOFT.logits = currentLogits();
    }
    if (note !== undefined) state.inputNote = note;
    renderAll();
    return result;
  }
  GN.setInput = (pixels) => { stopAnimation(); return setInput(pixels, "set by setInput"); };
  GN.input = () => (state.pixels ? Array.from(state.pixels)
    : Array.from(VALUES.get(INPUT.key).data));
  GN.probabilities = () => (SOFT ? SOFT.probs.slice() : null);
  GN.animationSteps = () => {
    const l = layerOf(state.key);
    return l && l.info.kind === "conv" ? grid(l).h * grid(l).w : 0;
  };

  function renderAll() {
    header();
    overview();
    if (state.key) renderDetail();
    softmaxSection();
    backpropSection();
    inputPreview();
  }

  // ----- header -------------------------------------------------------------------------
  function header() {
    const m = DATA.model;
    byId("model-name").textContent = m.name;
    const stats = [
      markup`input <b>${shapeText(m.input_shape)}</b>`, markup`<b>${LAYERS.length - 1}</b> layers`,
      markup`<b>${big(m.total_params)}</b> parameters`,
      markup`<b>${si(m.total_macs)}</b> multiply-adds (MACs)`,
    ];
    if (SOFT) {
      const k = predicted();
      stats.push(markup`prediction <b id="top-pred" data-class="${k}">${classNames()[k]}</b> (${
        (100 * SOFT.probs[k]).toFixed(1)}%)`);
    }
    setHTML(byId("model-stats"), new Markup(stats.join(" · ")));
    const note = byId("model-note");
    note.textContent = "Weights: " + m.note + ".";
    if (m.note.startsWith("random")) note.className = "untrained";
    byId("input-note").textContent = "Input: " + (state.inputNote || DATA.input.note) + ".";
    byId("digits").textContent = DATA.significant_digits;
    if (!SOFT) byId("nav-softmax").hidden = true;
  }

  // ----- 1. input: gallery, upload, drawing ---------------------------------------------
  const IN_SHAPE = INPUT.shape;
  const IN_H = IN_SHAPE.length === 3 ? IN_SHAPE[0] : Math.round(Math.sqrt(IN_SHAPE[0]));
  const IN_W = IN_SHAPE.length === 3 ? IN_SHAPE[1] : IN_H;
  const IN_C = IN_SHAPE.length === 3 ? IN_SHAPE[2] : 1;
  const drawable = IN_H * IN_W * IN_C === prod(IN_SHAPE);
  const samples = () => DATA.inputs || [];
  // Pixels of an embedded input ({shape, data} once the engine has decoded it).
  const pixelsOf = (entry) => (entry && entry.pixels && entry.pixels.data &&
    typeof entry.pixels.data !== "string" ? entry.pixels.data : null);

  function sampleCanvas(pixels, size) {
    const g = gridOf({ shape: [IN_H, IN_W, IN_C], data: Float64Array.from(pixels, num) });
    const canvas = el("canvas", { "aria-hidden": "true" });
    if (IN_C === 3) {
      canvas.width = IN_W; canvas.height = IN_H;
      const img = new ImageData(IN_W, IN_H);
      for (let i = 0; i < IN_H; i++) {
        for (let j = 0; j < IN_W; j++) {
          for (let c = 0; c < 3; c++) img.data[4 * (i * IN_W + j) + c] = 255 * g.get(i, j, c);
          img.data[4 * (i * IN_W + j) + 3] = 255;
        }
      }
      canvas.getContext("2d").putImageData(img, 0, 0);
      canvas.style.width = size + "px";
    } else {
      drawGrid(canvas, g, 0, Math.max(1, Math.floor(size / Math.max(IN_H, IN_W))),
        { scale: 1, gray: true });
    }
    return canvas;
  }

  function inputSection() {
    const body = byId("input-body");
    body.replaceChildren();
    if (!engine()) {
      body.append(el("p", { class: "note", text: "This page has no in-page engine, so it " +
        "shows the one input it was made with." }));
      return;
    }
    const list = samples();
    const parts = [];
    if (list.length) {
      const gallery = el("div", { class: "gallery", role: "group",
        "aria-label": "embedded test images" });
      list.forEach((s, k) => {
        const data = pixelsOf(s);
        if (!data) return;
        const name = s.class_name !== undefined && s.class_name !== null ? s.class_name
          : s.label !== undefined && s.label !== null && SOFT ? classNames()[s.label] : `#${k}`;
        gallery.append(el("button", { type: "button", class: "sample", "data-sample": k,
          "aria-label": `test image ${k}, class ${name}`,
          onclick: () => chooseSample(k) }, sampleCanvas(data, 44),
        el("span", { text: String(name) })));
      });
      parts.push(el("div", { class: "inpart" }, el("h3", { text: "Pick a test image" }), gallery));
    }
    if (drawable) {
      const canvas = el("canvas", { id: "draw-canvas", width: 280, height: 280,
        "aria-label": "drawing area: draw a digit with the mouse or a finger" });
      parts.push(el("div", { class: "inpart" }, el("h3", { text: "Draw" }),
        el("p", { class: "note", text: "Draw with the mouse or a finger, white on black. When " +
          "you lift it, the drawing is cropped to its bounding box, scaled to fit " +
          `${Math.round((20 / 28) * IN_H)}×${Math.round((20 / 28) * IN_W)} and placed by its ` +
          `centre of mass in ${IN_H}×${IN_W}, as MNIST digits were prepared.` }),
        el("div", { class: "drawrow" }, canvas, el("div", { class: "drawside" },
          el("button", { type: "button", class: "btn", id: "draw-clear", text: "Clear",
            onclick: () => clearDrawing() }),
          el("figure", {}, el("figcaption", { text: "what the model sees" }),
            el("div", { id: "input-preview" }))))));
      setupDrawing(canvas);
    }
    parts.push(el("div", { class: "inpart" }, el("h3", { text: "Upload an image" }),
      el("input", { type: "file", id: "upload", accept: "image/*",
        "aria-label": "upload an image", onchange: (ev) => upload(ev.target.files[0]) }),
      el("label", { class: "note" }, el("input", { type: "checkbox", id: "invert" }),
        " invert (dark ink on light paper → light on dark, like MNIST)"),
      el("p", { class: "note", id: "upload-note", text: "As `glassnet explain --input` reads " +
        `it: divided by 255 (values 0…1)` + (IN_C === 1 ? ", made gray (0.299·R + 0.587·G + " +
        "0.114·B)" : "") + `, resized to ${IN_W}×${IN_H} by area averaging.` })));
    body.append(el("div", { class: "inparts" }, parts));
    inputPreview();
  }

  // An input whose class nobody knows: backprop keeps the label the student picked, else it
  // starts from the predicted class (chosen once the forward pass has run).
  function unknownLabel() {
    state.trueLabel = null;
    if (!state.picked) state.label = null;
  }

  function inputPreview() {
    const box_ = byId("input-preview");
    if (!box_) return;
    box_.replaceChildren(sampleCanvas(VALUES.get(INPUT.key).data, 112));
  }

  function chooseSample(k) {
    const s = samples()[k];
    const label = s.label === undefined ? null : s.label;
    if (label !== null && SOFT) {
      state.label = label; state.trueLabel = label; state.picked = false;
    }
    else unknownLabel();
    stopAnimation();
    setInput(pixelsOf(s), s.note || `embedded test image ${k}` +
      (label !== null && SOFT ? ` (true class ${classNames()[label]})` : ""));
    document.querySelectorAll(".sample").forEach((b) =>
      b.setAttribute("aria-pressed", String(Number(b.dataset.sample) === k)));
  }

  // Drawing: strokes on a 280×280 canvas, turned into the model's input when a stroke ends.
  function setupDrawing(canvas) {
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 280, 280);
    let last = null;
    const at = (ev) => {
      const r = canvas.getBoundingClientRect();
      return [(ev.clientX - r.left) * (280 / r.width), (ev.clientY - r.top) * (280 / r.height)];
    };
    canvas.addEventListener("pointerdown", (ev) => {
      ev.preventDefault();
      canvas.setPointerCapture(ev.pointerId);
      last = at(ev);
      stroke(ctx, last, last);
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (!last) return;
      const p = at(ev);
      stroke(ctx, last, p);
      last = p;
    });
    const end = () => {
      if (!last) return;
      last = null;
      unknownLabel();
      stopAnimation();
      setInput(mnistLike(canvas), "your drawing, cropped, scaled and centred like MNIST");
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  }
  function stroke(ctx, a, b) {
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
  }
  function clearDrawing() {
    const c = byId("draw-canvas");
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 280, 280);
  }

  // MNIST's recipe: crop to the ink's bounding box, scale the longer side to 20 (of 28) by
  // averaging the source pixels under each target pixel, then shift so that the centre of mass
  // lands on the image centre. Returns H·W·C values in [0, 1] (gray copied to every channel).
  function mnistLike(canvas) {
    const S = canvas.width;
    const rgba = canvas.getContext("2d").getImageData(0, 0, S, S).data;
    const src = new Float64Array(S * S);
    let y0 = S, y1 = -1, x0 = S, x1 = -1;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const v = rgba[4 * (y * S + x)] / 255;
        src[y * S + x] = v;
        if (v > 0.02) {
          y0 = Math.min(y0, y); y1 = Math.max(y1, y); x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        }
      }
    }
    const out = new Float64Array(IN_H * IN_W * IN_C);
    if (y1 < 0) return out;
    const h = y1 - y0 + 1, w = x1 - x0 + 1;
    const fit = Math.max(1, Math.round((20 / 28) * Math.min(IN_H, IN_W)));
    const s = fit / Math.max(h, w);
    const th = Math.max(1, Math.round(h * s)), tw = Math.max(1, Math.round(w * s));
    const small = new Float64Array(th * tw);
    let mass = 0, my = 0, mx = 0;
    for (let ty = 0; ty < th; ty++) {
      // Source rows [ya, yb) under target row ty (at least one row each).
      const ya = y0 + Math.floor((ty * h) / th);
      const yb = Math.max(y0 + Math.floor(((ty + 1) * h) / th), ya + 1);
      for (let tx = 0; tx < tw; tx++) {
        const xa = x0 + Math.floor((tx * w) / tw);
        const xb = Math.max(x0 + Math.floor(((tx + 1) * w) / tw), xa + 1);
        let sum = 0;
        for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) sum += src[y * S + x];
        const v = sum / ((yb - ya) * (xb - xa));
        small[ty * tw + tx] = v;
        mass += v; my += v * ty; mx += v * tx;
      }
    }
    const cy = mass ? my / mass : (th - 1) / 2, cx = mass ? mx / mass : (tw - 1) / 2;
    const oy = Math.max(0, Math.min(IN_H - th, Math.round((IN_H - 1) / 2 - cy)));
    const ox = Math.max(0, Math.min(IN_W - tw, Math.round((IN_W - 1) / 2 - cx)));
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        const at = ((ty + oy) * IN_W + tx + ox) * IN_C;
        for (let c = 0; c < IN_C; c++) out[at + c] = small[ty * tw + tx];
      }
    }
    return out;
  }

  // Area resampling along one axis, as `glassnet explain --input` does (inputs.area_weights):
  // output pixel o covers input [o·s, (o + 1)·s), s = n_in / n_out, and weighs each input pixel
  // by its overlap / s. Returns, per output pixel, [first input index, weights...].
  function areaWeights(nIn, nOut) {
    const s = nIn / nOut, rows = [];
    for (let o = 0; o < nOut; o++) {
      const lo = o * s, hi = lo + s, first = Math.floor(lo), w = [];
      for (let i = first; i < Math.min(nIn, Math.ceil(hi)); i++) {
        w.push(Math.max(0, Math.min(hi, i + 1) - Math.max(lo, i)) / s);
      }
      rows.push([first, w]);
    }
    return rows;
  }
  // An H×W×K image resized to IN_H×IN_W by area averaging (rows, then columns).
  function resizeArea(img, h, w, k) {
    const R = areaWeights(h, IN_H), C = areaWeights(w, IN_W);
    const mid = new Float64Array(IN_H * w * k);
    R.forEach(([first, ws], o) => ws.forEach((a, n) => {
      const src = (first + n) * w * k, dst = o * w * k;
      for (let q = 0; q < w * k; q++) mid[dst + q] += a * img[src + q];
    }));
    const out = new Float64Array(IN_H * IN_W * k);
    for (let o = 0; o < IN_H; o++) {
      C.forEach(([first, ws], p) => ws.forEach((a, n) => {
        for (let c = 0; c < k; c++) {
          out[(o * IN_W + p) * k + c] += a * mid[(o * w + first + n) * k + c];
        }
      }));
    }
    return out;
  }

  // An uploaded image becomes the model's input the way `glassnet explain --input` reads one:
  // values / 255, gray by 0.299·R + 0.587·G + 0.114·B for one channel, area-resized to the
  // model's height and width (optionally inverted, for dark ink on light paper).
  function upload(file) {
    if (!file) return;
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      const c = document.createElement("canvas");
      const h = img.naturalHeight, w = img.naturalWidth;
      c.width = w; c.height = h;
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      URL.revokeObjectURL(url);
      const rgba = ctx.getImageData(0, 0, w, h).data;
      const k = IN_C === 1 ? 1 : 3;
      const px = new Float64Array(h * w * k);
      for (let q = 0; q < h * w; q++) {
        const r = rgba[4 * q] / 255, g = rgba[4 * q + 1] / 255, b = rgba[4 * q + 2] / 255;
        if (k === 1) px[q] = 0.299 * r + 0.587 * g + 0.114 * b;
        else { px[3 * q] = r; px[3 * q + 1] = g; px[3 * q + 2] = b; }
      }
      const invert = byId("invert").checked;
      let x = h === IN_H && w === IN_W ? px : resizeArea(px, h, w, k);
      if (invert) x = x.map((v) => 1 - v);
      if (IN_C !== k) { // a model with other than 1 or 3 channels: gray copied to each
        const y = new Float64Array(IN_H * IN_W * IN_C);
        for (let q = 0; q < IN_H * IN_W; q++) {
          for (let ch = 0; ch < IN_C; ch++) y[q * IN_C + ch] = x[q * k];
        }
        x = y;
      }
      unknownLabel();
      stopAnimation();
      setInput(x, `the uploaded image (${w}×${h} → ${IN_W}×${IN_H} by area averaging` +
        `${k === 1 ? ", gray" : ""}${invert ? ", inverted" : ""}, values 0…1)`);
    };
    img.onerror = () => { byId("upload-note").textContent = "That file is not an image the " +
      "browser can read."; };
    img.src = url;
  }

  // ----- 2. overview --------------------------------------------------------------------
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
    const btn = el("button", { class: "thumb nav-item", type: "button", "data-layer": l.key,
      "data-channel": ch, "aria-label": label, title: label, tabindex: "-1",
      onclick: () => select(l.key, ch, true) }, canvas);
    drawMap(canvas, l, ch, cell);
    // Width from the grid cell, height from the bitmap: the map keeps its aspect ratio.
    canvas.style.width = "100%";
    canvas.style.height = "auto";
    return btn;
  }

  function rgbPreview(l) {
    const canvas = sampleCanvas(VALUES.get(l.key).data, 114);
    canvas.className = "rgb";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "the input in colour");
    canvas.removeAttribute("aria-hidden");
    return canvas;
  }

  // With many classes (ImageNet's 1,000) only the likeliest ones get a row; the true class too.
  const MAX_ROWS = 10;
  function shownClasses() {
    const n = SOFT.probs.length, all = [...Array(n).keys()];
    if (n <= MAX_ROWS + 2) return all;
    const top = all.sort((a, b) => SOFT.probs[b] - SOFT.probs[a]).slice(0, MAX_ROWS);
    const y = state.trueLabel;
    if (y !== null && y !== undefined && !top.includes(y)) top.push(y);
    return top;
  }
  const rowsWith = (y) => { const r = shownClasses(); return r.includes(y) ? r : [...r, y]; };
  function probBars(l) {
    const g = grid(l), top = predicted(), shown = shownClasses();
    const rest = SOFT.probs.length - shown.length;
    const rows = shown.map((k) => [k, SOFT.probs[k]]);
    return el("div", { class: "bars" }, rows.map(([k, p]) => el("button", {
      type: "button", class: "row nav-item" + (k === top ? " pred" : "") +
        (k === state.trueLabel ? " truth" : ""), "data-layer": l.key, "data-unit": k,
      tabindex: "-1", title: `${classNames()[k]}: p = ${fmt(p, 6)} (Enter: how it is computed)`,
      onclick: () => select(l.key, 0, true, [Math.floor(k / g.w), k % g.w]) },
      el("span", { class: "cls", text: classNames()[k] }),
      el("span", { class: "track" }, el("span", { class: "fill",
        style: `display:block;width:${(100 * p).toFixed(1)}%` })),
      el("span", { text: (100 * p).toFixed(1) + "%" }))),
    rest ? el("span", { class: "note", text: `+ ${big(rest)} less likely classes (section 4)` })
      : null);
  }

  function column(l, isLast) {
    const g = grid(l), v = VALUES.get(l.key);
    const col = el("div", { class: "layer", role: "listitem", "data-layer": l.key });
    const meta = [el("span", { class: "shape", text: shapeText(l.shape) })];
    if (l.inputs.length > 1) meta.push(el("br"), `${l.type}: ${l.inputs.join(" + ")}`);
    if (l.params) meta.push(el("br"), `${big(l.params)} params`);
    if (l.macs) meta.push(el("br"), `${si(l.macs)} MACs`);
    if (v.step > 1 && !g.flat) {
      meta.push(el("br"), el("span", { class: "reduced", text: `drawn at ${g.h}×${g.w}: every ` +
        `${v.step}th pixel of ${l.shape[0]}×${l.shape[1]}` }));
    } else if (g.flat && !(isLast && SOFT)) {
      meta.push(el("br"), `vector wrapped in rows of ${g.w}`);
    }
    col.append(el("div", { class: "lname", text: l.key }),
      el("div", { class: "ltype", text: describeType(l) }), el("div", { class: "lmeta" }, meta));
    if (isLast && SOFT && g.flat) {
      col.append(probBars(l));
      return col;
    }
    if (l.info.kind === "input" && g.c === 3 && isImage(l)) col.append(rgbPreview(l));
    const perRow = g.c === 1 ? 1 : g.c <= 4 ? 2 : 4;
    const size = Math.floor((114 - 3 * (perRow - 1)) / perRow);
    const thumbs = el("div", { class: "thumbs",
      style: `grid-template-columns:repeat(${perRow},1fr)` });
    const shown = state.allChannels && state.allChannels.has(l.key) ? g.c
      : Math.min(g.c, SHOW_CHANNELS);
    for (let ch = 0; ch < shown; ch++) thumbs.append(thumbButton(l, ch, size));
    col.append(thumbs);
    if (g.c > shown) {
      col.append(el("button", { class: "more", type: "button", text: `show all ${g.c} channels`,
        onclick: () => {
          state.allChannels = state.allChannels || new Set();
          state.allChannels.add(l.key);
          overview();
        } }));
    }
    return col;
  }

  function overview() {
    const cols = byId("columns");
    const keep = document.activeElement && document.activeElement.classList.contains("nav-item")
      ? [document.activeElement.dataset.layer, document.activeElement.dataset.channel,
        document.activeElement.dataset.unit] : null;
    cols.replaceChildren();
    LAYERS.forEach((l, k) => cols.append(column(l, k === LAYERS.length - 1)));
    edges(cols);
    const legend = byId("legend");
    legend.replaceChildren(
      el("span", { text: "colours:" }), el("span", { text: "negative" }),
      el("span", { class: "bar", "aria-hidden": "true" }), el("span", { text: "positive" }),
      el("span", { text: "(white = 0; each layer scaled to its largest |value|; the input is " +
        "drawn in gray, 0 = black, 1 = white)" }));
    if (cols.scrollWidth > cols.clientWidth + 4) {
      legend.append(el("span", { class: "scroll-hint",
        text: `${LAYERS.length} columns: scroll sideways for more →` }));
    }
    const reduced = LAYERS.filter((l) => VALUES.get(l.key).step > 1);
    const note = byId("reduced-note");
    note.hidden = !reduced.length;
    note.textContent = reduced.length ? "To keep this page small, these layers are embedded " +
      "as thumbnails: " + reduced.map((l) => l.key).join(", ") + (engine()
      ? ". The in-page forward pass replaces them with full maps." : ".") : "";
    // Roving focus: one overview item is in the Tab order; arrow keys move between the others.
    const items = [...cols.querySelectorAll(".nav-item")];
    let focus = items.find((b) => b.getAttribute("aria-pressed") === "true") || items[0];
    if (keep) {
      focus = items.find((b) => b.dataset.layer === keep[0] && b.dataset.channel === keep[1] &&
        b.dataset.unit === keep[2]) || focus;
    }
    markSelection();
    if (focus) focus.tabIndex = 0;
    if (keep && focus) focus.focus({ preventScroll: true });
  }

  // Edges between layer columns: a short arrow between neighbours, an arc over the columns
  // for every other input (skip connections into Add, branches into Concatenate).
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }
  function edges(cols) {
    const colEls = new Map([...cols.querySelectorAll(".layer")].map((c) => [c.dataset.layer, c]));
    const list = [];
    LAYERS.forEach((l, k) => l.inputs.forEach((src) => {
      const from = LAYERS.findIndex((m) => m.key === src);
      list.push({ src, dst: l.key, from, to: k, span: k - from });
    }));
    const far = list.filter((e) => e.span > 1);
    cols.classList.toggle("has-arcs", far.length > 0);
    // Each arc gets the lowest lane free over its whole stretch, so overlapping arcs never share
    // a horizontal line (interval colouring, shortest first).
    const lanes = [];
    [...far].sort((a, b) => a.span - b.span || a.from - b.from).forEach((e) => {
      let n = 0;
      while ((lanes[n] || []).some((o) => e.from < o.to && o.from < e.to)) n += 1;
      (lanes[n] = lanes[n] || []).push(e);
      e.lane = n;
    });
    cols.style.setProperty("--arc-room", `${20 + 11 * Math.min(lanes.length, 5)}px`);
    const place = () => {
      const g = svg("svg", { class: "edges", "aria-hidden": "true", width: cols.scrollWidth,
        height: cols.scrollHeight });
      const defs = svg("defs", {});
      const marker = svg("marker", { id: "arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
      marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7483" }));
      defs.append(marker);
      g.append(defs);
      const base = cols.getBoundingClientRect();
      for (const e of list) {
        const a = colEls.get(e.src), b = colEls.get(e.dst);
        if (!a || !b) continue;
        const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
        const left = cols.scrollLeft - base.left, top = cols.scrollTop - base.top;
        let d;
        if (e.span === 1) {
          const y = ra.top + top + 28;
          d = `M${ra.right + left},${y} L${rb.left + left},${y}`;
        } else {
          const lane = Math.min(e.lane, 4), y = ra.top + top, rise = 12 + 11 * lane;
          const x0 = ra.left + left + 30 + 9 * lane, x1 = rb.right + left - 30 - 9 * lane;
          d = `M${x0},${y} V${y - rise} H${x1} V${y - 1}`;
        }
        g.append(svg("path", { d, class: e.span === 1 ? "edge" : "edge skip",
          "data-from": e.src, "data-to": e.dst, "marker-end": "url(#arrowhead)" }));
      }
      const old = cols.querySelector("svg.edges");
      if (old) old.replaceWith(g); else cols.prepend(g);
    };
    place();
    requestAnimationFrame(place); // again once fonts and canvases have their final sizes
  }
  window.addEventListener("resize", () => edges(byId("columns")));

  function markSelection() {
    document.querySelectorAll("#columns .layer").forEach((c) =>
      c.classList.toggle("current", c.dataset.layer === state.key));
    document.querySelectorAll("#columns .thumb").forEach((b) => b.setAttribute("aria-pressed",
      String(b.dataset.layer === state.key && Number(b.dataset.channel) === state.ch)));
  }

  // Arrow keys move between maps and probability bars: left/right across layers, up/down within.
  function overviewKeys(ev) {
    const t = ev.target;
    if (!t.classList || !t.classList.contains("nav-item")) return;
    const colEl = t.closest(".layer");
    const mine = [...colEl.querySelectorAll(".nav-item")], at = mine.indexOf(t);
    let next = null;
    if (ev.key === "ArrowDown") next = mine[at + 1];
    else if (ev.key === "ArrowUp") next = mine[at - 1];
    else if (ev.key === "Home") next = byId("columns").querySelector(".nav-item");
    else if (ev.key === "End") next = [...byId("columns").querySelectorAll(".nav-item")].pop();
    else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
      let c = ev.key === "ArrowRight" ? colEl.nextElementSibling : colEl.previousElementSibling;
      while (c && !c.querySelector(".nav-item")) {
        c = ev.key === "ArrowRight" ? c.nextElementSibling : c.previousElementSibling;
      }
      if (c) {
        const theirs = c.querySelectorAll(".nav-item");
        next = theirs[Math.min(at, theirs.length - 1)];
      }
    }
    if (next) {
      ev.preventDefault();
      t.tabIndex = -1; next.tabIndex = 0;
      next.focus();
    }
  }

  // ----- 3. detail: selection and maps --------------------------------------------------
  function select(key, ch, focusDetail, cell) {
    const l = layerOf(key);
    const g = grid(l);
    if (state.key !== key) stopAnimation();
    if (cell) {
      state.i = cell[0]; state.j = cell[1];
    } else if (state.key !== key) {
      const best = brightest(l, ch);
      state.i = best[0]; state.j = best[1];
    }
    state.key = key;
    state.ch = Math.max(0, Math.min(ch, g.flat ? 0 : g.c - 1));
    state.i = Math.min(state.i, g.h - 1); state.j = Math.min(state.j, g.w - 1);
    markSelection();
    renderDetail();
    if (focusDetail) {
      // Enter (or a click) on a map moves focus to the detail view, where the keys work.
      byId("detail").scrollIntoView({ block: "start" });
      const target = byId("out-canvas") || byId("detail-h");
      target.focus({ preventScroll: true });
    }
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
    const body = byId("detail-body");
    return Math.min(300, Math.max(160, (body.clientWidth || 320) - 24));
  }

  function cellAt(canvas, ev, g, cell) {
    const r = canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientY - r.top - canvas.clientTop) / cell);
    const j = Math.floor((ev.clientX - r.left - canvas.clientLeft) / cell);
    const ok = i >= 0 && j >= 0 && i < g.h && j < g.w && !(g.flat && i * g.w + j >= g.n);
    return ok ? [i, j] : null;
  }

  // The output map; `hover(i, j)` previews a cell (its window on the input), a click picks it.
  function outputFigure(l, onMove, opts) {
    const g = grid(l);
    const cell = cellSize(g, roomFor());
    const canvas = el("canvas", { id: "out-canvas", class: "mapcanvas", tabindex: "0",
      role: "grid", "aria-label": `output map of ${l.key}; arrow keys move the selected cell`,
      "data-rows": g.h, "data-cols": g.w, "data-cell": cell });
    const paint = (hov) => {
      const v = drawMap(canvas, l, state.ch, cell, { upto: opts && opts.upto });
      box(v.ctx, state.j * cell - 1, state.i * cell - 1, cell + 2, cell + 2, "#111", 2.5);
      if (hov) box(v.ctx, hov[1] * cell - 1, hov[0] * cell - 1, cell + 2, cell + 2, "#3451b2", 2);
    };
    paint(null);
    canvas.addEventListener("click", (ev) => {
      const at = cellAt(canvas, ev, g, cell);
      if (at) onMove(at[0], at[1], true);
    });
    if (opts && opts.hover) {
      canvas.addEventListener("mousemove", (ev) => {
        const at = cellAt(canvas, ev, g, cell);
        if (!at || (state.hover && at[0] === state.hover[0] && at[1] === state.hover[1])) return;
        state.hover = at;
        paint(at);
        opts.hover(at[0], at[1]);
      });
      canvas.addEventListener("mouseleave", () => {
        state.hover = null; paint(null); opts.hover(null);
      });
    }
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
        : "click a cell · arrow keys move · [ ] change channel" +
          (opts && opts.hover ? " · hover: see its window" : "") }));
  }

  function changeChannel(delta) {
    const g = grid(layerOf(state.key));
    const ch = (state.ch + delta + g.c) % g.c;
    select(state.key, ch, false);
    byId("out-canvas").focus();
  }

  // The input map with the padding drawn around it and the cells a window reads outlined.
  // Returns the figure; figure.paint(cells, dashed) redraws it with another window outlined.
  function inputFigure(l, ch, cells, caption, extra, scattered) {
    const src = layerOf(l.inputs[0]);
    const g = grid(src);
    const pad = l.info.pads || [[0, 0], [0, 0]];
    const cell = cellSize({ h: g.h + pad[0][0] + pad[0][1], w: g.w + pad[1][0] + pad[1][1] },
      roomFor());
    const canvas = el("canvas", { id: "in-canvas", class: "mapcanvas", "aria-hidden": "true" });
    const outline = (v, list, color, dash) => {
      if (!list.length) return;
      const ys = list.map((c) => c[0]), xs = list.map((c) => c[1]);
      const y0 = Math.min(...ys) + pad[0][0], x0 = Math.min(...xs) + pad[1][0];
      const y1 = Math.max(...ys) + pad[0][0], x1 = Math.max(...xs) + pad[1][0];
      v.ctx.fillStyle = dash ? "rgba(52, 81, 178, 0.25)" : "rgba(245, 159, 0, 0.35)";
      for (const [r, c] of list) {
        v.ctx.fillRect((c + pad[1][0]) * cell, (r + pad[0][0]) * cell, cell, cell);
      }
      if (scattered) {
        for (const [r, c] of list) {
          box(v.ctx, (c + pad[1][0]) * cell - 1, (r + pad[0][0]) * cell - 1, cell + 2, cell + 2,
            color, 2);
        }
      } else {
        box(v.ctx, x0 * cell - 1, y0 * cell - 1, (x1 - x0 + 1) * cell + 2,
          (y1 - y0 + 1) * cell + 2, color, 2.5, dash ? [4, 3] : null);
      }
    };
    const paint = (hovered) => {
      const v = drawMap(canvas, src, ch, cell, { pad });
      outline(v, cells, "#e67700");
      if (hovered) outline(v, hovered, "#3451b2", true);
    };
    paint(null);
    const padded = pad[0][0] + pad[0][1] + pad[1][0] + pad[1][1] > 0
      ? " (gray ring: padding = 0)" : "";
    const fig = el("figure", {}, el("figcaption", { html: concat(caption, padded) }),
      extra || null, canvas);
    fig.paint = paint;
    return fig;
  }

  function renderDetail() {
    const body = byId("detail-body");
    const hadFocus = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.id : null;
    body.replaceChildren();
    const l = layerOf(state.key);
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
    body.append(whatYouSee(l));
    const calc = el("div", { class: "calc", id: "calc" });
    const maps = el("div", { class: "maps" });
    body.append(el("div", { class: "detail-grid" }, maps, calc));
    const move = (i, j, announce) => {
      stopAnimation();
      state.i = i; state.j = j;
      renderDetail();
      const c = byId("out-canvas");
      if (announce && c) c.focus();
    };
    const explain = EXPLAINERS[l.info.kind] || explainOther;
    const hover = l.info.kind === "conv" || l.info.kind === "pool";
    if (!canOpen(l)) {
      maps.append(outputFigure(l, move));
      calc.append(el("p", { class: "warn", text: isFull(l.key) ? "This layer's inputs or " +
        "weights were left out to keep the page small, so its cells cannot be recomputed here."
        : "This layer is shown as a thumbnail only (reduced to keep the page small)." }));
      calc.append(valueLine(l, g));
    } else {
      const hooks = {};
      maps.append(outputFigure(l, move, hover ? { hover: (i, j) => hooks.hover && hooks.hover(i, j),
        upto: state.playing !== null || state.stepped ? state.i * g.w + state.j : undefined }
        : null));
      explain(l, g, calc, maps, hooks);
    }
    body.append(formulaBox(l));
    const fb = byId("summary-formulas");
    if (fb) fb.addEventListener("toggle", hintScrollers);
    hintScrollers();
    if (hadFocus && byId(hadFocus)) byId(hadFocus).focus({ preventScroll: true });
    const ref = byId("cell-ref");
    if (state.playing === null) {
      say(`${l.key} cell ${state.i}, ${state.j}: ${ref ? ref.textContent : ""}`);
    }
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

  // A matrix of numbers; `heatScale` tints each cell by its value (same colours as the maps).
  function matrix(rows, cls, caption, digits, extra, heatScale) {
    const t = el("table", { class: "mat" + (extra ? " " + extra : "") });
    if (caption) t.append(el("caption", { text: caption }));
    for (let u = 0; u < rows.length; u++) {
      t.append(el("tr", {}, rows[u].map((cell, v) => {
        const c = (cls && cls(u, v)) || null;
        return el("td", { class: c, style: heatScale && c !== "pad" && !Number.isNaN(cell)
          ? tint(cell, heatScale) : null, text: fmt(cell, digits || 3) });
      })));
    }
    return t;
  }
  // The largest |value| (a loop: spreading a million values into Math.max overflows the stack).
  function absMax(rows) {
    let top = 1e-12;
    for (const row of rows) for (const v of row) if (Math.abs(v) > top) top = Math.abs(v);
    return top;
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

  // ----- what the student looks at, and the formula `glassnet summary --explain` prints --
  const WHAT = {
    input: "The input itself: the numbers every later layer is computed from. Pick, draw or " +
      "upload another input above and every view on this page is recomputed.",
    conv: "A convolution slides a small kernel over the (padded) input. Each output cell is " +
      "the sum of window × kernel over every input channel, plus the filter's bias, then " +
      "the activation. Press play to watch the kernel move; hover an output cell to see the " +
      "window it reads.",
    pool: "Pooling looks at one small window per output cell and keeps its largest value (max) " +
      "or its mean (average), channel by channel. It learns nothing.",
    gap: "Global average pooling replaces each channel by the mean of all its values.",
    dense: "A dense unit multiplies every input by its own weight, adds everything up and adds " +
      "a bias. The largest terms are listed; the rest line holds all the others, so the sum " +
      "can be checked on screen.",
    flatten: "Flatten only re-arranges the numbers into one long vector (row by row, channels " +
      "fastest). No arithmetic.",
    elementwise: "An activation layer applies one function to each number by itself.",
    identity: "This layer passes its input through unchanged at inference.",
    add: "Add sums its inputs position by position: with a skip connection, what a block " +
      "computed plus what went around it.",
    concat: "Concatenate stacks its inputs side by side along one axis (usually the " +
      "channels): each output number is one input's number, moved.",
    batchnorm: "Batch normalization (at inference) shifts and scales each channel with " +
      "numbers fixed in training.",
    rescaling: "Rescaling multiplies every input by a constant and adds an offset.",
    zeropad: "Zero padding puts a frame of zeros around the map.",
    gmp: "Global max pooling keeps the largest value of each channel.",
    reshape: "Reshape changes the shape, not the numbers or their order.",
  };
  function whatYouSee(l) {
    const text = WHAT[l.info.kind] || (l.inputs.length > 1 ? `${l.type} combines ` +
      `${l.inputs.length} inputs (${l.inputs.join(", ")}) cell by cell.` : `The output of this ` +
      `${l.type} layer.`);
    return el("p", { class: "hint what", text });
  }

  // The size / parameter / MAC formulas with this layer's numbers put in, worded as
  // `glassnet summary MODEL --explain` prints them (glassnet/arith): the page data's own lines
  // when it carries them (l.explain), else rebuilt here from the embedded geometry.
  function sizeLine(name, I, p, k, d, st, conv, O) {
    const sym = p[0] === p[1], pad = sym ? "2P" : "P_b + P_a";
    const padNums = sym ? big(2 * p[0]) : `${big(p[0])} + ${big(p[1])}`;
    const span = conv ? `D·(K−1) − 1` : "K";
    const spanNum = conv ? `${big(d * (k - 1))} − 1` : big(k);
    return `${name}: O = floor((I + ${pad} − ${span})/S) + 1 = ` +
      `floor((${big(I)} + ${padNums} − ${spanNum})/${big(st)}) + 1 = ${big(O)}`;
  }
  function summaryLines(l) {
    if (Array.isArray(l.explain)) return l.explain.map(String);
    const i = l.info, lines = [];
    const src = l.inputs.length ? layerOf(l.inputs[0]) : null;
    const inShape = src ? src.shape : null;
    const out = l.shape;
    const counts = (w, b, macs, wText, macText) => {
      lines.push(`${wText} = ${big(w)}`, b ? `b = ${b[0]} = ${big(b[1])}` : "b = 0 (bias=False)",
        `P = W + b = ${big(w)} + ${big(b ? b[1] : 0)} = ${big(w + (b ? b[1] : 0))}`,
        `${macText} = ${big(macs)}`, `FLOPs = 2·MACs = 2·${big(macs)} = ${big(2 * macs)}`);
    };
    if ((i.kind === "conv" || i.kind === "pool") && inShape && inShape.length === 3) {
      const conv = i.kind === "conv";
      const k = conv ? i.kernel_size : i.pool_size, d = conv ? i.dilation : [1, 1];
      const dims = [0, 1].map((a) => sizeLine("", inShape[a], i.pads[a], k[a], d[a],
        i.strides[a], conv, out[a]));
      if (dims[0] === dims[1]) lines.push("OH = OW" + dims[0]);
      else lines.push("OH" + dims[0], "OW" + dims[1]);
      if (conv) {
        const cin = inShape[2], f = out[2], g = i.groups;
        const cText = g > 1 ? `(C_in/groups)` : "C_in";
        const cNum = g > 1 ? `(${big(cin)}/${g})` : big(cin);
        const w = k[0] * k[1] * (cin / g) * f;
        const hasBias = Boolean(weightsOf(l) && weightsOf(l).bias) || l.params > w;
        counts(w, hasBias ? ["N", f] : null, out[0] * out[1] * w,
          `W = K_h·K_w·${cText}·N = ${k[0]}·${k[1]}·${cNum}·${big(f)}`,
          `MACs = OH·OW·K_h·K_w·${cText}·N = ` +
          `${big(out[0])}·${big(out[1])}·${k[0]}·${k[1]}·${cNum}·${big(f)}`);
      }
    } else if (i.kind === "dense" && inShape) {
      const nin = prod(inShape), nout = out[0], w = nin * nout;
      counts(w, l.params > w ? ["n_out", nout] : null, w,
        `W = n_in·n_out = ${big(nin)}·${big(nout)}`,
        `MACs = n_in·n_out = ${big(nin)}·${big(nout)}`);
    } else if (i.kind === "flatten" && inShape) {
      lines.push(`F = H·W·C = ${inShape.map(big).join("·")} = ${big(prod(inShape))}`);
    }
    return lines;
  }
  function formulaBox(l) {
    const lines = summaryLines(l);
    if (!lines.length) return null;
    return el("details", { class: "summary-formulas", id: "summary-formulas" },
      el("summary", { text: `Sizes and counts of ${l.key}: the formulas \`glassnet summary ` +
        "MODEL --explain` prints" }),
      el("div", { class: "scrolls" }, lines.map((t) => el("div", { class: "formula", text: t }))));
  }

  // ----- 3. detail: one explainer per layer kind ----------------------------------------
  const EXPLAINERS = {};
  function explainOther(l, g, calc) {
    calc.append(valueLine(l, g), el("p", { class: "note", text: "This page does not break " +
      `down ${l.type} layers yet; the value above is the layer's output.` }));
  }
  EXPLAINERS.input = function (l, g, calc) { calc.append(valueLine(l, g)); };

  // One cell of a (grouped, strided, dilated, padded) convolution, recomputed from X and K.
  function convCell(l, i, j, f) {
    const info = l.info, wts = weightsOf(l), K = wts.kernel, [KH, KW, CG, F] = K.shape;
    const X = grid(layerOf(l.inputs[0]));
    const group = Math.floor(f / (F / info.groups));
    const rows = [], cols = [];
    const [sh, sw] = info.strides, [dh, dw] = info.dilation;
    for (let u = 0; u < KH; u++) rows.push(i * sh + u * dh - info.pads[0][0]);
    for (let v = 0; v < KW; v++) cols.push(j * sw + v * dw - info.pads[1][0]);
    const cards = [];
    let total = 0;
    for (let c = 0; c < CG; c++) {
      const ch = group * CG + c, win = [], ker = [], prd = [], pad = [];
      let part = 0;
      for (let u = 0; u < KH; u++) {
        win.push([]); ker.push([]); prd.push([]); pad.push([]);
        for (let v = 0; v < KW; v++) {
          const r = rows[u], q = cols[v];
          const inside = r >= 0 && q >= 0 && r < X.h && q < X.w;
          const x = inside ? X.get(r, q, ch) : 0;
          const k = num(K.data[((u * KW + v) * CG + c) * F + f]);
          win[u].push(x); ker[u].push(k); prd[u].push(x * k); pad[u].push(!inside);
          part += x * k;
        }
      }
      total += part;
      cards.push({ c, ch, win, ker, prd, pad, part });
    }
    const bias = wts.bias ? num(wts.bias[f]) : 0;
    return { rows, cols, cards, total, bias, z: total + bias, group, KH, KW, CG, F,
      hasBias: Boolean(wts.bias) };
  }

  function sumExpr(sym, value, pad) {
    if (!value && !pad) return sym;
    return sym + (value ? ` + ${value}` : "") + (pad ? ` − ${pad}` : "");
  }

  // The kernel animation: step k = i·OW + j visits every output cell in reading order.
  function stopAnimation() {
    if (state.playing !== null) clearInterval(state.playing);
    state.playing = null;
  }
  function stepTo(k, g) {
    const n = g.h * g.w;
    k = ((k % n) + n) % n;
    state.i = Math.floor(k / g.w); state.j = k % g.w;
    state.stepped = true;
    renderDetail();
  }
  // The controls are built once per layer and moved into each re-render (updated, not
  // replaced), so a click on pause lands even while the detail redraws 40 times a second.
  function animControls(l, g) {
    const n = g.h * g.w, cur = () => state.i * g.w + state.j;
    if (!state.anim || state.anim.key !== l.key) {
      const play = () => {
        if (state.playing !== null) { stopAnimation(); renderDetail(); return; }
        state.playing = setInterval(() => {
          if (cur() + 1 >= n) { stopAnimation(); state.stepped = false; renderDetail(); return; }
          stepTo(cur() + 1, g);
        }, 1000 / state.speed);
        renderDetail();
      };
      const btn = (id, label, text, onclick) => el("button", { type: "button", class: "btn",
        id, "aria-label": label, text, onclick });
      const playBtn = btn("anim-play", "play", "▶ play", play);
      playBtn.classList.add("play");
      const pos = el("span", { class: "note", id: "anim-pos" });
      const node = el("div", { class: "anim", id: "conv-anim", "data-steps": n, role: "group",
        "aria-label": "kernel animation" },
      btn("anim-first", "first position", "|◀", () => { stopAnimation(); stepTo(0, g); }),
      btn("anim-back", "step back", "◀", () => { stopAnimation(); stepTo(cur() - 1, g); }),
      playBtn,
      btn("anim-step", "step forward", "▶|", () => { stopAnimation(); stepTo(cur() + 1, g); }),
      el("label", { class: "note" }, "speed ", el("select", { id: "anim-speed",
        onchange: (ev) => {
          state.speed = Number(ev.target.value);
          if (state.playing !== null) { stopAnimation(); play(); }
        } }, [1, 4, 12, 40].map((v) => el("option", { value: v, selected: v === state.speed,
        text: `${v}/s` })))), pos);
      state.anim = { key: l.key, node, playBtn, pos };
    }
    const a = state.anim, playing = state.playing !== null;
    a.node.dataset.step = cur();
    a.playBtn.textContent = playing ? "⏸ pause" : "▶ play";
    a.playBtn.setAttribute("aria-label", playing ? "pause" : "play");
    a.pos.textContent = `position ${cur() + 1} of ${n} = ${g.h}·${g.w} (OH·OW): output cell ` +
      `(${state.i}, ${state.j})`;
    return a.node;
  }

  EXPLAINERS.conv = function (l, g, calc, maps, hooks) {
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
      `] · K[u, v, c, f]${cc.hasBias ? " + b[f]" : ""}`);
    const filled = concat(
      markup`O[${i}, ${j}, ${f}] = Σ<sub>u&lt;${cc.KH}, v&lt;${cc.KW}, c&lt;${cc.CG}</sub> `,
      `X[${sumExpr(`${i}·${sh}`, uTerm, pt)}, ${sumExpr(`${j}·${sw}`, vTerm, pl)}, ${base}] · `,
      `K[u, v, c, ${f}]${cc.hasBias ? ` + b[${f}]` : ""}`);
    calc.append(el("div", { class: "scrolls" }, el("div", { class: "formula", html: gen }),
      el("div", { class: "formula filled", html: filled })));
    // The input map, one channel at a time (the window's cells outlined).
    const chs = cc.cards.map((c) => c.ch);
    if (!chs.includes(state.inCh)) state.inCh = chs[0];
    const picker = chs.length > 1 ? el("label", { class: "note" }, "input channel ",
      el("select", { id: "in-channel", onchange: (ev) => { state.inCh = Number(ev.target.value);
        renderDetail(); } }, chs.map((c) => el("option", { value: c, selected: c === state.inCh,
        text: String(c) })))) : null;
    const windowCells = (a, b) => {
      const c = convCell(l, a, b, f), out = [];
      c.rows.forEach((r) => c.cols.forEach((q) => out.push([r, q])));
      return out;
    };
    const fig = inputFigure(l, state.inCh, windowCells(i, j), markup`<b>Input</b> X = ${
      l.inputs[0]}${chs.length > 1 ? ` — channel ${state.inCh} of the ${chs.length} the ` +
      "filter sees" : ""}`, picker);
    maps.prepend(fig);
    const hoverNote = el("p", { class: "note", id: "hover-note", text: "" });
    hooks.hover = (a, b) => {
      fig.paint(a === null ? null : windowCells(a, b));
      hoverNote.textContent = a === null ? "" : `hover: O[${a}, ${b}, ${f}] = ` +
        `${fmt(g.get(a, b, f), 6)} reads the dashed window`;
    };
    maps.append(animControls(l, g), hoverNote);
    // The shown channel: window × kernel slice = products, heat-coloured.
    const card = cc.cards.find((c) => c.ch === state.inCh) || cc.cards[0];
    const kscale = absMax(card.ker), xscale = scaleOf(layerOf(l.inputs[0]));
    const pscale = absMax(card.prd);
    calc.append(el("div", { class: "chan scrolls" },
      el("h4", { text: `input channel c = ${card.ch}: window × kernel = products` }),
      el("div", { class: "trio" },
        matrix(card.win, (u, v) => (card.pad[u][v] ? "pad" : null), "X window", 3, null, xscale),
        el("span", { class: "op", text: "×" }),
        matrix(card.ker, null, `K[:, :, ${card.c}, ${f}]`, 3, null, kscale),
        el("span", { class: "op", text: "=" }),
        matrix(card.prd, null, "products", 3, null, pscale)),
      el("div", { class: "psum", text: `Σ products = ${fmt(card.part, 6)}` })));
    // Every input channel's partial sum, adding up to the total (collapsible for big layers).
    const sums = el("details", { class: "chan-sums", id: "chan-sums",
      open: state.sumsOpen || cc.CG <= 8 },
    el("summary", { text: `Partial sums of all ${cc.CG} input channels → Σ = ` +
      `${fmt(cc.total, 7)}` }));
    sums.addEventListener("toggle", () => {
      if (cc.CG > 8) state.sumsOpen = sums.open; // small layers open by themselves
      fillSums();
    });
    const fillSums = () => {
      if (!sums.open || sums.querySelector("table")) return;
      let running = 0;
      const pscale2 = absMax([cc.cards.map((c) => c.part)]);
      const t = el("table", { class: "mat sums", id: "chan-sum-table" },
        el("tr", {}, ["c", "Σ window × kernel", "running total", ""].map((h) =>
          el("th", { text: h }))),
        cc.cards.map((c) => {
          running += c.part;
          return el("tr", { class: c.ch === card.ch ? "cur" : null, "data-part": c.part },
            el("td", { text: c.ch }), el("td", { style: tint(c.part, pscale2),
              text: fmt(c.part, 6) }), el("td", { text: fmt(running, 6) }),
            el("td", {}, el("button", { type: "button", class: "link", text: "show",
              "aria-label": `show input channel ${c.ch}`,
              onclick: () => { state.inCh = c.ch; renderDetail(); } })));
        }),
        el("tr", { class: "final" }, el("td", { text: "Σ" }), el("td", { id: "chan-sum-total",
          "data-value": running, text: fmt(running, 7) }), el("td"), el("td")));
      sums.append(el("div", { class: "scrolls" }, t));
      hintScrollers();
    };
    fillSums();
    calc.append(sums);
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
        act ? fmt(out, 7) : "(softmax needs every channel)",
        { id: "conv-out", "data-value": out }]);
    }
    rows.push([`forward pass O[${i}, ${j}, ${f}]`, el("span", {},
      el("b", { id: "cell-ref", "data-value": ref, text: fmt(ref, 7) }), " ",
      act ? checkBadge(info.activation === "linear" ? cc.z : out, ref) : null), {}, "final"]);
    calc.append(resultTable(rows));
  };

  // Max or average over one window; padding never wins a max.
  function poolWindow(l, i, j, c) {
    const info = l.info, X = grid(layerOf(l.inputs[0]));
    const [kh, kw] = info.pool_size, [sh, sw] = info.strides;
    const rows = [], cols = [];
    for (let u = 0; u < kh; u++) rows.push(i * sh + u - info.pads[0][0]);
    for (let v = 0; v < kw; v++) cols.push(j * sw + v - info.pads[1][0]);
    const win = rows.map((r) => cols.map((q) =>
      (r >= 0 && q >= 0 && r < X.h && q < X.w ? X.get(r, q, c) : NaN)));
    return { rows, cols, win, X };
  }
  EXPLAINERS.pool = function (l, g, calc, maps, hooks) {
    const info = l.info, c = state.ch, i = state.i, j = state.j;
    const [kh, kw] = info.pool_size, [sh, sw] = info.strides;
    const [[pt, pb], [pl, pr]] = info.pads;
    const { rows, cols, win, X } = poolWindow(l, i, j, c);
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
    const cellsOf = (a, b) => {
      const w = poolWindow(l, a, b, c), out = [];
      w.rows.forEach((r) => w.cols.forEach((q) => out.push([r, q])));
      return out;
    };
    const fig = inputFigure(l, c, cellsOf(i, j),
      markup`<b>Input</b> ${l.inputs[0]} — channel ${c}`);
    maps.prepend(fig);
    hooks.hover = (a, b) => fig.paint(a === null ? null : cellsOf(a, b));
    calc.append(el("div", { class: "formula", html: concat(
      markup`O[i, j, c] = ${isMax ? "max" : "mean"}<sub>u&lt;${kh}, v&lt;${kw}</sub> `,
      `X[i·${sh} + u${pt ? " − " + pt : ""}, j·${sw} + v${pl ? " − " + pl : ""}, c]`) }),
    el("p", { class: "note", text: `The window of channel ${c}: input rows ${rows[0]}…` +
      `${rows[rows.length - 1]}, columns ${cols[0]}…${cols[cols.length - 1]}` +
      (win.flat().some(Number.isNaN) ? " (— = padding, never counted)" : "") }),
    matrix(win, (u, v) => (Number.isNaN(win[u][v]) ? "pad" : isMax && at && at[0] === u &&
      at[1] === v ? "win" : null), null, 4, "big", scaleOf(layerOf(l.inputs[0]))));
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
    const c = flatIndex(g), X = grid(layerOf(l.inputs[0]));
    if (c >= g.n) return;
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

  // Dense: z[k] = Σ_i x[i]·W[i, k] + b[k]; the largest terms listed, then one "rest" line.
  EXPLAINERS.dense = function (l, g, calc, maps) {
    const info = l.info, k = flatIndex(g), src = grid(layerOf(l.inputs[0]));
    const wts = weightsOf(l), [fin, units] = wts.kernel.shape;
    if (k >= units) return;
    const x = VALUES.get(l.inputs[0]).data;
    const terms = [];
    let total = 0;
    for (let n = 0; n < fin; n++) {
      const w = num(wts.kernel.data[n * units + k]);
      terms.push([n, x[n], w, x[n] * w]);
      total += x[n] * w;
    }
    const top = [...terms].sort((a, b) => Math.abs(b[3]) - Math.abs(a[3])).slice(0, SHOW_TERMS);
    const topSum = top.reduce((s, t) => s + t[3], 0), rest = total - topSum;
    maps.prepend(inputFigure(l, 0, top.map((t) => [Math.floor(t[0] / src.w), t[0] % src.w]),
      markup`<b>Input</b> x = ${l.inputs[0]} (${fin} values; the largest terms outlined)`, null,
      true));
    const bias = wts.bias ? num(wts.bias[k]) : 0, z = total + bias;
    const act = ACT[info.activation];
    calc.append(el("div", { class: "formula",
      html: markup`z[k] = Σ<sub>i</sub> x[i] · W[i, k] + b[k]` }),
      el("div", { class: "formula filled", html: concat(markup`z[${k}] = Σ<sub>i&lt;${fin}</sub> `,
        `x[i] · W[i, ${k}]${wts.bias ? ` + b[${k}]` : ""}`) }));
    const pscale = absMax([top.map((t) => t[3])]);
    const t = el("table", { class: "mat terms", id: "dense-terms" },
      el("caption", { text: `the ${top.length} largest of ${fin} terms x[i]·W[i, ${k}]` }),
      el("tr", {}, ["i", "x[i]", `W[i, ${k}]`, "product"].map((h) => el("th", { text: h }))),
      top.map((r) => el("tr", { "data-product": r[3] }, el("td", { text: r[0] }),
        el("td", { text: fmt(r[1], 4) }), el("td", { text: fmt(r[2], 4) }),
        el("td", { style: tint(r[3], pscale), text: fmt(r[3], 4) }))),
      fin > top.length ? el("tr", { class: "rest" }, el("td", { colspan: 3,
        text: `rest: the other ${big(fin - top.length)} terms` }),
      el("td", { id: "dense-rest", "data-value": rest, text: fmt(rest, 6) })) : null,
      el("tr", { class: "final" }, el("td", { colspan: 3, text: `Σ of all ${fin} terms` }),
        el("td", { text: fmt(total, 6) })));
    calc.append(el("div", { class: "scrolls" }, t));
    const ref = refValue(l, g);
    const rows = [[`Σ of all ${fin} products (listed + rest)`, fmt(total, 7),
      { id: "dense-sum", "data-value": total }],
    [`+ bias b[${k}]`, fmt(bias, 7), {}], ["= z", fmt(z, 7), { id: "dense-z", "data-value": z }]];
    if (info.activation === "softmax") {
      rows.push([`logit z[${k}] (softmax: section 4)`, el("span", {}, el("b", { id: "cell-ref",
        "data-value": SOFT.logits[k], text: fmt(SOFT.logits[k], 7) }), " ",
      checkBadge(z, SOFT.logits[k])), {}, "final"]);
      rows.push([`softmax → p[${k}]`, fmt(ref, 6), {}]);
    } else if (act) {
      const out = act(z, info.leaky_slope);
      if (info.activation !== "linear") {
        rows.push([markup`${info.activation}(z) = ${ACT_TEXT[info.activation]}`, fmt(out, 7), {}]);
      }
      rows.push([`forward pass a[${k}]`, el("span", {}, el("b", { id: "cell-ref", "data-value": ref,
        text: fmt(ref, 7) }), " ", checkBadge(out, ref)), {}, "final"]);
    }
    calc.append(resultTable(rows));
  };

  // Flatten: a[n] = X[h, w, c] with n = (h·W + w)·C + c (row-major over H, W, C).
  EXPLAINERS.flatten = function (l, g, calc, maps) {
    const n = flatIndex(g), src = layerOf(l.inputs[0]), X = grid(src);
    if (n >= g.n) return;
    const ref = refValue(l, g);
    if (X.flat) { calc.append(valueLine(l, g)); return; }
    // Keras order (channels fastest), or PyTorch's (C, H, W) order for imported models.
    const chw = l.info.order === "chw";
    const c = chw ? Math.floor(n / (X.h * X.w)) : n % X.c;
    const w = chw ? n % X.w : Math.floor(n / X.c) % X.w;
    const h = chw ? Math.floor(n / X.w) % X.h : Math.floor(n / (X.c * X.w));
    const x = X.get(h, w, c);
    maps.prepend(inputFigure(l, c, [[h, w]], markup`<b>Input</b> ${l.inputs[0]} — channel ${c}`));
    calc.append(el("div", { class: "formula", text: chw
      ? "a[n] = X[h, w, c] with n = (c·H + h)·W + w (PyTorch's channel-first order)"
      : "a[n] = X[h, w, c] with n = (h·W + w)·C + c" }),
    el("div", { class: "formula filled", text: `a[${n}] = X[${h}, ${w}, ${c}]: ` + (chw
      ? `${n} = (${c}·${X.h} + ${h})·${X.w} + ${w}`
      : `${n} = (${h}·${X.w} + ${w})·${X.c} + ${c}`) }),
      resultTable([[`X[${h}, ${w}, ${c}]`, fmt(x, 7), { id: "flat-src", "data-value": x }],
        [`a[${n}]`, el("span", {},
          el("b", { id: "cell-ref", "data-value": ref, text: fmt(ref, 7) }),
          " ", checkBadge(x, ref)), {}, "final"]]));
  };

  function sameIndex(l, g, calc, maps, fn, formula) {
    const src = layerOf(l.inputs[0]), X = grid(src);
    const x = g.flat ? X.get(state.i, state.j) : X.get(state.i, state.j, state.ch);
    const value = fn(x), ref = refValue(l, g);
    if (!g.flat) {
      maps.prepend(inputFigure(l, state.ch, [[state.i, state.j]],
        markup`<b>Input</b> ${l.inputs[0]} — channel ${state.ch}`));
    }
    calc.append(el("div", { class: "formula", html: formula }),
      resultTable([["input value", fmt(x, 7), {}], ["result", fmt(value, 7), {}],
        ["forward pass", el("span", {}, el("b", { id: "cell-ref", "data-value": ref,
          text: fmt(ref, 7) }), " ", checkBadge(value, ref)), {}, "final"]]));
  }
  EXPLAINERS.identity = function (l, g, calc, maps) {
    if (l.info.why) calc.append(el("p", { class: "note", text: l.info.why }));
    sameIndex(l, g, calc, maps, (x) => x, "a = x");
  };
  EXPLAINERS.elementwise = function (l, g, calc, maps) {
    const name = l.info.activation, cap = l.info.cap;
    const fn = name === "relu_cap" ? (z) => Math.min(Math.max(z, 0), cap)
      : (z) => ACT[name](z, l.info.leaky_slope);
    sameIndex(l, g, calc, maps, fn,
      markup`a = ${name}(z) = ${ACT_TEXT[name] || `min(max(0, z), ${cap})`}`);
  };

  // The layers that combine or rescale values at one position: the output index and, per
  // input, the value it reads there (merge layers read several inputs).
  const here = (g) => (g.flat ? [flatIndex(g)] : [state.i, state.j, state.ch]);
  function valueAt(key, pos) {
    const v = VALUES.get(key), sh = v.shape;
    let n = 0;
    for (let a = 0; a < sh.length; a++) n = n * sh[a] + pos[a];
    return v.data[n];
  }
  const posText = (pos) => `[${pos.join(", ")}]`;
  function checkedRows(rows, value, ref) {
    return resultTable([...rows,
      ["result", fmt(value, 7), { id: "cell-value", "data-value": value }],
      ["forward pass", el("span", {}, el("b", { id: "cell-ref", "data-value": ref,
        text: fmt(ref, 7) }), " ", checkBadge(value, ref)), {}, "final"]]);
  }
  EXPLAINERS.add = function (l, g, calc) {
    const pos = here(g), xs = l.inputs.map((k) => valueAt(k, pos));
    const value = xs.reduce((a, b) => a + b, 0);
    calc.append(el("div", { class: "formula", text: `a${posText(pos)} = ` +
      l.inputs.map((k) => `${k}${posText(pos)}`).join(" + ") }),
    checkedRows(l.inputs.map((k, n) => [`${k}${posText(pos)}`, fmt(xs[n], 7), {}]), value,
      refValue(l, g)));
  };
  EXPLAINERS.concat = function (l, g, calc) {
    const pos = here(g), axis = l.info.axis < 0 ? pos.length + l.info.axis : l.info.axis;
    let at = pos[axis], k = 0;
    while (k < l.inputs.length - 1 && at >= VALUES.get(l.inputs[k]).shape[axis]) {
      at -= VALUES.get(l.inputs[k]).shape[axis]; k += 1;
    }
    const src = pos.slice();
    src[axis] = at;
    const x = valueAt(l.inputs[k], src);
    calc.append(el("div", { class: "formula", text: `Concatenate along axis ${axis}: ` +
      l.inputs.map((key) => `${key} (${VALUES.get(key).shape[axis]})`).join(" | ") }),
    checkedRows([[`index ${pos[axis]} falls in ${l.inputs[k]} at ${at}: ` +
      `${l.inputs[k]}${posText(src)}`, fmt(x, 7), {}]], x, refValue(l, g)));
  };
  EXPLAINERS.batchnorm = function (l, g, calc) {
    const w = l.weights || {}, pos = here(g), c = pos[pos.length - 1];
    const get = (name, dflt) => (w[name] && w[name].data && typeof w[name].data !== "string"
      ? w[name].data[c] : dflt);
    const gamma = get("gamma", 1), beta = get("beta", 0), mean = get("moving_mean", NaN);
    const vr = get("moving_variance", NaN), eps = l.info.epsilon;
    const x = valueAt(l.inputs[0], pos);
    const value = (gamma * (x - mean)) / Math.sqrt(vr + eps) + beta;
    calc.append(el("div", { class: "formula", text: "a = γ·(x − μ)/√(σ² + ε) + β (the " +
      "moving mean μ and variance σ² learned in training; ε = " + eps + ")" }),
    checkedRows([["x", fmt(x, 7), {}], [`γ[${c}]`, fmt(gamma, 7), {}],
      [`β[${c}]`, fmt(beta, 7), {}],
      [`μ[${c}]`, fmt(mean, 7), {}], [`σ²[${c}]`, fmt(vr, 7), {}]], value, refValue(l, g)));
  };
  EXPLAINERS.rescaling = function (l, g, calc) {
    const pos = here(g), x = valueAt(l.inputs[0], pos);
    const value = x * l.info.scale + l.info.offset;
    calc.append(el("div", { class: "formula", text: `a = x·${l.info.scale} + ${l.info.offset}` }),
      checkedRows([["x", fmt(x, 7), {}]], value, refValue(l, g)));
  };
  EXPLAINERS.zeropad = function (l, g, calc) {
    const pos = here(g), [[t], [lf]] = l.info.pads, X = grid(layerOf(l.inputs[0]));
    const r = pos[0] - t, q = pos[1] - lf, inside = r >= 0 && q >= 0 && r < X.h && q < X.w;
    const value = inside ? X.get(r, q, pos[2]) : 0;
    calc.append(el("div", { class: "formula", text: `a[i, j, c] = X[i − ${t}, j − ${lf}, c], ` +
      "0 outside X" }), checkedRows([[inside ? `X[${r}, ${q}, ${pos[2]}]` : "padding",
      fmt(value, 7), {}]], value, refValue(l, g)));
  };
  EXPLAINERS.gmp = function (l, g, calc, maps) {
    const c = flatIndex(g), X = grid(layerOf(l.inputs[0]));
    if (c >= g.n) return;
    let best = -Infinity, at = [0, 0];
    for (let i = 0; i < X.h; i++) {
      for (let j = 0; j < X.w; j++) {
        if (X.get(i, j, c) > best) { best = X.get(i, j, c); at = [i, j]; }
      }
    }
    maps.prepend(inputFigure(l, c, [at], markup`<b>Input</b> ${l.inputs[0]} — channel ${c}`));
    calc.append(el("div", { class: "formula", html: markup`a[c] = max<sub>i,j</sub> X[i, j, c]` }),
      checkedRows([[`winner X[${at[0]}, ${at[1]}, ${c}]`, fmt(best, 7), {}]], best,
        refValue(l, g)));
  };
  EXPLAINERS.reshape = function (l, g, calc) {
    const n = flatIndex(g), pos = here(g);
    const x = VALUES.get(l.inputs[0]).data[g.flat ? n : ((pos[0] * g.w + pos[1]) * g.c + pos[2])];
    calc.append(el("div", { class: "formula", text: "Reshape keeps the row-major order: the " +
      "n-th number stays the n-th number" }), checkedRows([["input, same position in order",
      fmt(x, 7), {}]], x, refValue(l, g)));
  };

  // ----- 4. softmax ---------------------------------------------------------------------
  // Two tables (scores, then probabilities and p − y), side by side on wide screens and stacked
  // on a phone, so every column stays visible at 390 px.
  function softmaxSection() {
    const body = byId("softmax-body");
    body.replaceChildren();
    if (!SOFT) { byId("softmax").hidden = true; return; }
    const s = DATA.softmax, names = classNames();
    const z = SOFT.logits.map(num), m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m)), sum = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / sum);
    const label = state.trueLabel, top = predicted();
    const source = VALUES.get(INPUT.key).fromEngine ? "computed in your browser from the " +
      "current input" : s.source;
    body.append(el("p", { class: "hint", html: concat(
      markup`The last layer gives one score (a <i>logit</i>) z per class (${source}). `,
      markup`Softmax turns the scores into probabilities that add up to 1: p<sub>k</sub> = `,
      markup`e<sup>z<sub>k</sub> − max z</sup> / `,
      markup`Σ<sub>j</sub> e<sup>z<sub>j</sub> − max z</sup>. `,
      `Subtracting max z = ${fmt(m, 5)} changes nothing mathematically but keeps `,
      markup`e<sup>z</sup> from overflowing.`) }));
    const rowCls = (k) => (k === top ? "pred " : "") + (k === label ? "truth" : "");
    const shown = shownClasses(), hidden = z.map((_, k) => k).filter((k) => !shown.includes(k));
    const restSum = (f) => hidden.reduce((acc, k) => acc + f(k), 0);
    const restRow = (cells) => (hidden.length ? el("tr", { class: "rest" }, el("td", {
      class: "cls", text: `other ${big(hidden.length)}` }), cells) : null);
    const scores = el("table", { class: "smax", id: "softmax-scores" },
      el("thead", {}, el("tr", {}, ["class", "logit z", "z − max z", "e^(z − max z)"].map((h,
        k) =>
        el("th", { class: k === 0 ? "cls" : null, text: h })))),
      el("tbody", {}, shown.map((k) => el("tr", { class: rowCls(k) },
        el("td", { class: "cls", text: names[k] }), el("td", { text: fmt(z[k], 5) }),
        el("td", { text: fmt(z[k] - m, 5) }), el("td", { text: fmt(e[k], 5) }))),
      restRow([el("td", { text: "…" }), el("td", { text: "…" }),
        el("td", { text: fmt(restSum((k) => e[k]), 5) })])),
      el("tfoot", {}, el("tr", {}, el("td", { class: "cls", text: "Σ" }), el("td"), el("td"),
        el("td", { id: "softmax-sum", "data-value": sum, text: fmt(sum, 6) }))));
    const heads = ["class", "p = e / Σ", ""];
    if (label !== null) heads.push("y", "p − y");
    const probs = el("table", { class: "smax", id: "softmax-table" },
      el("thead", {}, el("tr", {}, heads.map((h, k) => el("th", { class: k === 0 ? "cls" : null,
        text: h })))),
      el("tbody", {}, shown.map((k) => [k, p[k]]).map(([k, pk]) => el("tr", { class: rowCls(k) },
        el("td", { class: "cls", text: names[k] }),
        el("td", { text: fmt(pk, 5), "data-value": pk }),
        el("td", { class: "barcell" }, el("div", { class: "track" }, el("div", { class: "fill",
          style: `width:${(100 * pk).toFixed(1)}%` }))),
        label !== null ? [el("td", { text: k === label ? 1 : 0 }),
          el("td", { text: fmt(pk - (k === label ? 1 : 0), 5) })] : null)),
      restRow([el("td", { text: fmt(restSum((k) => p[k]), 5) }), el("td"),
        label !== null ? [el("td", { text: 0 }), el("td", { text: fmt(restSum((k) => p[k]), 5) })]
          : null])),
      el("tfoot", {}, el("tr", {}, el("td", { class: "cls", text: "Σ" }),
        el("td", { text: fmt(p.reduce((a, b) => a + b, 0), 6) }), el("td"),
        label !== null ? [el("td", { text: "1" }), el("td")] : null)));
    body.append(el("div", { class: "smax-pair" }, scores, probs));
    const ref = SOFT.probs;
    const worst = Math.max(...p.map((v, k) => Math.abs(v - num(ref[k]))));
    const ok = worst <= 1e-4;
    body.append(el("p", {}, el("span", { class: "check " + (ok ? "ok" : "no"), id: "softmax-check",
      text: ok ? `✓ equals the model's probabilities (largest difference ${fmt(worst, 2)})`
        : `✗ differs by ${fmt(worst, 3)}` })));
    if (label !== null) {
      body.append(el("p", { html: concat(
        markup`With the true class y = <b>${names[label]}</b>, the cross-entropy `,
        markup`loss is L = −log p<sub>y</sub> = −log ${fmt(p[label], 5)} = `,
        markup`<b id="softmax-loss" data-value="${-Math.log(p[label])}">`,
        markup`${fmt(-Math.log(p[label]), 5)}</b>, and its gradient with respect to the logits `,
        "is dL/dz = p − y (the last column): that is where backpropagation starts " +
        "(section 5).") }));
    }
  }

  // ----- 5. backpropagation on the real model -------------------------------------------
  const DACT = { // d act / dz from the activation's output a (what the layer stores)
    linear: () => 1, relu: (a) => (a > 0 ? 1 : 0), sigmoid: (a) => a * (1 - a),
    tanh: (a) => 1 - a * a, relu6: (a) => (a > 0 && a < 6 ? 1 : 0),
  };
  function gradOf(name) {
    const gr = state.backward && state.backward.out.grads.find((x) => x.name === name);
    return gr ? { shape: gr.shape, data: Float64Array.from(gr.values) } : null;
  }
  function backpropSection() {
    const body = byId("backprop-body");
    body.replaceChildren();
    const usable = SOFT && engine() && typeof GN.backward === "function";
    byId("backprop").hidden = !usable;
    byId("nav-backprop").hidden = !usable;
    if (!usable) return;
    if (!state.result) {
      body.append(el("p", { class: state.engineFailed ? "warn" : "note",
        text: state.engineFailed ? "The in-page engine cannot run this model (see section 1), " +
          "so there is no backward pass to show."
          : "Computing the forward pass in your browser…" }));
      return;
    }
    const names = classNames();
    if (state.label === null || state.label === undefined) state.label = predicted();
    const y = state.label;
    if (!state.backward || state.backward.label !== y || state.backward.result !== state.result) {
      try {
        state.backward = { label: y, result: state.result, out: GN.backward(state.result, y) };
      } catch (err) { // a layer the engine cannot differentiate: say so, keep the rest working
        body.append(el("p", { class: "warn", text: "The in-page backward pass could not run " +
          `on this model: ${err.message}` }));
        return;
      }
    }
    const bw = state.backward.out;
    const pick = el("select", { id: "bp-label", onchange: (ev) => {
      state.label = Number(ev.target.value); state.picked = true; backpropSection(); } },
    names.map((n, k) => el("option", { value: k, selected: k === y, text: n })));
    body.append(el("p", { class: "hint", text: "Backpropagation asks how the loss changes " +
      "with every number in the network, for this one input and the label below. It starts " +
      "at the logits with dL/dz = p − y and goes back layer by layer (the chain rule); each " +
      "weight's gradient is what one SGD step would subtract (times the learning rate)." }),
    el("p", {}, el("label", {}, "label y: ", pick), " ",
      el("span", { class: "note", text: state.trueLabel !== null && state.trueLabel !== undefined
        ? `(the true class is ${names[state.trueLabel]})` : "(the true class is not known: " +
        "pick the one you mean)" })));
    const p = SOFT.probs;
    body.append(el("p", { html: concat(
      markup`loss L = −log p<sub>y</sub> = −log ${fmt(p[y], 5)} = `,
      markup`<b id="bp-loss" data-value="${bw.loss}">${fmt(bw.loss, 6)}</b>`) }));
    const dl = Array.from(bw.dlogits);
    const dtab = el("table", { class: "smax", id: "bp-dlogits" },
      el("thead", {}, el("tr", {}, ["class", "p", "y", "dL/dz = p − y"].map((h, k) =>
        el("th", { class: k === 0 ? "cls" : null, text: h })))),
      el("tbody", {}, rowsWith(y).map((k) => [k, dl[k]]).map(([k, d]) => el("tr", {
        class: k === y ? "label" : null }, el("td", { class: "cls", text: names[k] }),
      el("td", { text: fmt(p[k], 5) }), el("td", { text: k === y ? 1 : 0 }),
      el("td", { "data-value": d, style: tint(d, 1), text: fmt(d, 5) })))));
    const worst = Math.max(...dl.map((d, k) => Math.abs(d - (p[k] - (k === y ? 1 : 0)))));
    body.append(el("div", { class: "scrolls" }, dtab), el("p", {}, el("span", {
      class: "check " + (worst <= 1e-6 ? "ok" : "no"), id: "bp-dlogits-check",
      text: worst <= 1e-6 ? "✓ the engine's dL/dz equals p − y"
        : `✗ differs by ${fmt(worst, 3)}` })));
    // Gradient maps dL/d(output) of every layer, last layer first.
    body.append(el("h3", { text: "dL/d(output) of every layer (last first)" }),
      el("p", { class: "note", text: "Each map shows, for one channel, how much the loss would " +
        "change per unit change of that activation (blue: increasing it lowers the loss). " +
        "The channel with the largest gradient is shown; click a layer with weights to see " +
        "its weight gradients below." }));
    const strip = el("div", { class: "columns gcols scrolls", id: "grad-maps" });
    const withW = new Set(Object.keys(bw.weights || {}).filter((k) => !k.endsWith("/bias")));
    if (!state.bpKey || !withW.has(state.bpKey)) state.bpKey = [...withW].pop() || null;
    [...LAYERS].reverse().forEach((l) => {
      const gr = gradOf(l.key);
      if (!gr || l.info.kind === "input") return;
      const g = gridOf(gr), scale = absMax([Array.from(gr.data)]);
      let bestCh = 0, bestE = -1;
      for (let c = 0; c < g.c && !g.flat; c++) {
        let e = 0;
        for (let i = 0; i < g.h; i++) for (let j = 0; j < g.w; j++) e += Math.abs(g.get(i, j, c));
        if (e > bestE) { bestE = e; bestCh = c; }
      }
      const canvas = el("canvas", { "aria-hidden": "true" });
      drawGrid(canvas, g, bestCh, Math.max(1, Math.floor(100 / Math.max(g.h, g.w))), { scale });
      canvas.style.width = "100%"; canvas.style.height = "auto";
      const has = withW.has(l.key);
      strip.append(el("div", { class: "layer" + (l.key === state.bpKey ? " current" : ""),
        "data-layer": l.key, "data-maxgrad": scale },
      el("div", { class: "lname", text: l.key }),
      el("div", { class: "lmeta", text: shapeText(gr.shape) +
        `${g.flat ? "" : ` · channel ${bestCh}`}` +
        ` · max |g| = ${fmt(scale, 3)}` }),
      has ? el("button", { type: "button", class: "thumb",
        "aria-label": `weight gradients of ${l.key}`,
        onclick: () => { state.bpKey = l.key; state.bpUnit = 0; backpropSection(); } }, canvas)
        : el("div", { class: "thumb" }, canvas)));
    });
    body.append(strip);
    if (state.bpKey) body.append(weightGrads(layerOf(state.bpKey), bw));
    hintScrollers();
  }

  // dL/dW of one filter (conv) or one unit (dense), with an on-screen check of the formula.
  function weightGrads(l, bw) {
    const gw = bw.weights[l.key], gb = bw.weights[l.key + "/bias"];
    const shape = gw.shape, F = shape[shape.length - 1];
    const f = Math.min(state.bpUnit, F - 1);
    const dW = gw.values;
    const a = VALUES.get(l.key).data, da = gradOf(l.key);
    const d = DACT[l.info.activation];
    const wrap = el("div", { class: "wgrad", id: "weight-grads" });
    const unitPick = el("select", { id: "bp-unit", onchange: (ev) => {
      state.bpUnit = Number(ev.target.value); backpropSection(); } },
    Array.from({ length: F }, (_, k) => el("option", { value: k, selected: k === f,
      text: String(k) })));
    wrap.append(el("h3", {}, `dL/dW of ${l.key}, `, el("label", {},
      l.info.kind === "conv" ? "filter " : "unit ", unitPick)));
    // dz = dL/da · act'(z): the gradient at the pre-activation.
    const dz = da && d ? Float64Array.from(da.data, (g, n) => g * d(a[n])) : null;
    if (l.info.kind === "dense") {
      const fin = shape[0], x = VALUES.get(l.inputs[0]).data;
      const col = new Float64Array(fin);
      for (let n = 0; n < fin; n++) col[n] = dW[n * F + f];
      wrap.append(el("div", { class: "formula", text: `dL/dW[i, ${f}] = x[i] · dL/dz[${f}]` }));
      const dzk = dz ? dz[f] : gb ? gb.values[f] : NaN;
      let worst = 0;
      for (let n = 0; n < fin; n++) worst = Math.max(worst, Math.abs(col[n] - x[n] * dzk));
      const g = gridOf({ shape: [fin], data: col });
      const canvas = el("canvas", { class: "mapcanvas", "aria-hidden": "true" });
      drawGrid(canvas, g, 0, cellSize(g, roomFor()), { scale: absMax([col]) });
      wrap.append(el("figure", {}, el("figcaption", { text: `dL/dW[:, ${f}]: ${fin} values ` +
        `wrapped in rows of ${g.w}` }), canvas),
      resultTable([[`dL/dz[${f}]${gb ? " = dL/db[" + f + "]" : ""}`, fmt(dzk, 6),
        { id: "bp-dz", "data-value": dzk }],
      ["largest |dL/dW − x·dL/dz| over the column", el("span", {}, fmt(worst, 2), " ",
        el("span", { class: "check " + (worst <= 1e-6 * Math.max(1, Math.abs(dzk)) ? "ok" : "no"),
          id: "bp-check", text: worst <= 1e-6 * Math.max(1, Math.abs(dzk)) ? "✓ formula holds"
            : "✗ formula does not hold" })), {}, "final"]]));
      return wrap;
    }
    // conv: dL/dK[u, v, c, f] = Σ_ij dL/dz[i, j, f] · X[i·S + u·D − P, j·S + v·D − P, c]
    const [KH, KW, CG] = shape, info = l.info, X = grid(layerOf(l.inputs[0]));
    const [OH, OW] = l.shape;
    const group = Math.floor(f / (F / info.groups));
    wrap.append(el("div", { class: "scrolls" }, el("div", { class: "formula",
      html: concat(markup`dL/dK[u, v, c, ${f}] = Σ<sub>i,j</sub> dL/dz[i, j, ${f}] · `,
        "X[i·S + u − P, j·S + v − P, c]") }),
    el("div", { class: "formula", text: `dL/dz = dL/da · ${info.activation}'(z)` })));
    const cards = el("div", { class: "channels" });
    let worst = 0;
    const shownCh = Math.min(CG, 8);
    for (let c = 0; c < CG; c++) {
      const mine = [], rec = [];
      for (let u = 0; u < KH; u++) {
        mine.push([]); rec.push([]);
        for (let v = 0; v < KW; v++) {
          mine[u].push(dW[((u * KW + v) * CG + c) * F + f]);
          if (dz && c < shownCh) {
            let s = 0;
            for (let i = 0; i < OH; i++) {
              const r = i * info.strides[0] + u * info.dilation[0] - info.pads[0][0];
              if (r < 0 || r >= X.h) continue;
              for (let j = 0; j < OW; j++) {
                const q = j * info.strides[1] + v * info.dilation[1] - info.pads[1][0];
                if (q < 0 || q >= X.w) continue;
                s += dz[(i * OW + j) * F + f] * X.get(r, q, group * CG + c);
              }
            }
            worst = Math.max(worst, Math.abs(s - mine[u][v]));
          }
        }
      }
      if (c < shownCh) {
        cards.append(el("div", { class: "chan" }, matrix(mine, null,
          `dL/dK[:, :, ${c}, ${f}]`, 3, null, absMax(mine))));
      }
    }
    wrap.append(cards);
    if (CG > shownCh) {
      wrap.append(el("p", { class: "note", text: `(the first ${shownCh} of ${CG} input ` +
        "channels are shown and checked)" }));
    }
    const scale = absMax([dW]);
    const rows = [];
    if (gb) rows.push([`dL/db[${f}] = Σ<sub>i,j</sub> dL/dz[i, j, ${f}]`, fmt(gb.values[f], 6),
      { id: "bp-db", "data-value": gb.values[f] }]);
    if (dz) {
      const ok = worst <= 1e-6 * Math.max(1, scale);
      rows.push(["largest |engine − Σ dL/dz · X| over the shown slices", el("span", {},
        fmt(worst, 2), " ", el("span", { class: "check " + (ok ? "ok" : "no"), id: "bp-check",
          text: ok ? "✓ formula holds" : "✗ formula does not hold" })), {}, "final"]);
    }
    wrap.append(resultTable(rows.map((r) => [new Markup(r[0].replace(/<(?!\/?sub>)/g, "&lt;")),
      r[1], r[2], r[3]])));
    return wrap;
  }

  // ----- 6. trace: a separate worked example -------------------------------------------
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
    byId("trace").hidden = false;
    byId("nav-trace").hidden = false;
    const body = byId("trace-body");
    body.append(el("p", { class: "warn", id: "trace-note", text: `A separate worked example, ` +
      `not the model above: the small network of the trace spec "${t.name}", ${t.mode}. Its ` +
      "numbers (and its loss) belong to that little network only." }),
    el("p", { class: "hint", text: "Step through its forward pass, the loss, the backward " +
      "pass (last layer first, as backpropagation computes it) and the update; each value has " +
      "its formula beside it." }));
    const nav = el("div", { class: "step-nav", role: "tablist", "aria-label": "trace steps" });
    const panel = el("div", { class: "tstep", role: "tabpanel", id: "trace-panel" });
    const buttons = t.steps.map((step, k) => {
      const label = step.phase === "input" || step.phase === "loss" ? step.phase
        : `${step.phase} ${step.title.split(" ")[1]}`;
      return el("button", { type: "button", role: "tab", class: "phase-" + step.phase,
        "aria-selected": "false", tabindex: "-1", "data-step": k, text: label,
        onclick: () => show(k, false) });
    });
    nav.append(...buttons);
    nav.addEventListener("keydown", (ev) => {
      const at = buttons.findIndex((b) => b.getAttribute("aria-selected") === "true");
      if (ev.key === "ArrowRight" && at < buttons.length - 1) {
        ev.preventDefault(); show(at + 1, true);
      }
      if (ev.key === "ArrowLeft" && at > 0) { ev.preventDefault(); show(at - 1, true); }
    });
    function show(k, focus) {
      buttons.forEach((b, n) => {
        b.setAttribute("aria-selected", String(n === k));
        b.tabIndex = n === k ? 0 : -1;
      });
      if (focus) buttons[k].focus();
      const step = t.steps[k];
      // The title may already start with the phase ("loss: categorical_crossentropy").
      const title = step.title.startsWith(step.phase) ? step.title : `${step.phase}: ${step.title}`;
      panel.replaceChildren(el("h3", { text: title }),
        ...step.items.map((it) => el("div", { class: "titem" }, el("div", { class: "lab",
          text: it.label }), el("div", { class: "val" }, it.value ? tensorView(it.value)
          : el("span", { class: "note", text: "(same values as above)" })))));
      hintScrollers();
    }
    body.append(el("div", { class: "scrolls" }, nav), panel);
    show(0, false);
  }

  // ----- start --------------------------------------------------------------------------
  function engineError(message) {
    state.engineFailed = true;
    backpropSection();
    const parts = document.querySelector("#input-body .inparts");
    if (parts) parts.remove(); // no input controls that could only fail
    if (byId("engine-error")) return;
    byId("input-body").prepend(el("p", { class: "warn", id: "engine-error",
      text: `The in-page forward pass cannot run this model (${message}), so other inputs ` +
        "cannot be tried here; the page shows the numbers computed in Python." }));
  }

  function start() {
    header();
    inputSection();
    if (GN.error) engineError(GN.error);
    overview();
    byId("columns").addEventListener("keydown", overviewKeys);
    const first = LAYERS.find((l) => l.info.kind === "conv" && canOpen(l)) ||
      LAYERS.find((l) => l.info.kind !== "input" && canOpen(l)) || LAYERS[0];
    select(first.key, 0, false);
    softmaxSection();
    backpropSection();
    traceSection();
    const ready = () => { document.body.dataset.ready = "1"; };
    if (!engine()) { ready(); return; }
    // Then the same input once more through the in-page engine: every map becomes full size
    // (thumbnails included) and backprop has a forward pass to start from.
    setTimeout(() => {
      try {
        setInput(pixelsOf(DATA.input) || VALUES.get(INPUT.key).data);
      } catch (err) { // the embedded maps stay; the page says why nothing is recomputed
        engineError(err.message);
      } finally {
        ready();
      }
    }, 0);
  }
  GN.select = (key, ch, cell) => select(key, ch || 0, false, cell);
  GN.state = state;
  window.GLASSNET = { DATA, state, select };
  start();
})();
