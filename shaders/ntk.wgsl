// Empirical-NTK assembly from per-layer Grams, and kernel post-processing.
//
// Rows of a kernel are (example i, output-or-seed k), index i*R + k, as in the fixture README.
// Bindings are the same for every entry (unused ones get a placeholder): in0, in1, in2, out, uniforms.
//   hadamard_acc     out[(i,k),(j,l)] = acc*out + in0[i, j] * in1[(i,k),(j,l)]
//                    dense layer: (A~ A~^T) o (S S^T) with A~ the augmented inputs (n x m) and S the
//                    backward signals (nR x out): the layer's NTK without forming its Jacobian
//   patch_gram_acc   out[(i,k),(j,l)] = acc*out + sum_{t,t'} in0[(i,t),(j,t')] in1[(i,k,t),(j,l,t')]
//                    conv layer: patch Gram (nT x nT) against signal Gram (nRT x nRT)
//   trace_outputs    out[i, j] = sum_k in0[(i,k),(j,k)]                    (ntk_trace, n x n)
//   center_row_means out[(i,k), l] = (1/n) sum_j in0[(i,k),(j,l)]          (nR x R)
//   center_grand     out[k, l] = (1/n) sum_i in0[(i,k), l]                 (R x R)
//   center_apply     out = K~ = (H (x) I_R) K (H (x) I_R) for symmetric K = in0, from its row means
//                    in1 and grand means in2: K - rm[(i,k),l] - rm[(j,l),k] + g[k,l]
// All entries are 1-D over output elements, 256 invocations per workgroup, (x, y) grid.

struct Params { n: u32, R: u32, T: u32, acc: u32 }

@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read> in1: array<f32>;
@group(0) @binding(2) var<storage, read> in2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn hadamard_acc(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  let N = p.n * p.R;
  if (e >= N * N) { return; }
  let row = e / N;
  let col = e % N;
  let v = in0[(row / p.R) * p.n + col / p.R] * in1[e];
  if (p.acc != 0u) { out[e] = out[e] + v; } else { out[e] = v; }
}

@compute @workgroup_size(256)
fn patch_gram_acc(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  let N = p.n * p.R;
  if (e >= N * N) { return; }
  let row = e / N;
  let col = e % N;
  let i = row / p.R;
  let j = col / p.R;
  let nT = p.n * p.T;
  let NT = N * p.T;
  var s = 0.0;
  for (var t = 0u; t < p.T; t++) {
    let pgRow = (i * p.T + t) * nT + j * p.T;
    let sgRow = (row * p.T + t) * NT + col * p.T;
    for (var u = 0u; u < p.T; u++) {
      s = fma(in0[pgRow + u], in1[sgRow + u], s);
    }
  }
  if (p.acc != 0u) { out[e] = out[e] + s; } else { out[e] = s; }
}

@compute @workgroup_size(256)
fn trace_outputs(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.n * p.n) { return; }
  let i = e / p.n;
  let j = e % p.n;
  let N = p.n * p.R;
  var s = 0.0;
  for (var k = 0u; k < p.R; k++) { s += in0[(i * p.R + k) * N + j * p.R + k]; }
  out[e] = s;
}

@compute @workgroup_size(256)
fn center_row_means(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  let N = p.n * p.R;
  if (e >= N * p.R) { return; }
  let row = e / p.R;
  let l = e % p.R;
  var s = 0.0;
  for (var j = 0u; j < p.n; j++) { s += in0[row * N + j * p.R + l]; }
  out[e] = s / f32(p.n);
}

@compute @workgroup_size(256)
fn center_grand(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= p.R * p.R) { return; }
  let k = e / p.R;
  let l = e % p.R;
  var s = 0.0;
  for (var i = 0u; i < p.n; i++) { s += in0[(i * p.R + k) * p.R + l]; }
  out[e] = s / f32(p.n);
}

@compute @workgroup_size(256)
fn center_apply(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  let N = p.n * p.R;
  if (e >= N * N) { return; }
  let row = e / N;
  let col = e % N;
  let k = row % p.R;
  let l = col % p.R;
  out[e] = in0[e] - in1[row * p.R + l] - in1[col * p.R + k] + in2[k * p.R + l];
}
