// Weight gradient and optimizer update of one model, fused: the second half of a fused MLP
// training step (the first is shaders/fused_mlp_step.wgsl, which leaves every layer's augmented
// inputs A~_l and signals S_l = dPhi/ds_l of the batch in `scratch`).
//
//   g[o, a]  = sum_r S_l[r, o] A~_l[r, a]       (r over the batch rows, in order: deterministic)
//   g       += wd theta                         (L2 weight decay, when wd != 0)
//   v        = g + mu v;  u = v                 (PyTorch momentum, when mu != 0) else u = g
//   delta   -= lr u;  theta = theta0 + delta    (the displacement and the kept-current theta)
//   flag     = min(flag, step) if delta is non-finite   (first non-finite step; exponent bits)
//
// for every parameter of every layer, in the [W | b] layout of src/model/layout.ts. The seeds of the
// step kernel already carry 1/(rows alpha), so g is the gradient of L(h)/alpha^2. A~ comes from
// scratch (actual model) or, for the linearized model, from the statics at theta0 (gathered by
// the batch's example indices), both in `work`, so one loop serves both models (JIT time grows
// with every unrolled loop). No partial sums leave a workgroup, so no second pass is needed.
//
// Bindings: work (scratch and statics, layout of fused_mlp_step.wgsl), idx (u32 batch rows), weights
// ([theta_actual | theta0 | delta_lin], the step kernel's copy of the parameters: theta0 is read
// from it, and the model's own block, theta (actual) or delta (linearized), is rewritten), the
// model's delta, theta, velocity (touched only when mu != 0), flag (atomic u32), uniforms.
// Work: workgroup w covers rows o0 .. o0 + TO of one layer and TK * WG of its m = fanIn + 1
// columns (invocation x owns columns kb + x + WG * j); layers are laid out one after the other
// from `starts` (first workgroup of each layer). Invocations: WG. Workgroup storage: TO TK WG floats.
// Dispatch: (sum over layers of ceil(out / TO) * ceil(m / (TK WG)), 1, 1) split over x and y.
// Register blocks TO x TK (<= 16 x 8): loads per row r are TO signals (shared by the lanes) and
// TK inputs, for TO * TK multiply-adds (the reasoning of fused_mlp_step.wgsl's header).

override WG: u32 = 8u;
override TO: u32 = 16u;
override TK: u32 = 8u;
// Loads of the shared operand (the TO signals of row r) as in fused_mlp_step.wgsl: load q of
// invocation x reads signal o0 + q LSTRIDE + x LLANE; `spread` (lane_exchange*.wgsl) shares them.
override LOADS: u32 = 16u;
override LSTRIDE: u32 = 1u;
override LLANE: u32 = 0u;

// Register-block capacity: TO <= TMAX rows, TK <= TCOLS columns.
const TMAX: u32 = 16u;
const TCOLS: u32 = 8u;

// The block of gradients of each invocation, for the elementwise update.
var<workgroup> gtile: array<f32, TO * TK * WG>;

struct Params {
  rows: u32, batchOff: u32, R: u32, N: u32,
  // flags: bit 0 cross_entropy (the statics' target width).
  nLayers: u32, c: u32, inSize: u32, flags: u32,
  model: u32, step: u32, P: u32, stOff: u32,
  lr: f32, wd: f32, mu: f32,
  layers: array<vec4u, 8>,
  starts: array<vec4u, 2>,
}

@group(0) @binding(0) var<storage, read> work: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> delta: array<f32>;
@group(0) @binding(4) var<storage, read_write> theta: array<f32>;
@group(0) @binding(5) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(6) var<storage, read_write> flag: array<atomic<u32>>;
@group(0) @binding(7) var<uniform> p: Params;

fn layer(l: u32) -> vec4u { return p.layers[l]; }
fn start(l: u32) -> u32 { return p.starts[l / 4u][l % 4u]; }

// Offsets: exact copies of fused_mlp_step.wgsl's layout helpers (the kernel-descriptor test
// checks that copied helpers keep one text, so the two files cannot drift apart).
fn is_ce() -> bool { return (p.flags & 1u) != 0u; }
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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  let w = wg.y * nwg.x + wg.x;
  var l = 0u;
  while (l + 1u < p.nLayers && w >= start(l + 1u)) { l++; }
  let L = layer(l);
  let N = L.y;
  let m = L.x + 1u;
  let wOff = L.z;
  let nkb = (m + TK * WG - 1u) / (TK * WG);
  let local = w - start(l);
  let o0 = (local / nkb) * TO;
  let k0 = (local % nkb) * (TK * WG) + lid;
  if (o0 >= N) { return; }   // never: the dispatch covers each layer exactly

  var ro: array<u32, TMAX>;
  for (var q = 0u; q < LOADS; q++) { ro[q] = min(o0 + q * LSTRIDE + lid * LLANE, N - 1u); }
  var ck: array<u32, TCOLS>;
  for (var j = 0u; j < TK; j++) { ck[j] = min(k0 + WG * j, m - 1u); }
  let sOff = sc_s(p.model, l);
  // A~ rows: the actual model's from scratch (batch row r), the linearized model's A~0 from the
  // statics (example idx[r]): one loop, the row base chosen per row.
  let linear = p.model != 0u;
  var aOff = sc_a(l);
  if (linear) { aOff = st_a0(l); }
  var acc: array<array<f32, TCOLS>, TMAX>;
  for (var i = 0u; i < TO; i++) { for (var j = 0u; j < TK; j++) { acc[i][j] = 0.0; } }
  // Narrow layers (m <= WG: the first layer of a low-dimensional input): one column per
  // invocation, TO multiply-adds per row instead of TO x TK of which at most m are real.
  let narrow = m <= WG;
  for (var r = 0u; r < p.rows; r++) {
    var v: array<f32, TMAX>;
    for (var q = 0u; q < LOADS; q++) { v[q] = work[sOff + r * N + ro[q]]; }
    var sv: array<f32, TMAX>;
    spread(&v, &sv);
    var row = r;
    if (linear) { row = idx[p.batchOff + r]; }
    let ab = aOff + row * m;
    if (narrow) {
      let a0 = work[ab + ck[0]];
      for (var i = 0u; i < TO; i++) { acc[i][0] = fma(sv[i], a0, acc[i][0]); }
    } else {
      var av: array<f32, TCOLS>;
      for (var j = 0u; j < TK; j++) { av[j] = work[ab + ck[j]]; }
      for (var i = 0u; i < TO; i++) {
        for (var j = 0u; j < TK; j++) { acc[i][j] = fma(sv[i], av[j], acc[i][j]); }
      }
    }
  }

  // The block goes to workgroup memory row by row (a rolled loop: its per-lane stores are
  // emitted once), then one parameter per invocation gets the update: `apply` is inlined once,
  // which keeps the JIT compile short (unrolled over the block it dominated the code).
  let rowsHere = min(TO, N - o0);
  for (var i = 0u; i < rowsHere; i++) {
    for (var j = 0u; j < TK; j++) { gtile[(i * TK + j) * WG + lid] = acc[0][j]; }
    for (var r = 0u; r + 1u < TO; r++) { acc[r] = acc[r + 1u]; }
  }
  workgroupBarrier();
  let kb0 = k0 - lid;
  for (var q = lid; q < rowsHere * TK * WG; q += WG) {
    let i = q / (TK * WG);
    let j = (q / WG) % TK;
    let x = q % WG;
    let k = kb0 + x + WG * j;
    if (k < m) { apply(wOff + (o0 + i) * m + k, gtile[q]); }
  }
}

fn apply(q: u32, grad: f32) {
  var g = grad;
  if (p.wd != 0.0) { g = p.wd * theta[q] + g; }
  var u = g;
  if (p.mu != 0.0) {
    u = g + p.mu * velocity[q];
    velocity[q] = u;
  }
  let d = delta[q] - p.lr * u;
  delta[q] = d;
  let t = weights[p.P + q] + d;
  theta[q] = t;
  // The step kernel's copy: theta for the actual model, delta for the linearized one.
  if (p.model == 0u) { weights[q] = t; } else { weights[2u * p.P + q] = d; }
  if ((bitcast<u32>(d) & 0x7f800000u) == 0x7f800000u) {
    atomicMin(&flag[0], p.step);
  }
}
