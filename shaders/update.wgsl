// The parameter update of one training step, with the divergence watch, in one pass:
//
//   delta[i] -= lr * u[i]                 (the model's displacement theta - theta0)
//   theta[i]  = theta0[i] + delta[i]      (kept current, so the next forward pass needs no copy)
//   flag[0]   = min(flag[0], step) if delta[i] is NaN or infinite   (first non-finite step)
//
// Three dispatches (update, theta = theta0 + delta, watch) become one: on CPU-backed adapters
// every dispatch costs a fixed ~50 us whatever its size (README "Training throughput").
// The exponent bits are tested directly: WGSL compilers may assume finite math.
// 1-D over parameters, 256 invocations per workgroup, (x, y) grid.

struct Params { n: u32, step: u32, lr: f32 }

@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read> theta0: array<f32>;
@group(0) @binding(2) var<storage, read_write> delta: array<f32>;
@group(0) @binding(3) var<storage, read_write> theta: array<f32>;
@group(0) @binding(4) var<storage, read_write> flag: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  if (i >= p.n) { return; }
  let d = delta[i] - p.lr * u[i];
  delta[i] = d;
  theta[i] = theta0[i] + d;
  if ((bitcast<u32>(d) & 0x7f800000u) == 0x7f800000u) {
    atomicMin(&flag[0], p.step);
  }
}
