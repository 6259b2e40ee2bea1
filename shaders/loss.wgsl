// Losses, their output gradients, and the output-space seeds of batched backward passes.
//
// Bindings: f (n x c model outputs), t (targets: n x c floats for mse, n labels stored as f32 for
// cross_entropy), out1, out2, uniforms {n, c, scale}.
//   mse           out1[i] = 1/2 sum_k (f_ik - t_ik)^2,        out2[i, k] = scale * (f_ik - t_ik)
//   softmax_ce    out1[i] = -log softmax(f_i)[y_i],           out2[i, k] = scale * (p_ik - [k = y_i])
//                 (log-sum-exp with the max subtracted: finite for any finite logits)
//   identity_seeds  out2[(i c + k) c + j] = [j = k]: the n c unit output vectors whose backward
//                 pass gives every per-example Jacobian row in one batched pass
//   ce_metric_seeds out2[(i c + r) c + k] = L_i[k, r] with L_i = diag(sqrt p_i) - p_i sqrt(p_i)^T,
//                 an exact square root of M_i = diag(p_i) - p_i p_i^T (L L^T = M since sum p = 1):
//                 backpropagating these gives signals whose Gram is the Fisher/GGN (README s.4)
// mse / softmax_ce / ce_metric_seeds: one invocation per example (c is small); identity_seeds:
// one per element. 64 invocations per workgroup, (x, y) grid.

struct Params { n: u32, c: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> f: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> out1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 64u + lid.x;
}

@compute @workgroup_size(64)
fn mse(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  var l = 0.0;
  for (var k = 0u; k < p.c; k++) {
    let d = f[i * p.c + k] - t[i * p.c + k];
    l += d * d;
    out2[i * p.c + k] = p.scale * d;
  }
  out1[i] = 0.5 * l;
}

@compute @workgroup_size(64)
fn softmax_ce(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  let y = u32(t[i]);
  var mx = f[i * p.c];
  for (var k = 1u; k < p.c; k++) { mx = max(mx, f[i * p.c + k]); }
  var z = 0.0;
  for (var k = 0u; k < p.c; k++) { z += exp(f[i * p.c + k] - mx); }
  for (var k = 0u; k < p.c; k++) {
    let pk = exp(f[i * p.c + k] - mx) / z;
    out2[i * p.c + k] = p.scale * (pk - select(0.0, 1.0, k == y));
  }
  out1[i] = log(z) - (f[i * p.c + y] - mx);
}

@compute @workgroup_size(64)
fn identity_seeds(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.n * p.c * p.c) { return; }
  let j = e % p.c;
  let k = (e / p.c) % p.c;
  out2[e] = select(0.0, 1.0, j == k);
}

@compute @workgroup_size(64)
fn ce_metric_seeds(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= p.n) { return; }
  var mx = f[i * p.c];
  for (var k = 1u; k < p.c; k++) { mx = max(mx, f[i * p.c + k]); }
  var z = 0.0;
  for (var k = 0u; k < p.c; k++) { z += exp(f[i * p.c + k] - mx); }
  for (var r = 0u; r < p.c; r++) {
    let pr = exp(f[i * p.c + r] - mx) / z;
    let sr = sqrt(pr);
    for (var k = 0u; k < p.c; k++) {
      let pk = exp(f[i * p.c + k] - mx) / z;
      out2[((i * p.c + r) * p.c) + k] = select(0.0, sr, k == r) - pk * sr;
    }
  }
}
