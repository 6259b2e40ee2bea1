// Curvature helpers for KFAC / EKFAC and the Fisher representations (fixture README sections 4-6).
// The heavy lifting (Kronecker factors, projections onto eigenbases, block products) is done by
// matmul.wgsl; these are the elementwise and small-reduction steps between the products.
//
// Bindings (every entry): x (read), y (read), out (read_write), uniforms. Entries that need one
// input get a placeholder for y. Uniforms: n, R, W, p, q, o0 (u32) and scale, beta, d1 (f32).
//
//   rows_sumsq    out[i, j] = scale * sum_{r<R} x[(i R + r) W + j]^2           (n x W)
//                 squared signals summed over the R seed rows of each example: with x the signals
//                 projected on U_G this is the G side of the EKFAC diagonal of a dense layer.
//   rows_dot      out[i] = scale * sum_{r<R} sum_{j<W} x[(i R + r) W + j] y[(i R + r) W + j]  (n)
//   square        out[e] = x[e]^2                                               (n elements)
//   cols_sumsq    out[j] = beta * out[j] + scale * sum_{b<R} x[b W + j]^2        (W)
//                 sum over a batch of R matrices of their squared entries (conv EKFAC diagonal,
//                 chunk by chunk with beta = 1 after the first chunk)
//   kron          out[(o p2 + a), (o' p2 + a')] = x[o p + o'] * y[a q + a']      ((p q) x (p q))
//                 Kronecker product G (x) A in the layer's o*m + a index (p = out, q = m)
//   scale_cols    out[z, a, b] = x[a q + b] * y[z q + b]                         (p x q x q)
//                 p copies of the q x q matrix x, copy z with its columns scaled by row z of y
//   outer_cols    out[(o p + o'), k] = x[o p + k] * x[o' p + k]                  (p^2 x p)
//   diag          out[o0 + i] = x[i (p + 1)]                                     (p): a diagonal
//   set_block     out[(o0 + r) n + o0 + c] = x[r p + c]                          (p x p into n x n)
//   diag_embed    out[(o0 + i) (n + 1)] = x[i]                                   (p into n x n)
//   kfac_inv      out[o q + a] = 1 / ((max(x[o], 0) + dG) (max(y[a], 0) + dA))   (p x q)
//                 pi-damped KFAC inverse eigenvalues (Martens & Grosse 2015, s. 6.3): x = eig_G
//                 (p), y = eig_A (q), lambda = d1, pi = sqrt((tr A / q) / (tr G / p)),
//                 dG = sqrt(lambda) / pi, dA = pi sqrt(lambda) (pi = 1 when a trace is 0).
//                 Negative round-off eigenvalues are clamped to 0.
//   inv_damped    out[e] = 1 / (max(x[e], 0) + d1)                               (n): EKFAC 1/(s + lambda)
//   div_damped    out[e] = y[e] / (x[e] + d1)                                    (n): diagonal solves
//   ce_metric_mv  out[i, k] = scale * p_ik (y[i, k] - sum_j p_ij y[i, j]),  p_i = softmax(x[i])  (n x W)
//                 the cross-entropy output metric (diag p - p p^T) applied to y (matrix-free Fisher)
// All entries are 1-D over output elements (kfac_inv, kron, ...) or rows (rows_dot, ce_metric_mv),
// 256 invocations per workgroup, (x, y) grid. No workgroup memory.

struct Params {
  n: u32, R: u32, W: u32, p: u32,
  q: u32, o0: u32, _p1: u32, _p2: u32,
  scale: f32, beta: f32, d1: f32, _f0: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn rows_sumsq(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.n * u.W) { return; }
  let i = e / u.W;
  let j = e % u.W;
  var acc = 0.0;
  for (var r = 0u; r < u.R; r++) {
    let v = x[(i * u.R + r) * u.W + j];
    acc = fma(v, v, acc);
  }
  out[e] = u.scale * acc;
}

@compute @workgroup_size(256)
fn rows_dot(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= u.n) { return; }
  var acc = 0.0;
  let base = i * u.R * u.W;
  for (var k = 0u; k < u.R * u.W; k++) { acc = fma(x[base + k], y[base + k], acc); }
  out[i] = u.scale * acc;
}

@compute @workgroup_size(256)
fn square(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.n) { return; }
  let v = x[e];
  out[e] = v * v;
}

@compute @workgroup_size(256)
fn cols_sumsq(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = flat(wg, nwg, lid);
  if (j >= u.W) { return; }
  var acc = 0.0;
  for (var b = 0u; b < u.R; b++) {
    let v = x[b * u.W + j];
    acc = fma(v, v, acc);
  }
  var prev = 0.0;
  if (u.beta != 0.0) { prev = u.beta * out[j]; }
  out[j] = prev + u.scale * acc;
}

@compute @workgroup_size(256)
fn kron(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  let N = u.p * u.q;
  if (e >= N * N) { return; }
  let row = e / N;
  let col = e % N;
  let o = row / u.q;
  let a = row % u.q;
  let o2 = col / u.q;
  let a2 = col % u.q;
  out[e] = x[o * u.p + o2] * y[a * u.q + a2];
}

@compute @workgroup_size(256)
fn scale_cols(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.p * u.q * u.q) { return; }
  let b = e % u.q;
  let a = (e / u.q) % u.q;
  let z = e / (u.q * u.q);
  out[e] = x[a * u.q + b] * y[z * u.q + b];
}

@compute @workgroup_size(256)
fn outer_cols(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.p * u.p * u.p) { return; }
  let k = e % u.p;
  let o2 = (e / u.p) % u.p;
  let o = e / (u.p * u.p);
  out[e] = x[o * u.p + k] * x[o2 * u.p + k];
}

@compute @workgroup_size(256)
fn diag(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= u.p) { return; }
  out[u.o0 + i] = x[i * (u.p + 1u)];
}

@compute @workgroup_size(256)
fn set_block(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.p * u.p) { return; }
  let r = e / u.p;
  let c = e % u.p;
  out[(u.o0 + r) * u.n + u.o0 + c] = x[e];
}

@compute @workgroup_size(256)
fn diag_embed(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= u.p) { return; }
  out[(u.o0 + i) * (u.n + 1u)] = x[i];
}

@compute @workgroup_size(256)
fn kfac_inv(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.p * u.q) { return; }
  // Traces of the clamped factors (O(p + q) per invocation: the factors are small).
  var trG = 0.0;
  for (var k = 0u; k < u.p; k++) { trG += max(x[k], 0.0); }
  var trA = 0.0;
  for (var k = 0u; k < u.q; k++) { trA += max(y[k], 0.0); }
  var pi = 1.0;
  if (trG > 0.0 && trA > 0.0) { pi = sqrt((trA / f32(u.q)) / (trG / f32(u.p))); }
  let sl = sqrt(u.d1);
  let o = e / u.q;
  let a = e % u.q;
  out[e] = 1.0 / ((max(x[o], 0.0) + sl / pi) * (max(y[a], 0.0) + pi * sl));
}

@compute @workgroup_size(256)
fn inv_damped(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.n) { return; }
  out[e] = 1.0 / (max(x[e], 0.0) + u.d1);
}

@compute @workgroup_size(256)
fn div_damped(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.n) { return; }
  out[e] = y[e] / (x[e] + u.d1);
}

@compute @workgroup_size(256)
fn ce_metric_mv(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= u.n) { return; }
  let c = u.W;
  let base = i * c;
  var mx = x[base];
  for (var k = 1u; k < c; k++) { mx = max(mx, x[base + k]); }
  var z = 0.0;
  for (var k = 0u; k < c; k++) { z += exp(x[base + k] - mx); }
  var py = 0.0;
  for (var k = 0u; k < c; k++) { py += exp(x[base + k] - mx) / z * y[base + k]; }
  for (var k = 0u; k < c; k++) {
    let pk = exp(x[base + k] - mx) / z;
    out[base + k] = u.scale * pk * (y[base + k] - py);
  }
}
