// Swap two axes of a batched 3-D array: out[z, b, a, c] = in[z, a, b, c] for `in` of shape
// (batch, A, B, Cn). With batch = 1 it turns per-row conv signals (rows, out, T) into
// (out, rows, T) for one gradient matmul; with Cn = 1 it transposes each row's (out, T) map into
// (T, out) for signal Grams and KFAC factors.
// 1-D over elements, 256 invocations per workgroup, (x, y) grid.

struct Params { total: u32, A: u32, B: u32, Cn: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  if (e >= p.total) { return; }
  // e indexes the output (batch, B, A, Cn).
  let c = e % p.Cn;
  let a = (e / p.Cn) % p.A;
  let b = (e / (p.Cn * p.A)) % p.B;
  let z = e / (p.Cn * p.A * p.B);
  dst[e] = src[((z * p.A + a) * p.B + b) * p.Cn + c];
}
