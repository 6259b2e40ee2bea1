// Dense-layer block of the per-example Jacobian: the outer product of a backward signal row and
// the example's augmented input, written straight into the layer's columns of J.
//
//   J[row, offset + o*m + a] = S[row, o] * A~[row / R, a]       rows = n*R, o < out, a < m
// J has P columns (the whole parameter vector); the block is the layer's [W | b] row-major
// slice (fixture README section 1). Conv layers use a batched matmul instead (src/geometry).
// 1-D over the block's elements, 256 invocations per workgroup, (x, y) grid.

struct Params { rows: u32, R: u32, outDim: u32, m: u32, P: u32, offset: u32 }

@group(0) @binding(0) var<storage, read> S: array<f32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> J: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn dense_outer(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  let block = p.outDim * p.m;
  if (e >= p.rows * block) { return; }
  let row = e / block;
  let q = e % block;
  let o = q / p.m;
  let a = q % p.m;
  J[row * p.P + p.offset + q] = S[row * p.outDim + o] * A[(row / p.R) * p.m + a];
}
