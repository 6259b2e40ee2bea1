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
// Activations (ACT: 0 linear, 1 tanh, 2 relu, 3 sigmoid) come from the activations.wgsl prelude.

override ACT: u32 = 0u;

struct Params { n: u32, len: u32, R: u32, a: f32, b: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn act_forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  out[i] = activation(ACT, x[i]);
}

@compute @workgroup_size(256)
fn act_grad_mul(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  let example = i / (p.R * p.len);
  out[i] = out[i] * activation_grad(ACT, x[example * p.len + i % p.len]);
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
  if (col == p.len) { out[i] = p.b; } else { out[i] = p.a * activation(ACT, x[(i / m) * p.len + col]); }
}
