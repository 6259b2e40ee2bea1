// Diagonal blocks and diagonals of a P x P curvature matrix (the block-diagonal, diagonal and
// KFAC Fisher representations of src/curvature/fisher.ts, and the per-layer diagonals of the
// runner's kfac key): copies between a small matrix or vector and a place in a large matrix.
//
// Bindings: x (read), out (read_write), uniforms {N, p, offset}.
//   diag        out[offset + i] = x[i (p + 1)]                 (p): the diagonal of the p x p matrix x
//   set_block   out[(offset + r) N + offset + c] = x[r p + c]  (p x p into N x N): a diagonal block
//   diag_embed  out[(offset + i) (N + 1)] = x[i]               (p into N x N): part of a diagonal
// Only the addressed entries of out are written (the rest keep their values).
// 1-D over the p or p^2 copied values, 256 invocations per workgroup, (x, y) grid.

struct Params { N: u32, p: u32, offset: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> u: Params;

fn flat(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn diag(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= u.p) { return; }
  out[u.offset + i] = x[i * (u.p + 1u)];
}

@compute @workgroup_size(256)
fn set_block(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.p * u.p) { return; }
  let r = e / u.p;
  let c = e % u.p;
  out[(u.offset + r) * u.N + u.offset + c] = x[e];
}

@compute @workgroup_size(256)
fn diag_embed(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flat(wg, nwg, lid);
  if (i >= u.p) { return; }
  out[(u.offset + i) * (u.N + 1u)] = x[i];
}
