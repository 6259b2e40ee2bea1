// Elementwise kernels: activations and their derivatives, fills, axpy-style updates.
//
// Entry points (all 1-D over `n` elements; dispatch a grid of ceil(n/256) workgroups, split
// over x and y when above the per-dimension limit; the flat index is rebuilt from both):
//   act_forward   out[i] = act(x[i])                               (ACT picks the activation)
//   act_grad_mul  g[i] *= act'(s[(i / (R*len)) * len + i % len])  backward signals: g holds R
//                 rows of `len` values per example, s holds one row per example
//   fill          out[i] = a
//   axpby         out[i] = a * x[i] + b * out[i]
//   mul           out[i] = x[i] * out[i]
//   act_augment   out[r, j] = a * act(x[r, j]) for j < len, b for j = len: a dense layer's
//                 activation written straight into the next dense layer's augmented input
//                 [wMul * act(s) | bMul] (rows x (len + 1)), one dispatch instead of two
// Activations: 0 linear, 1 tanh, 2 relu, 3 sigmoid. Derivatives are evaluated at the
// pre-activation s: tanh' = 1 - tanh(s)^2, sigmoid' = sig(s)(1 - sig(s)), relu' = [s > 0].
// tanh and sigmoid are written out rather than taken from the WGSL builtins, whose precision is
// not specified: tanh uses the Cephes single-precision polynomial below |s| = 0.625 (no
// cancellation near 0) and 1 - 2/(e^{2|s|} + 1) above; the derivatives use e = exp(-k|s|),
// which never overflows and avoids the cancellation of 1 - t^2 for saturated units.

override ACT: u32 = 0u;

struct Params { n: u32, len: u32, R: u32, a: f32, b: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn stable_tanh(s: f32) -> f32 {
  let z = abs(s);
  if (z < 0.625) {
    let q = s * s;
    return ((((-5.70498872745e-3 * q + 2.06390887954e-2) * q - 5.37397155531e-2) * q
      + 1.33314422036e-1) * q - 3.33332819422e-1) * q * s + s;
  }
  if (z > 10.0) { return sign(s); }
  return sign(s) * (1.0 - 2.0 / (exp(2.0 * z) + 1.0));
}

fn sigmoid(s: f32) -> f32 {
  let e = exp(-abs(s));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), s >= 0.0);
}

fn act(s: f32) -> f32 {
  switch (ACT) {
    case 1u: { return stable_tanh(s); }
    case 2u: { return max(s, 0.0); }
    case 3u: { return sigmoid(s); }
    default: { return s; }
  }
}

fn act_grad(s: f32) -> f32 {
  switch (ACT) {
    case 1u: { let e = exp(-2.0 * abs(s)); return 4.0 * e / ((1.0 + e) * (1.0 + e)); }
    case 2u: { return select(0.0, 1.0, s > 0.0); }
    case 3u: { let e = exp(-abs(s)); return e / ((1.0 + e) * (1.0 + e)); }
    default: { return 1.0; }
  }
}

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn act_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = act(x[i]);
}

@compute @workgroup_size(256)
fn act_grad_mul(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  let example = i / (p.R * p.len);
  out[i] = out[i] * act_grad(x[example * p.len + i % p.len]);
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = p.a;
}

@compute @workgroup_size(256)
fn axpby(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  // b = 0 overwrites: out may hold anything (a reused buffer), even NaN, which 0 * out would keep.
  if (p.b == 0.0) { out[i] = p.a * x[i]; } else { out[i] = p.a * x[i] + p.b * out[i]; }
}

@compute @workgroup_size(256)
fn mul(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = x[i] * out[i];
}

@compute @workgroup_size(256)
fn act_augment(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  let m = p.len + 1u;
  let col = i % m;
  if (col == p.len) { out[i] = p.b; } else { out[i] = p.a * act(x[(i / m) * p.len + col]); }
}
