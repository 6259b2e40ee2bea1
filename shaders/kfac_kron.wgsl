// Kronecker-structured blocks of KFAC / EKFAC (fixture README sections 5 and 6): the dense KFAC
// block G (x) A and the two factors of the dense EKFAC block
//   E[(o,a),(o',a')] = sum_p U_G[o,p] U_G[o',p] H_p[a,a'],  H_p = U_A diag(s_p) U_A^T
// (src/curvature/ekfac.ts), formed without the (out m)^2 eigenbasis Q = U_G (x) U_A.
//
// Bindings: x (read), y (read; a placeholder for outer_cols), out (read_write), uniforms {p, q}.
//   kron         out[(o q + a), (o' q + a')] = x[o p + o'] * y[a q + a']          ((p q) x (p q))
//                G (x) A in the layer's o*m + a parameter index (x = G: p x p, y = A: q x q)
//   scale_cols   out[z, a, b] = x[a q + b] * y[z q + b]                             (p x q x q)
//                p copies of the q x q matrix x, copy z with its columns scaled by row z of y
//                (U_A diag(s_z), one per output unit z)
//   outer_cols   out[(o p + o'), k] = x[o p + k] * x[o' p + k]                      (p^2 x p)
//                products of rows o and o' of x, column by column (U_G[o,k] U_G[o',k])
// 1-D over output elements, 256 invocations per workgroup, (x, y) grid. No workgroup memory.

struct Params { p: u32, q: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
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
