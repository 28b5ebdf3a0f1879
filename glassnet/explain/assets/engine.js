/* glassnet explain: the in-page engine. The forward and backward pass of the embedded model in
   plain JavaScript (Float64Array arithmetic, no libraries), for every layer kind the page data
   describes (glassnet/explain/layerinfo.py), with the array operations of ops.js. Inlined
   after ops.js and before page.js.

   Contract (DESIGN.md §4, tests/test_explain_engine.py):
     glassnet.forward(pixels) -> {probabilities, logits, layers: [{name, shape, values, pre?}]}
       pixels: flat H·W·C values in the model's input scale (NHWC, as model.predict takes them);
       one entry per entry of DATA.layers, in that order (the input first); values: flat
       Float64Array, NHWC without the batch axis; pre: the values before the layer's own
       activation (conv/dense/separable with an activation).
     glassnet.backward(result, label) -> {loss, dlogits, grads: [{name, shape, values, pre?}],
       weights: {name: {shape, values}}}
       softmax cross-entropy at `label`; grads[i] = dL/d(output of layer i) (pre: dL/dz);
       weights[layer] = dL/dkernel, weights[layer + "/bias"] = dL/dbias, other weights as
       layer + "/" + weight name (gamma, beta, depthwise_kernel, ...). A layer called twice
       gets the sum over its calls, as the model's own gradient.
     glassnet.data: the page data with every embedded exact array decoded (weights as
       {shape, data: Float64Array}); maps not embedded (size budget) are computed here at
       load for models up to FILL_AT_LOAD_MACS multiply-adds, else by glassnet.fillMaps()
       (or the view's own forward pass of the input).
     glassnet.error: set when the page data holds a layer the engine cannot run.
*/
(function () {
  "use strict";
  const G = (window.glassnet = window.glassnet || {});
  const {
    decode, decoded, size, split, activate, activateBack, softmaxInto, softmaxBackInto,
    convForward, convBackward, denseForward, denseBackward, poolForward, poolBackward,
    globalForward, globalBackward, concatForward, concatBackward, chwIndex, zeroPad, zeroCrop,
  } = G.ops;

  // ----- the model -------------------------------------------------------------------------------
  // NOTE: tables keyed by layer names have no prototype: a layer may be called "__proto__" or
  // "constructor" (names come from anyone's model files) and must stay plain data.
  const table = () => Object.create(null);
  let LAYERS = [], WEIGHTS = table(), BY_KEY = table();
  const CACHES = new WeakMap();  // forward result -> what backward needs (argmaxes, inputs)

  // The weights of a layer by its name (a layer called twice embeds them once).
  const weightsOf = (l) => WEIGHTS[l.name] || {};
  const vec = (w) => (w ? w.data : null);

  // One layer call: returns {out, pre?, cache?}. xs: input value arrays, shapes: their shapes.
  function runLayer(l, xs, shapes) {
    const info = l.info, w = weightsOf(l), x = xs[0], inShape = shapes[0];
    const last = l.shape[l.shape.length - 1];
    const withAct = (z) => info.activation && info.activation !== "linear"
      ? { out: activate(info.activation, z, last, info), pre: z } : { out: z };
    switch (info.kind) {
      case "conv":
        return withAct(convForward(x, inShape, w.kernel, vec(w.bias), info, l.shape));
      case "separable": {
        const mid = [l.shape[0], l.shape[1], inShape[2] * info.depth_multiplier];
        const dgeo = { ...info, groups: inShape[2] };
        const m = convForward(x, inShape, w.depthwise_kernel, null, dgeo, mid);
        const r = withAct(convForward(m, mid, w.pointwise_kernel, vec(w.bias), POINTWISE, l.shape));
        r.cache = { mid, m, dgeo };
        return r;
      }
      case "dense": return withAct(denseForward(x, w.kernel, vec(w.bias)));
      case "pool": {
        const r = poolForward(x, inShape, info, l.shape);
        return { out: r.out, cache: r.cache };
      }
      case "gap": case "gmp": {
        const r = globalForward(x, inShape, info.kind === "gmp");
        return { out: r.out, cache: r.cache };
      }
      case "flatten":
        if (info.order === "chw" && inShape.length === 3) {
          const idx = chwIndex(inShape), out = new Float64Array(x.length);
          for (let k = 0; k < idx.length; k++) out[k] = x[idx[k]];
          return { out, cache: { idx } };
        }
        return { out: Float64Array.from(x) };
      case "identity": case "reshape": return { out: Float64Array.from(x) };
      case "elementwise": return { out: activate(info.activation, x, last, info), pre: x };
      case "softmax": {
        const [outer, len, inner] = split(l.shape, info.axis), out = new Float64Array(x.length);
        softmaxInto(x, out, outer, len, inner);
        return { out };
      }
      case "batchnorm": {
        const C = last, out = new Float64Array(x.length);
        const g = w.gamma.data, b = w.beta.data, mu = w.moving_mean.data;
        const inv = w.moving_variance.data.map((v) => 1 / Math.sqrt(v + info.epsilon));
        for (let k = 0; k < x.length; k++) {
          const c = k % C;
          out[k] = (x[k] - mu[c]) * inv[c] * g[c] + b[c];
        }
        return { out, cache: { inv } };
      }
      case "add": {
        const out = Float64Array.from(x);
        for (const y of xs.slice(1)) for (let k = 0; k < out.length; k++) out[k] += y[k];
        return { out };
      }
      case "concat": return { out: concatForward(xs, shapes, info.axis, l.shape) };
      case "zeropad": return { out: zeroPad(x, inShape, info.pads, l.shape) };
      case "rescaling": return { out: x.map((v) => v * info.scale + info.offset) };
      default:
        throw new Error(`glassnet engine: layer ${JSON.stringify(l.key)} (${l.type}) is not ` +
          "supported in the page");
    }
  }
  const POINTWISE = { groups: 1, strides: [1, 1], dilation: [1, 1], pads: [[0, 0], [0, 0]] };

  // dL/d(inputs) of one call and its weight gradients. dy = dL/d(out); dpre (optional) = dL/dz
  // given directly (softmax + cross-entropy at the output: p − y, stable).
  function backLayer(l, dy, dpre, xs, shapes, r, wgrad) {
    const info = l.info, w = weightsOf(l), x = xs[0], inShape = shapes[0];
    const last = l.shape[l.shape.length - 1];
    const dz = dpre || (r.pre ? activateBack(info.activation, dy, r.pre, r.out, last, info) : dy);
    const addGrad = (name, values, shape) => {
      const key = name === "kernel" ? l.name : `${l.name}/${name}`;
      if (!wgrad[key]) wgrad[key] = { shape, values: new Float64Array(values.length) };
      const t = wgrad[key].values;
      for (let k = 0; k < values.length; k++) t[k] += values[k];
    };
    switch (info.kind) {
      case "conv": {
        const g = convBackward(dz, x, inShape, w.kernel, !!w.bias, info, l.shape);
        addGrad("kernel", g.dk, w.kernel.shape);
        if (g.db) addGrad("bias", g.db, w.bias.shape);
        return { dxs: [g.dx], dz };
      }
      case "separable": {
        const c = r.cache;
        const p = convBackward(dz, c.m, c.mid, w.pointwise_kernel, !!w.bias, POINTWISE, l.shape);
        const d = convBackward(p.dx, x, inShape, w.depthwise_kernel, false, c.dgeo, c.mid);
        addGrad("depthwise_kernel", d.dk, w.depthwise_kernel.shape);
        addGrad("pointwise_kernel", p.dk, w.pointwise_kernel.shape);
        if (p.db) addGrad("bias", p.db, w.bias.shape);
        return { dxs: [d.dx], dz };
      }
      case "dense": {
        const g = denseBackward(dz, x, w.kernel, !!w.bias);
        addGrad("kernel", g.dk, w.kernel.shape);
        if (g.db) addGrad("bias", g.db, w.bias.shape);
        return { dxs: [g.dx], dz };
      }
      case "pool": return { dxs: [poolBackward(dz, inShape, info, l.shape, r.cache)] };
      case "gap": case "gmp":
        return { dxs: [globalBackward(dz, inShape, info.kind === "gmp", r.cache)] };
      case "flatten":
        if (r.cache && r.cache.idx) {
          const dx = new Float64Array(dz.length), idx = r.cache.idx;
          for (let k = 0; k < idx.length; k++) dx[idx[k]] = dz[k];
          return { dxs: [dx] };
        }
        return { dxs: [dz] };
      case "identity": case "reshape": case "elementwise": return { dxs: [dz] };
      case "softmax": {
        if (dpre) return { dxs: [dpre] };
        const [outer, len, inner] = split(l.shape, info.axis), dx = new Float64Array(dy.length);
        softmaxBackInto(dy, r.out, dx, outer, len, inner);
        return { dxs: [dx] };
      }
      case "batchnorm": {
        // Inference: μ and σ² are constants, so y = γ·x̂ + β with x̂ = (x − μ)/σ is affine in x.
        const C = last, inv = r.cache.inv, mu = w.moving_mean.data, g = w.gamma.data;
        const dx = new Float64Array(dz.length);
        const dg = new Float64Array(C), dbeta = new Float64Array(C);
        for (let k = 0; k < dz.length; k++) {
          const c = k % C;
          dx[k] = dz[k] * g[c] * inv[c];
          dg[c] += dz[k] * (x[k] - mu[c]) * inv[c];
          dbeta[c] += dz[k];
        }
        addGrad("gamma", dg, w.gamma.shape);
        addGrad("beta", dbeta, w.beta.shape);
        return { dxs: [dx] };
      }
      case "add": return { dxs: xs.map(() => dz) };
      case "concat": return { dxs: concatBackward(dz, shapes, info.axis, l.shape) };
      case "zeropad": return { dxs: [zeroCrop(dz, inShape, info.pads, l.shape)] };
      case "rescaling": return { dxs: [dz.map((v) => v * info.scale)] };
      default: throw new Error(`glassnet engine: no backward for ${JSON.stringify(l.key)}`);
    }
  }

  // Where the logits are: the final layer's own pre-activation (Dense(..., "softmax")), the
  // input of a final Softmax layer, or the final output itself (a model without softmax).
  function finalSoftmax() {
    const l = LAYERS[LAYERS.length - 1];
    if (l.info.activation === "softmax" && l.info.kind !== "elementwise") return "activation";
    if (l.info.kind === "softmax") return "layer";
    return null;
  }

  function forward(pixels) {
    const inShape = LAYERS[0].shape, n = size(inShape);
    if (!pixels || pixels.length !== n) {
      throw new Error(`glassnet.forward: expected ${n} input values (${inShape.join("×")}), got ` +
        (pixels ? pixels.length : pixels));
    }
    const vals = table(), runs = [];
    const layers = LAYERS.map((l) => {
      let r;
      if (l.info.kind === "input") r = { out: Float64Array.from(pixels, Number) };
      else r = runLayer(l, l.inputs.map((k) => vals[k]), l.inputs.map((k) => BY_KEY[k].shape));
      vals[l.key] = r.out;
      runs.push(r);
      const entry = { name: l.key, shape: l.shape.slice(), values: r.out };
      if (r.pre) entry.pre = r.pre;
      return entry;
    });
    const final = layers[layers.length - 1], how = finalSoftmax();
    let logits = null, probabilities = null;
    if (final.shape.length === 1) {
      const lastRun = runs[runs.length - 1];
      logits = how === "activation" ? lastRun.pre
        : how === "layer" ? vals[LAYERS[LAYERS.length - 1].inputs[0]] : final.values;
      const p = new Float64Array(logits.length);
      softmaxInto(logits, p, 1, logits.length, 1);
      probabilities = Array.from(how ? final.values : p);
    }
    const result = { probabilities, logits: logits && Array.from(logits), layers };
    CACHES.set(result, { vals, runs });
    return result;
  }

  function backward(result, label) {
    const cache = CACHES.get(result);
    if (!cache) throw new Error("glassnet.backward: pass a result returned by glassnet.forward");
    if (!result.logits) throw new Error("glassnet.backward: the model's output is not a vector");
    const z = result.logits, K = z.length;
    if (!(Number.isInteger(label) && label >= 0 && label < K)) {
      throw new Error(`glassnet.backward: label must be an integer in [0, ${K}), got ${label}`);
    }
    // loss = −log softmax(z)[label] = log Σ e^(z − m) + m − z[label]
    const m = Math.max(...z), p = new Float64Array(K);
    softmaxInto(Float64Array.from(z), p, 1, K, 1);
    const loss = Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) + m - z[label];
    const dlogits = Float64Array.from(p);
    dlogits[label] -= 1;

    const n = LAYERS.length, last = LAYERS[n - 1], how = finalSoftmax();
    const grads = new Array(n), wgrad = table(), pending = table();
    const accumulate = (key, d) => {
      if (!pending[key]) pending[key] = Float64Array.from(d);
      else { const t = pending[key]; for (let k = 0; k < d.length; k++) t[k] += d[k]; }
    };
    if (how) {
      // dL/dp = −y/p at the softmax output (shown); the step to the logits uses p − y directly.
      const dp = new Float64Array(K);
      dp[label] = -1 / result.layers[n - 1].values[label];
      pending[last.key] = dp;
    } else pending[last.key] = dlogits;
    for (let k = n - 1; k >= 0; k--) {
      const l = LAYERS[k], dy = pending[l.key] || new Float64Array(size(l.shape));
      const entry = { name: l.key, shape: l.shape.slice(), values: dy };
      if (l.info.kind !== "input") {
        const xs = l.inputs.map((key) => cache.vals[key]);
        const shapes = l.inputs.map((key) => BY_KEY[key].shape);
        const dpre = k === n - 1 && how ? dlogits : null;
        const b = backLayer(l, dy, dpre, xs, shapes, cache.runs[k], wgrad);
        if (cache.runs[k].pre && b.dz) entry.pre = b.dz;
        l.inputs.forEach((key, i) => accumulate(key, b.dxs[i]));
      }
      grads[k] = entry;
    }
    return { loss, dlogits: Array.from(dlogits), probabilities: Array.from(p), grads,
      weights: wgrad };
  }

  // ----- page data -------------------------------------------------------------------------------

  // Decode the exact arrays, hand the view the weights where it reads them (info.kernel /
  // info.bias), and compute every map the size budget left out, so each cell can be opened.
  function prepare(data) {
    LAYERS = data.layers;
    BY_KEY = table();
    for (const l of LAYERS) BY_KEY[l.key] = l;
    WEIGHTS = table();
    for (const l of LAYERS) {
      if (!l.weights) continue;
      for (const name of Object.keys(l.weights)) l.weights[name] = decoded(l.weights[name]);
      WEIGHTS[l.name] = l.weights;
    }
    for (const l of LAYERS) {
      const w = WEIGHTS[l.name];
      if (w && w.kernel) {
        l.info.kernel = w.kernel;
        l.info.bias = w.bias ? w.bias.data : null;
      }
    }
    const pix = data.input && data.input.pixels;
    if (pix) {
      data.input.pixels = decoded(pix);
      // The exact pixels replace the 6-digit input map: cells of the first layer then read
      // exactly what the model read.
      LAYERS[0].map = { shape: LAYERS[0].shape.slice(), data: data.input.pixels.data };
    }
    for (const s of data.inputs || []) s.pixels = decoded(s.pixels);
    // A cheap model is run at once (resnet18 at 32×32: 0.1 s); a costly one is left to the
    // view, which reruns the input after its first drawing anyway (no pass done twice).
    const other = LAYERS.filter((l) => l.info.kind === "other");
    if (other.length) {
      G.error = "the page cannot run " + other.map((l) => `${l.key} (${l.type})`).join(", ");
    }
    if (pix && data.model.total_macs <= FILL_AT_LOAD_MACS) fillMaps(data);
    return data;
  }
  const FILL_AT_LOAD_MACS = 2e8;

  // Replace every thumbnail (a map the size budget left out) by the engine's full map of the
  // page's input; then every cell whose inputs are full can be opened. Returns whether it ran.
  function fillMaps(data) {
    if (!LAYERS.some((l) => !l.full)) return true;
    try {
      const r = forward(data.input.pixels.data);
      r.layers.forEach((e, k) => {
        const l = LAYERS[k];
        if (l.full) return;
        l.map = { shape: l.shape.slice(), data: e.values };
        Object.assign(l, { full: true, step: 1, computed: true });
      });
      for (const l of LAYERS) {
        l.explorable = l.info.kind !== "input" && l.inputs.every((key) => BY_KEY[key].full);
      }
      return true;
    } catch (err) {
      G.error = G.error || String(err && err.message);  // the thumbnails stay; the view says why
      return false;
    }
  }

  const block = document.getElementById("page-data");
  if (block) G.data = prepare(JSON.parse(block.textContent));
  Object.assign(G, { forward, backward, prepare, fillMaps: () => fillMaps(G.data), decode });
})();
