// Fully fused MLP training pass (tiny-cuda-nn's "fully fused MLP", Mueller et al. 2021, adapted
// to WGSL and to CPU-backed adapters): one workgroup carries a tile of B examples through every
// dense layer with the working activations in workgroup memory, for the actual model (forward at
// theta) or its linearization at theta0 (a JVP through the frozen network), computes the loss and
// its output gradient, and runs the backward pass through all layers. What the weight gradient
// needs (each layer's augmented input A~ and signal S = dPhi/ds) goes to `scratch`; the gradient
// itself and the optimizer update are shaders/fused_mlp_update.wgsl (a reduction over the whole
// batch, so it cannot live in one example tile).
//
//   actual      a_0 = x;  s_l = [wMul_l a_l | bMul_l] W~_l^T;  a_{l+1} = act_l(s_l);  f = a_L
//   linearized  t_0 = 0;  t_{l+1} = act_l'(s0_l) o (wMul_l t_l W0_l^T + A~0_l V~_l^T);  jv = t_L
//               (V~ = delta_lin = theta_lin - theta0 in the [W | b] layout, W0 = theta0's weights,
//                A~0 and act'(s0) the forward state at theta0, precomputed in `statics`)
//   outputs     h = f (alpha == 1 exactly) or alpha (f - f0);  h_lin = f0 + jv or alpha jv
//   seeds       g = scale dl/dh with scale = 1/(rows alpha): dPhi/df of Phi = L(h)/alpha^2
//   backward    S_{L-1} = act'(s_{L-1}) o g;  S_{l-1} = act'(s_{l-1}) o (wMul_l S_l W_l[:, :fanIn])
//               with W = theta for the actual model and theta0 for the linearized one
// Modes: TRAIN (all of the above; the actual model writes A~_l, act'(s_l) and S_l per layer to
// scratch, the linearized one only S_l: its A~0 and act'(s0) are the statics) and EVAL (forward,
// then h and the per-example losses l(h_i, y_i) into scratch's evaluation region; no backward).
//
// Bindings: idx (u32: batch row r is example idx[batchOff + r]; EVAL uses r), weights
// ([theta_actual | theta0 | delta_lin], 3 P: one binding, so one product routine serves both
// models), work (read-write: the scratch at 0, the splits' statics further on), uniforms.
// Scratch (R = row capacity): actual model, per layer, A~_l (R x m_l), D_l = act'(s_l) (R x out_l),
// S_l (R x out_l); then the linearized model's S_l (R x out_l) per layer; then at `evalOff`, per
// model (actual, linearized), h (N x c) and the losses (N).
// Statics of a split (at stOff; constant during training): x (N x in) | targets (N x c floats for
// mse, N labels for cross_entropy) | f0 (N x c) | A~0_l (N x m_l), every layer | act'(s0_l)
// (N x out_l), every layer. Statics and scratch share one binding so that the update kernel reads
// A~ (actual, from scratch) and A~0 (linearized, from the statics) through one loop.
//
// Workgroup: WG invocations as LR x LC lanes (LC = WG / LR); dispatch (ceil(rows / B), models):
// workgroup (x, y) takes batch rows x B .. x B + B - 1 of model y (0 actual, 1 linearized).
// The work is a sequence of phases: the forward layers, the loss, the backward layers (TRAIN).
// Every product C (rows x N) = A (rows x K) W (W strided in `weights`: forward W~^T, backward W)
// goes through one routine at one call site, in lane blocks of TE rows x TO columns: lane
// (lr, lc) owns rows rb + lr TE + i and columns cb + lc + LC j (interleaved, so the lanes of a row
// group share every load of A and read LC neighbouring weights); outputs narrower than LC take
// one column per lane. The block is then finished in registers (bias, activation, derivatives,
// scratch writes) row by row.
// Why this shape (README "Training throughput"): on CPU adapters (llvmpipe, SwiftShader) a
// workgroup is a loop over SIMD vectors and every load whose address is not a constant is a
// per-lane scalar load costing several FMAs, so FMAs per loaded element decide the speed: WG = 8
// (one 256-bit vector = one subgroup), LR = 1, TE = 16, TO = 8 gives 128 FMAs per 10 loads when
// the 16 row values are shared by subgroup shuffles (lane_exchange_subgroup.wgsl), per 24
// without. Code size decides the JIT compile time (seconds per pipeline on a CPU driver): the k
// loops are unrolled at one call site each, and the finishing goes row by row through a loop of
// dynamic trip count (as in matmul_blocked.wgsl). GPUs get WG = 64, LR = 4, TE = TO = 4 (not
// measured: no hardware GPU was available). Rows beyond the tile and columns beyond N are clamped
// duplicates (computed, never stored).
// Every variable is initialized explicitly: a function-scope declaration inside a loop is not
// re-zeroed per iteration by every driver (seen on lavapipe), so nothing may rely on it.
// Workgroup storage: 2 B WMAX floats (two activation tiles, row stride WMAX).
// Limits: at most 8 layers; every width (input, hidden, c) <= WMAX; TE <= 16, TO <= 8.

override WG: u32 = 8u;
override LR: u32 = 1u;
override B: u32 = 16u;
override WMAX: u32 = 64u;
override TE: u32 = 16u;
override TO: u32 = 8u;
// Loads of the shared operand (rows of A) per k step: load q of lane x reads block row
// q LSTRIDE + x LLANE; `spread` (lane_exchange*.wgsl, prepended) turns them into the TE row values.
// Per-lane: LOADS = TE, LSTRIDE = 1, LLANE = 0. Subgroup: LOADS = TE / SG, LSTRIDE = SG, LLANE = 1.
override LOADS: u32 = 16u;
override LSTRIDE: u32 = 1u;
override LLANE: u32 = 0u;

// Register-block capacity: TE <= TMAX rows, TO <= TCOLS columns (the arrays are sized by these;
// smaller arrays keep the compiled code and the JIT time down).
const TMAX: u32 = 16u;
const TCOLS: u32 = 8u;
const MODE_TRAIN: u32 = 0u;
const MODE_EVAL: u32 = 1u;
const LOSS_MSE: u32 = 0u;
// How a product's block is finished.
const FIN_ACTUAL: u32 = 0u;
const FIN_LINEAR: u32 = 1u;
const FIN_BACKWARD: u32 = 2u;

struct Params {
  rows: u32, batchOff: u32, R: u32, N: u32,
  // flags: bit 0 cross_entropy, bit 1 EVAL, bit 2 alpha == 1 exactly.
  nLayers: u32, c: u32, inSize: u32, flags: u32,
  evalOff: u32, P: u32, stOff: u32,
  alpha: f32, scale: f32,
  // Per layer: fanIn, out, offset of W~ in theta, activation (0 linear, 1 tanh, 2 relu, 3 sigmoid).
  layers: array<vec4u, 8>,
  // Per layer l: wMul at mults[l / 2][2 (l % 2)], bMul at mults[l / 2][2 (l % 2) + 1].
  mults: array<vec4f, 4>,
}

@group(0) @binding(0) var<storage, read> idx: array<u32>;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> work: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> tile: array<f32, 2u * B * WMAX>;

// --- layouts ---

fn layer(l: u32) -> vec4u { return p.layers[l]; }
fn w_mul(l: u32) -> f32 { return p.mults[l / 2u][2u * (l % 2u)]; }
fn b_mul(l: u32) -> f32 { return p.mults[l / 2u][2u * (l % 2u) + 1u]; }
fn is_ce() -> bool { return (p.flags & 1u) != 0u; }
fn is_eval() -> bool { return (p.flags & 2u) != 0u; }
fn alpha_is_one() -> bool { return (p.flags & 4u) != 0u; }

// Statics offsets (elements) of the split of N examples at stOff.
fn st_targets() -> u32 { return p.stOff + p.N * p.inSize; }
fn st_f0() -> u32 {
  var tc = p.c;
  if (is_ce()) { tc = 1u; }
  return st_targets() + p.N * tc;
}
fn st_a0(l: u32) -> u32 {
  var o = st_f0() + p.N * p.c;
  for (var j = 0u; j < l; j++) { o += p.N * (layer(j).x + 1u); }
  return o;
}
fn st_d0(l: u32) -> u32 {
  var o = st_a0(p.nLayers);
  for (var j = 0u; j < l; j++) { o += p.N * layer(j).y; }
  return o;
}

// Scratch offsets (elements), row capacity R.
fn sc_a(l: u32) -> u32 {
  var o = 0u;
  for (var j = 0u; j < l; j++) { o += p.R * (layer(j).x + 1u + 2u * layer(j).y); }
  return o;
}
fn sc_d(l: u32) -> u32 { return sc_a(l) + p.R * (layer(l).x + 1u); }
fn sc_s(model: u32, l: u32) -> u32 {
  if (model == 0u) { return sc_d(l) + p.R * layer(l).y; }
  var o = sc_a(p.nLayers);
  for (var j = 0u; j < l; j++) { o += p.R * layer(j).y; }
  return o;
}

fn example(r: u32) -> u32 {
  if (is_eval()) { return r; }
  return idx[p.batchOff + r];
}

fn lane_row(lid: u32) -> u32 { return lid / (WG / LR); }
fn lane_col(lid: u32) -> u32 { return lid % (WG / LR); }

// --- the product ---

// What one phase multiplies: C[e, j] = sum_{k < K} tile[src + e WMAX + k] weights[wBase + j cs + k ks]
// (+ sum_{k < mV} work[a0 + ex(e) mV + k] weights[vBase + j mV + k] when withV: the JVP's
// parameter term A~0 V~^T, A~0 from the statics), for rows e < nr of the tile and j < N.
struct Product {
  fin: u32, model: u32, l: u32, src: u32, dst: u32,
  K: u32, N: u32, wBase: u32, cs: u32, ks: u32,
  withV: bool, a0: u32, vBase: u32, mV: u32,
}

fn product(q: Product, r0: u32, nr: u32, lid: u32) {
  let LC = WG / LR;
  for (var rb = 0u; rb < nr; rb += LR * TE) {
    for (var cb = 0u; cb < q.N; cb += LC * TO) {
      let e0 = rb + lane_row(lid) * TE;
      let c0 = cb + lane_col(lid);
      let lane = lane_col(lid) * LLANE;
      var ra: array<u32, TMAX>;
      for (var i = 0u; i < LOADS; i++) { ra[i] = q.src + min(e0 + i * LSTRIDE + lane, nr - 1u) * WMAX; }
      var rw: array<u32, TCOLS>;
      for (var j = 0u; j < TO; j++) { rw[j] = q.wBase + min(c0 + LC * j, q.N - 1u) * q.cs; }
      // Zeroed explicitly: the declaration's implicit zero is not re-executed per block by every
      // driver once the finishing loop has shifted the rows through a pointer (seen on lavapipe).
      var acc: array<array<f32, TCOLS>, TMAX>;
      for (var i = 0u; i < TE; i++) { for (var j = 0u; j < TO; j++) { acc[i][j] = 0.0; } }
      // Narrow outputs (N <= LC, e.g. the last layer's c outputs): one column per lane, so the
      // k step does TE multiply-adds instead of TE x TO of which at most N are real (the output
      // layer cost as much as a hidden one before).
      let narrow = q.N <= LC;
      for (var k = 0u; k < q.K; k++) {
        let kw = k * q.ks;
        var v: array<f32, TMAX>;
        for (var i = 0u; i < LOADS; i++) { v[i] = tile[ra[i] + k]; }
        var av: array<f32, TMAX>;
        spread(&v, &av);
        if (narrow) {
          let w0 = weights[rw[0] + kw];
          for (var i = 0u; i < TE; i++) { acc[i][0] = fma(av[i], w0, acc[i][0]); }
        } else {
          var wv: array<f32, TCOLS>;
          for (var j = 0u; j < TO; j++) { wv[j] = weights[rw[j] + kw]; }
          for (var i = 0u; i < TE; i++) {
            for (var j = 0u; j < TO; j++) { acc[i][j] = fma(av[i], wv[j], acc[i][j]); }
          }
        }
      }
      if (q.withV) {
        for (var i = 0u; i < LOADS; i++) { ra[i] = q.a0 + example(r0 + min(e0 + i * LSTRIDE + lane, nr - 1u)) * q.mV; }
        for (var j = 0u; j < TO; j++) { rw[j] = q.vBase + min(c0 + LC * j, q.N - 1u) * q.mV; }
        for (var k = 0u; k < q.mV; k++) {
          var v: array<f32, TMAX>;
          for (var i = 0u; i < LOADS; i++) { v[i] = work[ra[i] + k]; }
          var av: array<f32, TMAX>;
          spread(&v, &av);
          if (narrow) {
            let w0 = weights[rw[0] + k];
            for (var i = 0u; i < TE; i++) { acc[i][0] = fma(av[i], w0, acc[i][0]); }
          } else {
            var wv: array<f32, TCOLS>;
            for (var j = 0u; j < TO; j++) { wv[j] = weights[rw[j] + k]; }
            for (var i = 0u; i < TE; i++) {
              for (var j = 0u; j < TO; j++) { acc[i][j] = fma(av[i], wv[j], acc[i][j]); }
            }
          }
        }
      }
      switch (q.fin) {
        case FIN_ACTUAL: { finish_actual(&acc, q, r0, e0, nr, c0, LC); }
        case FIN_LINEAR: { finish_linear(&acc, q, r0, e0, nr, c0, LC); }
        default: { finish_backward(&acc, q, r0, e0, nr, c0, LC); }
      }
    }
  }
}

// --- finishing a lane's block: row by row through a loop of dynamic trip count, so the loop
// stays rolled and its per-lane stores (and the activation code) are emitted TO times, not
// TE x TO (unrolled, they dominated the code and the JIT compile took minutes); after each row
// the block shifts up by one row. Finishing in registers spares a store and a reload of every
// element (on a CPU adapter each costs a per-lane scalar access). ---

fn rows_here(e0: u32, nr: u32) -> u32 {
  if (e0 >= nr) { return 0u; }
  return min(TE, nr - e0);
}

// Actual model, layer l: s = acc + bMul W~[o, fanIn]; the tile gets wMul_{l+1} act(s) (or
// f = act(s) after the last layer); TRAIN saves act'(s) and the next augmented input
// [wMul_{l+1} act(s) | bMul_{l+1}] to scratch.
fn finish_actual(acc: ptr<function, array<array<f32, TCOLS>, TMAX>>, q: Product, r0: u32, e0: u32, nr: u32, c0: u32, LC: u32) {
  let L = layer(q.l);
  let N = q.N;
  let bm = b_mul(q.l);
  let last = q.l + 1u == p.nLayers;
  var nextMul = 1.0;
  var nextBm = 0.0;
  if (!last) { nextMul = w_mul(q.l + 1u); nextBm = b_mul(q.l + 1u); }
  let train = !is_eval();
  let dOff = sc_d(q.l);
  let aOff = sc_a(q.l + 1u);
  var wb: array<f32, TCOLS>;
  for (var j = 0u; j < TO; j++) { wb[j] = weights[q.wBase + min(c0 + LC * j, N - 1u) * q.cs + L.x]; }
  let rows = rows_here(e0, nr);
  for (var i = 0u; i < rows; i++) {
    let e = e0 + i;
    let r = r0 + e;
    for (var j = 0u; j < TO; j++) {
      let o = c0 + LC * j;
      if (o < N) {
        let s = fma(bm, wb[j], (*acc)[0][j]);
        let a = activation(L.w, s);
        tile[q.dst + e * WMAX + o] = nextMul * a;
        if (train) {
          work[dOff + r * N + o] = activation_grad(L.w, s);
          if (!last) { work[aOff + r * (N + 1u) + o] = nextMul * a; }
        }
      }
    }
    if (train && !last && c0 == 0u) { work[aOff + r * (N + 1u) + N] = nextBm; }
    for (var t = 0u; t + 1u < TE; t++) { (*acc)[t] = (*acc)[t + 1u]; }
  }
}

// Linearized model, layer l: t = act'(s0) o acc; the tile gets wMul_{l+1} t (the next layer's
// input tangent, pre-scaled as the actual model's activations are), or jv = t after the last.
fn finish_linear(acc: ptr<function, array<array<f32, TCOLS>, TMAX>>, q: Product, r0: u32, e0: u32, nr: u32, c0: u32, LC: u32) {
  let N = q.N;
  let last = q.l + 1u == p.nLayers;
  var nextMul = 1.0;
  if (!last) { nextMul = w_mul(q.l + 1u); }
  let d0 = st_d0(q.l);
  let rows = rows_here(e0, nr);
  for (var i = 0u; i < rows; i++) {
    let e = e0 + i;
    let dRow = d0 + example(r0 + e) * N;
    for (var j = 0u; j < TO; j++) {
      let o = c0 + LC * j;
      if (o < N) { tile[q.dst + e * WMAX + o] = nextMul * ((*acc)[0][j] * work[dRow + o]); }
    }
    for (var t = 0u; t + 1u < TE; t++) { (*acc)[t] = (*acc)[t + 1u]; }
  }
}

// Backward from layer l into layer l - 1: S = act'(s_{l-1}) o (wMul_l acc), to the tile and scratch.
fn finish_backward(acc: ptr<function, array<array<f32, TCOLS>, TMAX>>, q: Product, r0: u32, e0: u32, nr: u32, c0: u32, LC: u32) {
  let N = q.N;
  let wm = w_mul(q.l);
  let sOut = sc_s(q.model, q.l - 1u);
  let dBelow = sc_d(q.l - 1u);
  let d0 = st_d0(q.l - 1u);
  let rows = rows_here(e0, nr);
  for (var i = 0u; i < rows; i++) {
    let e = e0 + i;
    let r = r0 + e;
    var dRow = dBelow + r * N;
    if (q.model != 0u) { dRow = d0 + example(r) * N; }
    for (var j = 0u; j < TO; j++) {
      let o = c0 + LC * j;
      if (o < N) {
        let s = (wm * (*acc)[0][j]) * work[dRow + o];
        tile[q.dst + e * WMAX + o] = s;
        work[sOut + r * N + o] = s;
      }
    }
    for (var t = 0u; t + 1u < TE; t++) { (*acc)[t] = (*acc)[t + 1u]; }
  }
}

// Loss of one example from its outputs in tile[src + e WMAX]: h by the alpha rule, l(h, y); EVAL
// stores both, TRAIN the seeds S_{L-1} = act'(s_{L-1}) o scale dl/dh (tile and scratch).
fn loss_row(model: u32, src: u32, e: u32, r: u32) {
  let c = p.c;
  let ex = example(r);
  let base = src + e * WMAX;
  let f0 = st_f0() + ex * c;
  for (var k = 0u; k < c; k++) {
    let v = tile[base + k];
    var h = v;
    if (model == 0u) {
      if (!alpha_is_one()) { h = p.alpha * (v - work[f0 + k]); }
    } else {
      if (alpha_is_one()) { h = work[f0 + k] + v; } else { h = p.alpha * v; }
    }
    tile[base + k] = h;
  }
  var lv = 0.0;
  let t = st_targets();
  if (!is_ce()) {
    for (var k = 0u; k < c; k++) {
      let d = tile[base + k] - work[t + ex * c + k];
      lv += d * d;
    }
    lv = 0.5 * lv;
  } else {
    let y = u32(work[t + ex]);
    var mx = tile[base];
    for (var k = 1u; k < c; k++) { mx = max(mx, tile[base + k]); }
    var z = 0.0;
    for (var k = 0u; k < c; k++) { z += exp(tile[base + k] - mx); }
    lv = log(z) - (tile[base + y] - mx);
    if (!is_eval()) {
      for (var k = 0u; k < c; k++) {
        let pk = exp(tile[base + k] - mx) / z;
        tile[base + k] = pk - select(0.0, 1.0, k == y);
      }
    }
  }
  if (is_eval()) {
    let ev = p.evalOff + model * p.N * (c + 1u);
    for (var k = 0u; k < c; k++) { work[ev + r * c + k] = tile[base + k]; }
    work[ev + p.N * c + r] = lv;
    return;
  }
  let lastL = p.nLayers - 1u;
  let sOut = sc_s(model, lastL);
  var dRow = sc_d(lastL) + r * c;
  if (model != 0u) { dRow = st_d0(lastL) + ex * c; }
  for (var k = 0u; k < c; k++) {
    var g = tile[base + k];
    if (!is_ce()) { g = g - work[t + ex * c + k]; }
    let s = (p.scale * g) * work[dRow + k];
    tile[base + k] = s;
    work[sOut + r * c + k] = s;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  let model = wg.y;
  let r0 = wg.x * B;
  if (r0 >= p.rows) { return; }
  let nr = min(B, p.rows - r0);
  let train = !is_eval();
  let L = p.nLayers;

  if (model == 0u) {
    // The input tile wMul_0 x and, for the gradient, the first augmented input.
    let K = p.inSize;
    let m = K + 1u;
    let wm = w_mul(0u);
    let aOff = sc_a(0u);
    for (var e = 0u; e < nr; e++) {
      let xRow = p.stOff + example(r0 + e) * K;
      for (var k = lid; k < K; k += WG) {
        let v = wm * work[xRow + k];
        tile[e * WMAX + k] = v;
        if (train) { work[aOff + (r0 + e) * m + k] = v; }
      }
    }
    if (train) {
      for (var e = lid; e < nr; e += WG) { work[aOff + (r0 + e) * m + K] = b_mul(0u); }
    }
  }
  workgroupBarrier();
  storageBarrier();

  // Phases 0 .. L-1: forward layer ph; phase L: the loss; TRAIN phases L+1 .. 2L-1: backward
  // through layer 2L - ph. One product call site for all of them (each call site is one more
  // unrolled copy of the k loops, and the JIT time grows with the code).
  var src = 0u;
  var dst = B * WMAX;
  var phases = L + 1u;
  if (train) { phases = 2u * L; }
  for (var ph = 0u; ph < phases; ph++) {
    if (ph == L) {
      for (var e = lid; e < nr; e += WG) { loss_row(model, src, e, r0 + e); }
    } else {
      // Every field set explicitly: a declaration in a loop is not re-zeroed per iteration by
      // every driver (seen on lavapipe), so nothing may rely on its implicit zero.
      var q = Product(FIN_ACTUAL, model, 0u, src, dst, 0u, 0u, 0u, 1u, 1u, false, 0u, 0u, 0u);
      if (ph < L) {
        // Forward: the actual model multiplies its activations by theta, the linearized one its
        // tangent by theta0 (none at layer 0) and A~0 by delta.
        let Ly = layer(ph);
        q.l = ph;
        q.N = Ly.y;
        q.cs = Ly.x + 1u;
        q.ks = 1u;
        q.K = Ly.x;
        q.wBase = model * p.P + Ly.z;
        q.fin = FIN_ACTUAL;
        if (model == 1u) {
          q.fin = FIN_LINEAR;
          if (ph == 0u) { q.K = 0u; }
          q.withV = true;
          q.a0 = st_a0(ph);
          q.vBase = 2u * p.P + Ly.z;
          q.mV = Ly.x + 1u;
        }
      } else {
        // Backward through layer l: the untransposed weight block of W~ (theta or theta0).
        let l = 2u * L - ph;
        let Ly = layer(l);
        q.l = l;
        q.N = Ly.x;
        q.K = Ly.y;
        q.cs = 1u;
        q.ks = Ly.x + 1u;
        q.wBase = model * p.P + Ly.z;
        q.fin = FIN_BACKWARD;
      }
      product(q, r0, nr, lid);
      let t = src;
      src = dst;
      dst = t;
    }
    workgroupBarrier();
    storageBarrier();
  }
}
