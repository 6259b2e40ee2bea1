// The cross-entropy output metric applied to vectors, for the matrix-free Fisher / GGN products
// (src/curvature/fisher-free.ts): with p_i = softmax(logits_i),
//
//   ce_metric_mv  out[i, k] = scale * p_ik (v[i, k] - sum_j p_ij v[i, j])      (n x c)
//
// i.e. scale * (diag p_i - p_i p_i^T) v_i. The softmax subtracts the row maximum, so it is finite
// for any finite logits. (mse's metric is the identity and needs no kernel.)
// Bindings: logits (read, n x c), v (read, n x c), out (read_write, n x c), uniforms {n, c, scale}.
// One invocation per example (c is small), 256 invocations per workgroup, (x, y) grid.

struct Params { n: u32, c: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

@compute @workgroup_size(256)
fn ce_metric_mv(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  if (i >= u.n) { return; }
  let c = u.c;
  let base = i * c;
  var mx = logits[base];
  for (var k = 1u; k < c; k++) { mx = max(mx, logits[base + k]); }
  var z = 0.0;
  for (var k = 0u; k < c; k++) { z += exp(logits[base + k] - mx); }
  var pv = 0.0;
  for (var k = 0u; k < c; k++) { pv += exp(logits[base + k] - mx) / z * v[base + k]; }
  for (var k = 0u; k < c; k++) {
    let pk = exp(logits[base + k] - mx) / z;
    out[base + k] = u.scale * pk * (v[base + k] - pv);
  }
}
