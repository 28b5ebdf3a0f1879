/* glassnet explain: the array arithmetic of the in-page engine, one forward/backward pair per
   operation (as glassnet/ops/ in Python), on flat Float64Arrays in NHWC order without the batch
   axis: X[i, j, c] = x[(i·W + j)·C + c]. Plain JavaScript, no libraries. engine.js runs a whole
   model with these; they are public as window.glassnet.ops so the page can show any step.
   Checked against glassnet's own forward and float64 backward in tests/test_explain_engine.py.
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
    const wide = packed.dtype === "float64";
    // A typed-array view reads the bytes in the machine's order: right on a little-endian one
    // (every current browser platform) and 4× faster than DataView; DataView otherwise.
    if (LITTLE_ENDIAN) {
      return wide ? new Float64Array(bytes.buffer)
        : Float64Array.from(new Float32Array(bytes.buffer));
    }
    const view = new DataView(bytes.buffer);
    const n = bytes.length / (wide ? 8 : 4);
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      out[k] = wide ? view.getFloat64(8 * k, true) : view.getFloat32(4 * k, true);
    }
    return out;
  }
  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
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
  //
  // Each output position gathers its window once (KH·KW·CG values of its group, 0 in the
  // padding) and takes one dot product per filter with the filter's own row of the kernel,
  // transposed once to [F, KH·KW·CG]: the running sum stays in a register.
  function convForward(x, inShape, K, bias, geo, outShape) {
    const [H, W, C] = inShape, [OH, OW, F] = outShape, [KH, KW, CG] = K.shape;
    const groups = geo.groups, FG = F / groups, n = KH * KW * CG, kt = filterRows(K);
    const [sh, sw] = geo.strides, [dh, dw] = geo.dilation;
    const pt = geo.pads[0][0], pl = geo.pads[1][0];
    const z = new Float64Array(OH * OW * F), win = new Float64Array(n);
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        const o = (i * OW + j) * F;
        for (let g = 0; g < groups; g++) {
          let m = 0;
          for (let u = 0; u < KH; u++) {
            const r = i * sh + u * dh - pt, rowIn = r >= 0 && r < H;
            for (let v = 0; v < KW; v++) {
              const q = j * sw + v * dw - pl;
              if (rowIn && q >= 0 && q < W) {
                const xb = (r * W + q) * C + g * CG;
                for (let c = 0; c < CG; c++) win[m++] = x[xb + c];
              } else {
                for (let c = 0; c < CG; c++) win[m++] = 0;
              }
            }
          }
          // Four filters at a time share each window value read (4 sums in registers).
          const end = (g + 1) * FG;
          let f = g * FG;
          for (; f + 4 <= end; f += 4) {
            const k0 = f * n, k1 = k0 + n, k2 = k1 + n, k3 = k2 + n;
            let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (let t = 0; t < n; t++) {
              const w = win[t];
              a0 += w * kt[k0 + t];
              a1 += w * kt[k1 + t];
              a2 += w * kt[k2 + t];
              a3 += w * kt[k3 + t];
            }
            z[o + f] = bias ? a0 + bias[f] : a0;
            z[o + f + 1] = bias ? a1 + bias[f + 1] : a1;
            z[o + f + 2] = bias ? a2 + bias[f + 2] : a2;
            z[o + f + 3] = bias ? a3 + bias[f + 3] : a3;
          }
          for (; f < end; f++) {
            const kb = f * n;
            let acc = 0;
            for (let t = 0; t < n; t++) acc += win[t] * kt[kb + t];
            z[o + f] = bias ? acc + bias[f] : acc;
          }
        }
      }
    }
    return z;
  }

  // K [KH, KW, CG, F] as rows [F, KH·KW·CG], made once per kernel array.
  const ROWS = new WeakMap();
  function filterRows(K) {
    let rows = ROWS.get(K.data);
    if (!rows) {
      const k = K.data, F = K.shape[3], n = k.length / F;
      rows = new Float64Array(k.length);
      for (let t = 0; t < n; t++) for (let f = 0; f < F; f++) rows[f * n + t] = k[t * F + f];
      ROWS.set(K.data, rows);
    }
    return rows;
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

  // ----- dense -----------------------------------------------------------------------------------
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
          if (isMax) {
            out[o + c] = best;
            arg[o + c] = at;
          } else out[o + c] = sum / div[i * OW + j];
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

  // ----- layout helpers --------------------------------------------------------------------------
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

  // ONNX/PyTorch flatten order (C, H, W) from an NHWC map:
  // out[(c·H + r)·W + q] = x[(r·W + q)·C + c].
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
    for (let r = 0; r < H; r++) {
      out.set(x.subarray(r * W * C, (r + 1) * W * C), ((r + t) * OW + l) * C);
    }
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

  G.ops = {
    decode, decoded, size, split, activate, activateBack, softmaxInto, softmaxBackInto,
    convForward, convBackward, denseForward, denseBackward, poolForward, poolBackward,
    globalForward, globalBackward, concatForward, concatBackward, chwIndex, zeroPad, zeroCrop,
  };
})();
