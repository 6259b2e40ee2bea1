/**
 * Float64 forward pass, batched backward pass, per-example Jacobian, JVP and VJP of the
 * models of the fixture README ("Layer semantics"), in the parameter layout of
 * `model/layout.ts` (README section 1).
 *
 * Every parametrized layer is handled in one form: the augmented input patches
 * `Ã` (n*T x m, row `i*T + t`, `m = fanIn + 1`, entries `[wMul * a_patch ; bMul]`) and
 * `s[i, o, t] = sum_a W~[o, a] Ã[i*T + t, a]`. A dense layer is the case T = 1. The same
 * two signal sets (`Ã` forward, `S = df/ds` backward) then feed the Jacobian, the NTK,
 * KFAC and EKFAC, exactly as the GPU engine organizes them (see DESIGN.md).
 *
 * Pre-activations are stored as `s[i*(out*T) + o*T + t]`, i.e. (channel, y, x) C-order,
 * the same order as `flatten` and as `relu_sign_similarity` (README section 11).
 */
import type { ModelPlan, ParamLayerPlan, ConvPlan } from '../model/layout';
import type { Activation } from '../experiment/types';

/** What a forward pass keeps for backprop, Jacobians, KFAC and the JVP. */
export interface Forward {
  plan: ModelPlan;
  theta: Float64Array;
  /** Number of examples. */
  n: number;
  /** Per parametrized layer: augmented input patches `Ã` (n*T x m), row `i*T + t`. */
  patches: Float64Array[];
  /** Per parametrized layer: pre-activations `s` (n x out*T), index `i*out*T + o*T + t`. */
  pre: Float64Array[];
  /** Per parametrized layer: `act'(s)`, same layout as `pre` (shared by backward and JVP). */
  deriv: Float64Array[];
  /** Network outputs `f` (n x c), after the last activation. */
  output: Float64Array;
}

/** Activation value. PyTorch semantics: relu(z) = max(0, z), sigmoid = 1/(1+e^-z). */
export function activate(act: Activation, z: number): number {
  switch (act) {
    case 'linear':
      return z;
    case 'tanh':
      return Math.tanh(z);
    case 'relu':
      return z > 0 ? z : 0;
    case 'sigmoid':
      return 1 / (1 + Math.exp(-z));
  }
}

/** Activation derivative at the pre-activation z (relu'(0) = 0, as autograd). */
export function activateDeriv(act: Activation, z: number): number {
  switch (act) {
    case 'linear':
      return 1;
    case 'tanh': {
      const t = Math.tanh(z);
      return 1 - t * t;
    }
    case 'relu':
      return z > 0 ? 1 : 0;
    case 'sigmoid': {
      const s = 1 / (1 + Math.exp(-z));
      return s * (1 - s);
    }
  }
}

/**
 * `act(s)` and `act'(s)` of a whole layer, one loop per activation (the CPU engine's hot loop:
 * no per-element dispatch on the activation). Same values as `activate` / `activateDeriv`.
 */
function activateAll(act: Activation, s: Float64Array, out: Float64Array, d: Float64Array): void {
  const len = s.length;
  switch (act) {
    case 'linear':
      out.set(s);
      d.fill(1);
      return;
    case 'relu':
      for (let i = 0; i < len; i++) {
        const z = s[i];
        out[i] = z > 0 ? z : 0;
        d[i] = z > 0 ? 1 : 0;
      }
      return;
    case 'tanh':
      for (let i = 0; i < len; i++) {
        const t = Math.tanh(s[i]);
        out[i] = t;
        d[i] = 1 - t * t;
      }
      return;
    case 'sigmoid':
      for (let i = 0; i < len; i++) {
        const g = 1 / (1 + Math.exp(-s[i]));
        out[i] = g;
        d[i] = g * (1 - g);
      }
      return;
  }
}

/** Augmented width `m = fanIn + 1` of a parametrized layer. */
export const augWidth = (l: ParamLayerPlan): number => l.fanIn + 1;

/**
 * Augmented input patches of a layer for a batch of `n` inputs `a` (n x inputSize).
 * Dense: row i is `[wMul * a_i ; bMul]`. Conv: row `i*T + t` is the zero-padded receptive
 * field at output position t = y*wOut + x, ordered (cin, kh, kw) like `unfold`, then bMul.
 */
export function layerPatches(l: ParamLayerPlan, a: Float64Array, n: number): Float64Array {
  const m = augWidth(l);
  const T = l.positions;
  const P = new Float64Array(n * T * m);
  if (l.kind === 'dense') {
    for (let i = 0; i < n; i++) {
      const dst = i * m;
      const src = i * l.fanIn;
      for (let j = 0; j < l.fanIn; j++) P[dst + j] = l.wMul * a[src + j];
      P[dst + l.fanIn] = l.bMul;
    }
    return P;
  }
  const { cin, h, w, kernel: k, stride, padding, hOut, wOut } = l;
  const inSize = cin * h * w;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < hOut; y++)
      for (let x = 0; x < wOut; x++) {
        const row = (i * T + y * wOut + x) * m;
        for (let ch = 0; ch < cin; ch++)
          for (let ki = 0; ki < k; ki++) {
            const yy = y * stride + ki - padding;
            if (yy < 0 || yy >= h) continue; // zero padding: the entries stay 0
            for (let kj = 0; kj < k; kj++) {
              const xx = x * stride + kj - padding;
              if (xx < 0 || xx >= w) continue;
              P[row + (ch * k + ki) * k + kj] = l.wMul * a[i * inSize + (ch * h + yy) * w + xx];
            }
          }
        P[row + l.fanIn] = l.bMul;
      }
  }
  return P;
}

/**
 * Adjoint of `layerPatches` restricted to the weight columns (col2im): given cotangents of
 * the patches `gP` (rows*T x m), return the cotangent of the layer input (rows x inputSize).
 */
function patchesAdjoint(l: ParamLayerPlan, gP: Float64Array, rows: number): Float64Array {
  const m = augWidth(l);
  const inSize = l.kind === 'dense' ? l.fanIn : l.cin * l.h * l.w;
  const g = new Float64Array(rows * inSize);
  if (l.kind === 'dense') {
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < l.fanIn; j++) g[r * inSize + j] = l.wMul * gP[r * m + j];
    return g;
  }
  const { cin, h, w, kernel: k, stride, padding, hOut, wOut } = l as ConvPlan;
  const T = l.positions;
  for (let r = 0; r < rows; r++)
    for (let y = 0; y < hOut; y++)
      for (let x = 0; x < wOut; x++) {
        const row = (r * T + y * wOut + x) * m;
        for (let ch = 0; ch < cin; ch++)
          for (let ki = 0; ki < k; ki++) {
            const yy = y * stride + ki - padding;
            if (yy < 0 || yy >= h) continue;
            for (let kj = 0; kj < k; kj++) {
              const xx = x * stride + kj - padding;
              if (xx < 0 || xx >= w) continue;
              g[r * inSize + (ch * h + yy) * w + xx] += l.wMul * gP[row + (ch * k + ki) * k + kj];
            }
          }
      }
  return g;
}

/** `s[i, o, t] = sum_a Wt[o, a] P[i*T + t, a]` for the layer's `W~` slice of `theta`. */
function affine(l: ParamLayerPlan, theta: Float64Array, P: Float64Array, n: number): Float64Array {
  const m = augWidth(l);
  const T = l.positions;
  const out = l.out;
  const s = new Float64Array(n * out * T);
  if (T === 1) {
    // Dense: one dot product per (example, unit), both operands contiguous.
    for (let i = 0; i < n; i++) {
      const p = i * m;
      for (let o = 0; o < out; o++) {
        const wo = l.offset + o * m;
        let acc = 0;
        for (let a = 0; a < m; a++) acc += theta[wo + a] * P[p + a];
        s[i * out + o] = acc;
      }
    }
    return s;
  }
  for (let i = 0; i < n; i++)
    for (let t = 0; t < T; t++) {
      const p = (i * T + t) * m;
      for (let o = 0; o < out; o++) {
        const wo = l.offset + o * m;
        let acc = 0;
        for (let a = 0; a < m; a++) acc += theta[wo + a] * P[p + a];
        s[(i * out + o) * T + t] = acc;
      }
    }
  return s;
}

/** Average pooling forward (non-overlapping q x q windows, floor output size). */
function poolForward(inShape: number[], outShape: number[], q: number, a: Float64Array, rows: number): Float64Array {
  const [ch, h, w] = inShape;
  const [, ho, wo] = outShape;
  const inSize = ch * h * w;
  const outSize = ch * ho * wo;
  const out = new Float64Array(rows * outSize);
  const inv = 1 / (q * q);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < ch; c++)
      for (let y = 0; y < ho; y++)
        for (let x = 0; x < wo; x++) {
          let s = 0;
          for (let i = 0; i < q; i++)
            for (let j = 0; j < q; j++) s += a[r * inSize + (c * h + y * q + i) * w + x * q + j];
          out[r * outSize + (c * ho + y) * wo + x] = s * inv;
        }
  return out;
}

/** Adjoint of average pooling: each window entry gets `g / q^2`; rows/cols cut by the floor get 0. */
function poolBackward(inShape: number[], outShape: number[], q: number, g: Float64Array, rows: number): Float64Array {
  const [ch, h, w] = inShape;
  const [, ho, wo] = outShape;
  const inSize = ch * h * w;
  const outSize = ch * ho * wo;
  const gin = new Float64Array(rows * inSize);
  const inv = 1 / (q * q);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < ch; c++)
      for (let y = 0; y < ho; y++)
        for (let x = 0; x < wo; x++) {
          const v = g[r * outSize + (c * ho + y) * wo + x] * inv;
          for (let i = 0; i < q; i++)
            for (let j = 0; j < q; j++) gin[r * inSize + (c * h + y * q + i) * w + x * q + j] = v;
        }
  return gin;
}

/** Forward pass of `n` inputs `x` (n x inputSize) at `theta`, keeping patches and pre-activations. */
export function forward(plan: ModelPlan, theta: Float64Array, x: Float64Array, n: number): Forward {
  if (theta.length !== plan.P) throw new Error(`forward: theta has ${theta.length} entries, the model has P = ${plan.P}`);
  if (x.length !== n * plan.inputSize) throw new Error(`forward: x has ${x.length} entries, expected ${n} x ${plan.inputSize}`);
  const patches: Float64Array[] = [];
  const pre: Float64Array[] = [];
  const deriv: Float64Array[] = [];
  let a = x;
  for (const layer of plan.layers) {
    switch (layer.kind) {
      case 'dense':
      case 'conv2d': {
        const P = layerPatches(layer, a, n);
        const s = affine(layer, theta, P, n);
        const next = new Float64Array(s.length);
        const d = new Float64Array(s.length);
        activateAll(layer.activation, s, next, d);
        patches.push(P);
        pre.push(s);
        deriv.push(d);
        a = next;
        break;
      }
      case 'avgpool2d':
        a = poolForward(layer.inShape, layer.outShape, layer.size, a, n);
        break;
      case 'flatten':
        break; // C-order (C, H, W) is already the storage order
    }
  }
  return { plan, theta, n, patches, pre, deriv, output: a };
}

/**
 * Batched backward pass: `rows` output cotangents `cot` (rows x c), where row r belongs to
 * example `floor(r / rowsPerExample)`. Returns, per parametrized layer, the cotangent of the
 * pre-activations `S` (rows x out*T, index `r*out*T + o*T + t`): for unit cotangents these
 * are `S_{i,t} = d f(x_i) / d s_{i,:,t}` of README section 5.
 *
 * This is the "one batched backward for all n*c outputs" of DESIGN.md.
 */
export function backwardSignals(fw: Forward, cot: Float64Array, rows: number, rowsPerExample: number): Float64Array[] {
  const { plan, theta } = fw;
  if (cot.length !== rows * plan.c) throw new Error(`backwardSignals: expected ${rows} x ${plan.c} cotangents`);
  const signals: Float64Array[] = new Array(plan.paramLayers.length);
  let g = cot;
  for (let li = plan.layers.length - 1; li >= 0; li--) {
    const layer = plan.layers[li];
    switch (layer.kind) {
      case 'dense':
      case 'conv2d': {
        const d = fw.deriv[layer.paramIndex];
        const width = layer.out * layer.positions;
        const S = new Float64Array(rows * width);
        for (let r = 0; r < rows; r++) {
          const ex = Math.floor(r / rowsPerExample);
          for (let u = 0; u < width; u++) S[r * width + u] = g[r * width + u] * d[ex * width + u];
        }
        signals[layer.paramIndex] = S;
        if (layer.paramIndex === 0) return signals; // nothing below needs a cotangent
        const m = augWidth(layer);
        if (layer.kind === 'dense') {
          // Dense: the input cotangent is wMul * S W directly (no patch cotangent to fold back).
          const gIn = new Float64Array(rows * layer.fanIn);
          for (let r = 0; r < rows; r++) {
            const dst = r * layer.fanIn;
            for (let o = 0; o < layer.out; o++) {
              const v = layer.wMul * S[r * layer.out + o];
              if (v === 0) continue;
              const wo = layer.offset + o * m;
              for (let a = 0; a < layer.fanIn; a++) gIn[dst + a] += v * theta[wo + a];
            }
          }
          g = gIn;
          break;
        }
        // Cotangent of the patches: gP[r*T + t, a] = sum_o W~[o, a] S[r, o, t].
        const T = layer.positions;
        const gP = new Float64Array(rows * T * m);
        for (let r = 0; r < rows; r++)
          for (let o = 0; o < layer.out; o++) {
            const wo = layer.offset + o * m;
            for (let t = 0; t < T; t++) {
              const v = S[(r * layer.out + o) * T + t];
              if (v === 0) continue;
              const p = (r * T + t) * m;
              for (let a = 0; a < layer.fanIn; a++) gP[p + a] += v * theta[wo + a];
            }
          }
        g = patchesAdjoint(layer, gP, rows);
        break;
      }
      case 'avgpool2d':
        g = poolBackward(layer.inShape, layer.outShape, layer.size, g, rows);
        break;
      case 'flatten':
        break;
    }
  }
  return signals;
}

/**
 * One layer's block of per-row parameter gradients (rows x size): row r is
 * `dW~[o, a] = sum_t S[r, o, t] Ã[ex(r)*T + t, a]`, the gradient of `<cot_r, f(x_ex(r))>`
 * with respect to the layer's `W~`. With unit cotangents these are Jacobian columns.
 */
export function layerGradients(fw: Forward, l: ParamLayerPlan, S: Float64Array, rows: number, rowsPerExample: number): Float64Array {
  const A = fw.patches[l.paramIndex];
  const m = augWidth(l);
  const T = l.positions;
  const out = new Float64Array(rows * l.size);
  for (let r = 0; r < rows; r++) {
    const ex = Math.floor(r / rowsPerExample);
    for (let o = 0; o < l.out; o++) {
      const dst = r * l.size + o * m;
      for (let t = 0; t < T; t++) {
        const v = S[(r * l.out + o) * T + t];
        if (v === 0) continue;
        const src = (ex * T + t) * m;
        for (let a = 0; a < m; a++) out[dst + a] += v * A[src + a];
      }
    }
  }
  return out;
}

/**
 * Parameter gradients from backward signals for all layers (rows x P), in the theta
 * layout. With unit cotangents these rows are the Jacobian rows.
 */
export function gradientsFromSignals(fw: Forward, signals: Float64Array[], rows: number, rowsPerExample: number): Float64Array {
  const P = fw.plan.P;
  const out = new Float64Array(rows * P);
  for (const l of fw.plan.paramLayers) {
    const block = layerGradients(fw, l, signals[l.paramIndex], rows, rowsPerExample);
    for (let r = 0; r < rows; r++) out.set(block.subarray(r * l.size, (r + 1) * l.size), r * P + l.offset);
  }
  return out;
}

/** Per-example Jacobian signals: the backward signals of all n*c unit output cotangents. */
export function jacobianSignals(fw: Forward): Float64Array[] {
  const { n } = fw;
  const c = fw.plan.c;
  return backwardSignals(fw, unitCotangents(n, c), n * c, c);
}

/** Unit output cotangents for all n*c outputs: row `i*c + k` is e_k (n*c x c). */
export function unitCotangents(n: number, c: number): Float64Array {
  const cot = new Float64Array(n * c * c);
  for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) cot[(i * c + k) * c + k] = 1;
  return cot;
}

/** Per-example Jacobian `J` (n*c x P), row `i*c + k` = `d f_k(x_i) / d theta` (README section 2). */
export function jacobian(fw: Forward): Float64Array {
  const c = fw.plan.c;
  return gradientsFromSignals(fw, jacobianSignals(fw), fw.n * c, c);
}

/**
 * Vector-Jacobian product `J^T u = d/dtheta sum_i <u_i, f(x_i)>` (length P) for output
 * cotangents `u` (n x c), by one backward pass (no Jacobian is formed).
 */
export function vjp(fw: Forward, u: Float64Array): Float64Array {
  const { plan, n } = fw;
  const signals = backwardSignals(fw, u, n, 1);
  const grad = new Float64Array(plan.P);
  for (const l of plan.paramLayers) {
    const S = signals[l.paramIndex];
    const A = fw.patches[l.paramIndex];
    const m = augWidth(l);
    const T = l.positions;
    for (let i = 0; i < n; i++)
      for (let o = 0; o < l.out; o++) {
        const dst = l.offset + o * m;
        for (let t = 0; t < T; t++) {
          const v = S[(i * l.out + o) * T + t];
          if (v === 0) continue;
          const src = (i * T + t) * m;
          for (let a = 0; a < m; a++) grad[dst + a] += v * A[src + a];
        }
      }
  }
  return grad;
}

/**
 * Jacobian-vector product `J v` (n x c) at the forward pass's parameters, by forward-mode
 * tangent propagation through the frozen network: for each parametrized layer
 * `ds = W~ dÃ + V~ Ã` (V~ the layer's slice of v, dÃ the patches of the input tangent with
 * a 0 bias column), then `d act = act'(s) ds`. This is the linearized model's
 * `f_lin - f0 = J0 (theta - theta0)` without forming J0.
 */
export function jvp(fw: Forward, v: Float64Array): Float64Array {
  const { plan, theta, n } = fw;
  if (v.length !== plan.P) throw new Error(`jvp: v has ${v.length} entries, P = ${plan.P}`);
  let da: Float64Array | null = null; // the input has no tangent
  for (const layer of plan.layers) {
    switch (layer.kind) {
      case 'dense':
      case 'conv2d': {
        const P = fw.patches[layer.paramIndex];
        const ds = affine(layer, v, P, n);
        if (da && layer.kind === 'dense') {
          // W~ dÃ with dÃ = [wMul da ; 0]: the weight columns only, no patch matrix.
          const m = augWidth(layer);
          for (let i = 0; i < n; i++) {
            const src = i * layer.fanIn;
            for (let o = 0; o < layer.out; o++) {
              const wo = layer.offset + o * m;
              let acc = 0;
              for (let a = 0; a < layer.fanIn; a++) acc += theta[wo + a] * da[src + a];
              ds[i * layer.out + o] += layer.wMul * acc;
            }
          }
        } else if (da) {
          // Tangent patches: the layer's own patch map (linear in a) with a zero bias column.
          const dP = layerPatches(layer, da, n);
          const m = augWidth(layer);
          for (let r = 0; r < n * layer.positions; r++) dP[r * m + layer.fanIn] = 0;
          const term = affine(layer, theta, dP, n);
          for (let i = 0; i < ds.length; i++) ds[i] += term[i];
        }
        const d = fw.deriv[layer.paramIndex];
        for (let i = 0; i < ds.length; i++) ds[i] *= d[i];
        da = ds;
        break;
      }
      case 'avgpool2d':
        if (da) da = poolForward(layer.inShape, layer.outShape, layer.size, da, n);
        break;
      case 'flatten':
        break;
    }
  }
  return da ?? new Float64Array(n * plan.c);
}
