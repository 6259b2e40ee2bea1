// Second moments of KFAC / EKFAC (fixture README section 6): sums of squares and of products over
// the rows of each example or over a batch of matrices, the steps between the projections (done
// by matmul.wgsl) and the EKFAC diagonal s, and the Kronecker inner product of the Gram route.
//
// Bindings: x (read), y (read; a placeholder for the entries that read only x), out (read_write),
// uniforms {n, R, W (u32), scale, beta (f32)}.
//   rows_sumsq   out[i, j] = scale * sum_{r<R} x[(i R + r) W + j]^2                       (n x W)
//                squared signals summed over the R seed rows of each example: with x the signals
//                projected on U_G this is the G side of the EKFAC diagonal of a dense layer.
//   rows_dot     out[i] = scale * sum_{r<R} sum_{j<W} x[(i R + r) W + j] y[(i R + r) W + j]  (n)
//   cols_sumsq   out[j] = beta * out[j] + scale * sum_{b<R} x[b W + j]^2                   (W)
//                sum over a batch of R matrices of their squared entries (conv EKFAC diagonal,
//                chunk by chunk with beta = 1 after the first chunk; beta = 0 never reads out)
//   square       out[e] = x[e]^2                                                          (n)
// 1-D over output elements (rows_sumsq, cols_sumsq, square) or examples (rows_dot), 256
// invocations per workgroup, (x, y) grid. No workgroup memory.

struct Params { n: u32, R: u32, W: u32, scale: f32, beta: f32 }

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
fn square(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = flat(wg, nwg, lid);
  if (e >= u.n) { return; }
  let v = x[e];
  out[e] = v * v;
}
