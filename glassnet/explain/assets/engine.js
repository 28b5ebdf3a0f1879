/* glassnet explain: the in-page engine. The forward and backward pass of the embedded model in
   plain JavaScript (Float64Array arithmetic, no libraries), for every layer kind the page data
   describes (glassnet/explain/layerinfo.py). Inlined before page.js.

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
       {shape, data: Float64Array}) and maps not embedded (size budget) computed here.
*/
(function () {
  "use strict";
  const G = (window.glassnet = window.glassnet || {});

  // ----- embedded arrays ------------------------------------------------------------------------
  // Exact arrays travel as base64 of little-endian float32 (or float64) bytes: 5.3 characters per
  // float32 value, and no rounding (the 6-digit JSON maps are for reading, these for computing).
  function decode(packed) {
    if (packed.data instanceof Float64Array) return packed.data;
    if (packed.b64 === undefined) {
      return Float64Array.from(packed.data, (v) => (v === null ? NaN : v));
    }
    const bin = atob(packed.b64);
    const bytes = new Uint8Array(bin.length);
    for (let k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
    const view = new DataView(bytes.buffer);
    const wide = packed.dtype === "float64";
    const n = bytes.length / (wide ? 8 : 4);
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      out[k] = wide ? view.getFloat64(8 * k, true) : view.getFloat32(4 * k, true);
    }
    return out;
  }
  const decoded = (packed) => ({ shape: packed.shape, data: decode(packed) });
  const size = (shape) => shape.reduce((a, b) => a * b, 1);

  // ----- activations ----------------------------------------------------------------------------
  // y = act(z); softmax runs over the last axis (channels of maps, features of vectors).
  function activate(name, z, last, info) {
    const y = new Float64Array(z.length);
    const n = z.length;
    switch (name) {
      case "linear": y.set(z); break;
      case "relu": for (let k = 0; k < n; k++) y[k] = z[k] > 0 ? z[k] : 0; break;
      case "relu6": case "relu_cap": {
        const cap = name === "relu6" ? 6 : info.cap;
        for (let k = 0; k < n; k++) y[k] = Math.min(Math.max(z[k], 0), cap);
        break;
      }
      case "leaky_relu": {
        const a = info.leaky_slope;
        for (let k = 0; k < n; k++) y[k] = z[k] > 0 ? z[k] : a * z[k];
        break;
      }
      case "sigmoid": for (let k = 0; k < n; k++) y[k] = 1 / (1 + Math.exp(-z[k])); break;
      case "tanh": for (let k = 0; k < n; k++) y[k] = Math.tanh(z[k]); break;
      case "softmax": softmaxInto(z, y, n / last, last, 1); break;
      default: throw new Error(`glassnet engine: unknown activation ${JSON.stringify(name)}`);
    }
    return y;
  }

  // dz from dy: the derivative at z (elementwise) or the softmax Jacobian y·(dy − Σ dy·y).
  function activateBack(name, dy, z, y, last, info) {
    const dz = new Float64Array(dy.length);
    const n = dy.length;
    switch (name) {
      case "linear": dz.set(dy); break;
      case "relu": for (let k = 0; k < n; k++) dz[k] = z[k] > 0 ? dy[k] : 0; break;
      case "relu6": case "relu_cap": {
        // NOTE: glassnet writes the cap as relu(z) − relu(z − cap): slope 1 on (0, cap].
        const cap = name === "relu6" ? 6 : info.cap;
        for (let k = 0; k < n; k++) dz[k] = z[k] > 0 && z[k] <= cap ? dy[k] : 0;
        break;
      }
      case "leaky_relu": {
        const a = info.leaky_slope;
        for (let k = 0; k < n; k++) dz[k] = z[k] > 0 ? dy[k] : a * dy[k];
        break;
      }
      case "sigmoid": for (let k = 0; k < n; k++) dz[k] = dy[k] * y[k] * (1 - y[k]); break;
      case "tanh": for (let k = 0; k < n; k++) dz[k] = dy[k] * (1 - y[k] * y[k]); break;
      case "softmax": softmaxBackInto(dy, y, dz, n / last, last, 1); break;
      default: throw new Error(`glassnet engine: unknown activation ${JSON.stringify(name)}`);
    }
    return dz;
  }

  // Softmax over groups of `len` values `stride` apart (outer groups, then inner offsets).
  // NOTE: e^(z − max) keeps every exponential <= 1, finite for any logits.
  function softmaxInto(z, y, outer, len, inner) {
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < inner; s++) {
        const base = o * len * inner + s;
        let m = -Infinity, sum = 0;
        for (let k = 0; k < len; k++) m = Math.max(m, z[base + k * inner]);
        for (let k = 0; k < len; k++) {
          const e = Math.exp(z[base + k * inner] - m);
          y[base + k * inner] = e;
          sum += e;
        }
        for (let k = 0; k < len; k++) y[base + k * inner] /= sum;
      }
    }
  }

  function softmaxBackInto(dy, y, dz, outer, len, inner) {
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < inner; s++) {
        const base = o * len * inner + s;
        let dot = 0;
        for (let k = 0; k < len; k++) dot += dy[base + k * inner] * y[base + k * inner];
        for (let k = 0; k < len; k++) {
          const at = base + k * inner;
          dz[at] = y[at] * (dy[at] - dot);
        }
      }
    }
  }

  // ----- convolution (cross-correlation), grouped and dilated -----------------------------------
  // z[i, j, g·FG + f] = b + Σ_{u,v,c} x[i·SH + u·DH − PT, j·SW + v·DW − PL, g·CG + c]
  //                          · K[u, v, c, g·FG + f]        (x = 0 in the padding)
  function convForward(x, inShape, K, bias, geo, outShape) {
    const [H, W, C] = inShape, [OH, OW, F] = outShape, [KH, KW, CG] = K.shape;
    const k = K.data, groups = geo.groups, FG = F / groups;
    const [sh, sw] = geo.strides, [dh, dw] = geo.dilation;
    const pt = geo.pads[0][0], pl = geo.pads[1][0];
    const z = new Float64Array(OH * OW * F);
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const o = (i * OW + j) * F;
        if (bias) for (let f = 0; f < F; f++) z[o + f] = bias[f];
        for (let u = 0; u < KH; u++) {
          const r = i * sh + u * dh - pt;
          if (r < 0 || r >= H) continue;
          for (let v = 0; v < KW; v++) {
            const q = j * sw + v * dw - pl;
            if (q < 0 || q >= W) continue;
            const xb = (r * W + q) * C, kb = (u * KW + v) * CG * F;
            for (let g = 0; g < groups; g++) {
              const og = o + g * FG;
              for (let c = 0; c < CG; c++) {
                const xv = x[xb + g * CG + c], kr = kb + c * F + g * FG;
                for (let f = 0; f < FG; f++) z[og + f] += xv * k[kr + f];
              }
            }
          }
        }
      }
    }
    return z;
  }

  // The same loops read backwards: dK += x·dz, dx += K·dz, db += dz.
  function convBackward(dz, x, inShape, K, hasBias, geo, outShape) {
    const [H, W, C] = inShape, [OH, OW, F] = outShape, [KH, KW, CG] = K.shape;
    const k = K.data, groups = geo.groups, FG = F / groups;
    const [sh, sw] = geo.strides, [dh, dw] = geo.dilation;
    const pt = geo.pads[0][0], pl = geo.pads[1][0];
    const dx = new Float64Array(x.length), dk = new Float64Array(k.length);
    const db = hasBias ? new Float64Array(F) : null;
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const o = (i * OW + j) * F;
        if (db) for (let f = 0; f < F; f++) db[f] += dz[o + f];
        for (let u = 0; u < KH; u++) {
          const r = i * sh + u * dh - pt;
          if (r < 0 || r >= H) continue;
          for (let v = 0; v < KW; v++) {
            const q = j * sw + v * dw - pl;
            if (q < 0 || q >= W) continue;
            const xb = (r * W + q) * C, kb = (u * KW + v) * CG * F;
            for (let g = 0; g < groups; g++) {
              const og = o + g * FG;
              for (let c = 0; c < CG; c++) {
                const xi = xb + g * CG + c, xv = x[xi], kr = kb + c * F + g * FG;
                let acc = 0;
                for (let f = 0; f < FG; f++) {
                  const d = dz[og + f];
                  dk[kr + f] += xv * d;
                  acc += k[kr + f] * d;
                }
                dx[xi] += acc;
              }
            }
          }
        }
      }
    }
    return { dx, dk, db };
  }

  // ----- dense ------------------------------------------------------------------------------------
  function denseForward(x, Wt, bias) {
    const [FIN, U] = Wt.shape, w = Wt.data;
    const z = bias ? Float64Array.from(bias) : new Float64Array(U);
    for (let i = 0; i < FIN; i++) {
      const xv = x[i], row = i * U;
      for (let k = 0; k < U; k++) z[k] += xv * w[row + k];
    }
    return z;
  }

  function denseBackward(dz, x, Wt, hasBias) {
    const [FIN, U] = Wt.shape, w = Wt.data;
    const dx = new Float64Array(FIN), dw = new Float64Array(w.length);
    for (let i = 0; i < FIN; i++) {
      const xv = x[i], row = i * U;
      let acc = 0;
      for (let k = 0; k < U; k++) {
        dw[row + k] = xv * dz[k];
        acc += w[row + k] * dz[k];
      }
      dx[i] = acc;
    }
    return { dx, dk: dw, db: hasBias ? Float64Array.from(dz) : null };
  }

  // ----- pooling ---------------------------------------------------------------------------------
  // Windows start at o·S − P_before; positions outside the input are padding (−∞ for max, never
  // counted for the average unless count_include_pad, then only inside [−P_before, I + P_after)).
  function poolForward(x, inShape, info, outShape) {
    const [H, W, C] = inShape, [OH, OW] = outShape;
    const [KH, KW] = info.pool_size, [sh, sw] = info.strides;
    const [[pt, pb], [pl, pr]] = info.pads;
    const isMax = info.op === "max", incl = info.count_include_pad;
    const out = new Float64Array(OH * OW * C);
    const arg = isMax ? new Int32Array(OH * OW * C).fill(-1) : null;
    const div = isMax ? null : new Float64Array(OH * OW);
    for (let i = 0; i < OH; i++) {
      const r0 = i * sh - pt;
      for (let j = 0; j < OW; j++) {
        const q0 = j * sw - pl, o = (i * OW + j) * C;
        if (!isMax) {
          const [lr, hr, lq, hq] = incl ? [-pt, H + pb, -pl, W + pr] : [0, H, 0, W];
          div[i * OW + j] = (Math.min(r0 + KH, hr) - Math.max(r0, lr)) *
            (Math.min(q0 + KW, hq) - Math.max(q0, lq));
        }
        for (let c = 0; c < C; c++) {
          let best = -Infinity, at = -1, sum = 0;
          // Row-major window order; a later value must be strictly greater to win (ties go
          // to the first maximum, as in glassnet's max_pool2d).
          for (let u = 0; u < KH; u++) {
            const r = r0 + u;
            if (r < 0 || r >= H) continue;
            for (let v = 0; v < KW; v++) {
              const q = q0 + v;
              if (q < 0 || q >= W) continue;
              const idx = (r * W + q) * C + c, val = x[idx];
              if (isMax) {
                if (at < 0 || val > best) { best = val; at = idx; }
              } else sum += val;
            }
          }
          if (isMax) { out[o + c] = best; arg[o + c] = at; } else out[o + c] = sum / div[i * OW + j];
        }
      }
    }
    return { out, cache: { arg, div } };
  }

  function poolBackward(dy, inShape, info, outShape, cache) {
    const [H, W, C] = inShape, [OH, OW] = outShape;
    const dx = new Float64Array(H * W * C);
    if (info.op === "max") {
      for (let k = 0; k < dy.length; k++) if (cache.arg[k] >= 0) dx[cache.arg[k]] += dy[k];
      return dx;
    }
    const [KH, KW] = info.pool_size, [sh, sw] = info.strides;
    const pt = info.pads[0][0], pl = info.pads[1][0];
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const o = (i * OW + j) * C, d = cache.div[i * OW + j];
        for (let u = 0; u < KH; u++) {
          const r = i * sh - pt + u;
          if (r < 0 || r >= H) continue;
          for (let v = 0; v < KW; v++) {
            const q = j * sw - pl + v;
            if (q < 0 || q >= W) continue;
            const b = (r * W + q) * C;
            for (let c = 0; c < C; c++) dx[b + c] += dy[o + c] / d;
          }
        }
      }
    }
    return dx;
  }

  // Global pools: one number per channel from all H·W positions (max: first maximum wins).
  function globalForward(x, inShape, isMax) {
    const [H, W, C] = inShape, n = H * W;
    const out = new Float64Array(C), arg = isMax ? new Int32Array(C) : null;
    for (let c = 0; c < C; c++) {
      let best = -Infinity, at = -1, sum = 0;
      for (let p = 0; p < n; p++) {
        const v = x[p * C + c];
        if (isMax) { if (at < 0 || v > best) { best = v; at = p * C + c; } } else sum += v;
      }
      if (isMax) { out[c] = best; arg[c] = at; } else out[c] = sum / n;
    }
    return { out, cache: { arg } };
  }

  function globalBackward(dy, inShape, isMax, cache) {
    const [H, W, C] = inShape, n = H * W, dx = new Float64Array(n * C);
    for (let c = 0; c < C; c++) {
      if (isMax) dx[cache.arg[c]] = dy[c];
      else for (let p = 0; p < n; p++) dx[p * C + c] = dy[c] / n;
    }
    return dx;
  }

  // ----- layout helpers ----------------------------------------------------------------------------
  // outer = product of the dims before `axis`, inner = product after it (row-major).
  const split = (shape, axis) => [size(shape.slice(0, axis)), shape[axis],
    size(shape.slice(axis + 1))];

  function concatForward(xs, shapes, axis, outShape) {
    const [outer, total, inner] = split(outShape, axis);
    const out = new Float64Array(outer * total * inner);
    let offset = 0;
    xs.forEach((x, n) => {
      const len = shapes[n][axis] * inner;
      for (let o = 0; o < outer; o++) out.set(x.subarray(o * len, (o + 1) * len),
        o * total * inner + offset);
      offset += len;
    });
    return out;
  }

  function concatBackward(dy, shapes, axis, outShape) {
    const [outer, total, inner] = split(outShape, axis);
    let offset = 0;
    return shapes.map((shape) => {
      const len = shape[axis] * inner, dx = new Float64Array(outer * len);
      for (let o = 0; o < outer; o++) {
        dx.set(dy.subarray(o * total * inner + offset, o * total * inner + offset + len), o * len);
      }
      offset += len;
      return dx;
    });
  }

  // ONNX/PyTorch flatten order (C, H, W) from an NHWC map: out[(c·H + r)·W + q] = x[(r·W + q)·C + c].
  function chwIndex([H, W, C]) {
    const idx = new Int32Array(H * W * C);
    for (let r = 0; r < H; r++) {
      for (let q = 0; q < W; q++) {
        for (let c = 0; c < C; c++) idx[(c * H + r) * W + q] = (r * W + q) * C + c;
      }
    }
    return idx;
  }

  function zeroPad(x, [H, W, C], pads, [OH, OW]) {
    const out = new Float64Array(OH * OW * C), t = pads[0][0], l = pads[1][0];
    for (let r = 0; r < H; r++) out.set(x.subarray(r * W * C, (r + 1) * W * C), ((r + t) * OW + l) * C);
    return out;
  }

  function zeroCrop(dy, [H, W, C], pads, [, OW]) {
    const dx = new Float64Array(H * W * C), t = pads[0][0], l = pads[1][0];
    for (let r = 0; r < H; r++) {
      const from = ((r + t) * OW + l) * C;
      dx.set(dy.subarray(from, from + W * C), r * W * C);
    }
    return dx;
  }

  // ----- the model --------------------------------------------------------------------------------
  let DATA = null, LAYERS = [], WEIGHTS = {};
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
        const dx = new Float64Array(dz.length), dg = new Float64Array(C), dbeta = new Float64Array(C);
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
    const vals = {}, runs = [];
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
    const grads = new Array(n), wgrad = {}, pending = {};
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

  // ----- page data ----------------------------------------------------------------------------------
  let BY_KEY = {};

  // Decode the exact arrays, hand the view the weights where it reads them (info.kernel /
  // info.bias), and compute every map the size budget left out, so each cell can be opened.
  function prepare(data) {
    DATA = data;
    LAYERS = data.layers;
    BY_KEY = Object.fromEntries(LAYERS.map((l) => [l.key, l]));
    WEIGHTS = {};
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
    if (pix) data.input.pixels = decoded(pix);
    for (const s of data.inputs || []) s.pixels = decoded(s.pixels);
    if (pix && LAYERS.some((l) => !l.full)) {
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
      } catch (err) {
        G.error = String(err && err.message);  // the thumbnails stay; the view can say why
      }
    }
    return data;
  }

  const block = document.getElementById("page-data");
  if (block) G.data = prepare(JSON.parse(block.textContent));
  Object.assign(G, { forward, backward, prepare, decode });
})();
