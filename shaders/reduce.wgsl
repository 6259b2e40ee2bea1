// Reductions to per-workgroup partial sums: sum x, sum x^2, sum x*y.
//
// Each workgroup of 256 invocations reduces a block of 1024 consecutive elements (4 per
// invocation, then a tree in workgroup memory) into partial[block]. The partials, one per 1024
// elements, are read back and summed in float64 on the CPU, so norms of large matrices keep
// float64 accumulation across blocks and pairwise (tree) accumulation within a block: the error
// grows like log2(1024) * eps32 rather than n * eps32.
// x is read with a stride (strideX = N + 1 sums the diagonal of an N x N matrix: a trace).
// MODE: 0 sum, 1 sum of squares, 2 dot, 3 sign agreement count [x > 0] == [y > 0] (relu
// activation-pattern similarity), 4 count of non-finite x (divergence checks). Dispatch: ceil(n / 1024) workgroups, (x, y) grid.

override MODE: u32 = 0u;

struct Params { n: u32, offX: u32, offY: u32, strideX: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> buf: array<f32, 256>;

fn term(i: u32) -> f32 {
  if (i >= p.n) { return 0.0; }
  let v = x[p.offX + i * p.strideX];
  switch (MODE) {
    case 1u: { return v * v; }
    case 2u: { return v * y[p.offY + i]; }
    case 3u: { return select(0.0, 1.0, (v > 0.0) == (y[p.offY + i] > 0.0)); }
    case 4u: {
      // Test the exponent bits: WGSL compilers may assume finite math and fold v != v away.
      return select(0.0, 1.0, (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u);
    }
    default: { return v; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let block = wg.y * nwg.x + wg.x;
  let base = block * 1024u + lid.x;
  buf[lid.x] = (term(base) + term(base + 256u)) + (term(base + 512u) + term(base + 768u));
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid.x < s) { buf[lid.x] += buf[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { partial[block] = buf[0]; }
}
