// Damped inverses of the KFAC / EKFAC preconditioners and of diagonal Fisher representations,
// elementwise on eigenvalues or diagonals.
//
// Bindings: x (read), y (read; a placeholder for inv_damped), out (read_write),
// uniforms {n, p, q (u32), damping (f32)}.
//   kfac_inv    out[o q + a] = 1 / ((max(x[o], 0) + dG) (max(y[a], 0) + dA))          (p x q)
//               pi-damped KFAC inverse eigenvalues (Martens & Grosse 2015, s. 6.3): x = eig_G (p),
//               y = eig_A (q), lambda = damping, pi = sqrt((tr A / q) / (tr G / p)),
//               dG = sqrt(lambda) / pi, dA = pi sqrt(lambda) (pi = 1 when a trace is 0; traces
//               of the clamped eigenvalues). Negative round-off eigenvalues are clamped to 0.
//   inv_damped  out[e] = 1 / (max(x[e], 0) + damping)                                   (n)
//               EKFAC's 1 / (s + lambda), and the inverse of a damped diagonal
//   div_damped  out[e] = y[e] / (x[e] + damping)                                        (n)
//               a solve with a damped diagonal x (not clamped: x is a Fisher diagonal, >= 0)
// 1-D over output elements, 256 invocations per workgroup, (x, y) grid. kfac_inv recomputes the
// traces in every invocation (O(p + q): the factors are small). No workgroup memory.

struct Params { n: u32, p: u32, q: u32, damping: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn kfac_inv(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.p * u.q) { return; }
  var trG = 0.0;
  for (var k = 0u; k < u.p; k++) { trG += max(x[k], 0.0); }
  var trA = 0.0;
  for (var k = 0u; k < u.q; k++) { trA += max(y[k], 0.0); }
  var pi = 1.0;
  if (trG > 0.0 && trA > 0.0) { pi = sqrt((trA / f32(u.q)) / (trG / f32(u.p))); }
  let sl = sqrt(u.damping);
  let o = e / u.q;
  let a = e % u.q;
  out[e] = 1.0 / ((max(x[o], 0.0) + sl / pi) * (max(y[a], 0.0) + pi * sl));
}

@compute @workgroup_size(256)
fn inv_damped(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.n) { return; }
  out[e] = 1.0 / (max(x[e], 0.0) + u.damping);
}

@compute @workgroup_size(256)
fn div_damped(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.n) { return; }
  out[e] = y[e] / (x[e] + u.damping);
}
