// Divergence watch: record the first step at which a vector holds a non-finite value.
//
//   flag[0] = min(flag[0], step) if any x[i] is NaN or infinite        (atomicMin, u32)
// One dispatch per training step and model costs one pass over the parameters and no readback;
// the host reads the flag only when it reads metrics anyway, and still learns the exact step.
// The exponent bits are tested directly: WGSL compilers may assume finite math and fold x != x.
// 1-D over elements, 256 invocations per workgroup, (x, y) grid.

struct Params { n: u32, step: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> flag: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  if (i >= p.n) { return; }
  if ((bitcast<u32>(x[i]) & 0x7f800000u) == 0x7f800000u) {
    atomicMin(&flag[0], p.step);
  }
}
