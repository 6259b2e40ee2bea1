// Input check and scaling of the batched symmetric eigensolver (shaders/eigh.wgsl, both paths).
//
// check: one workgroup (WG invocations) per matrix of src [batch][n][n] (row-major, read-only):
//   status[0] max|A|, [1] max|A - A^T| (as max|sA - sA^T| / s, no overflow), [2] number of
//   non-finite entries, [3] ||sA||_F, [4] s; [5..7] (sweeps, converged, rotations) are zeroed.
// s = 2^-e with max|a_ij| * s in [0.5, 1) (an exact power of two, so scaling loses nothing):
// the solver works on sA, where theta^2 and the norms cannot overflow.
// Non-finite entries are found from their bits (exponent all ones), which no fast-math
// assumption can optimize away; they are skipped by every other statistic.
// Layout of info: [batch][8] status words (f32), then the eigenvalues (written by the solver).
// Dispatch: batch workgroups on an (x, y) grid. Workgroup storage: 8 WG bytes.

override WG: u32 = 64u;   // invocations per workgroup (a power of two)
const INFO: u32 = 8u;

struct Params { n: u32, batch: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> info: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> redf: array<f32, WG>;
var<workgroup> redu: array<u32, WG>;

fn finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn flat_group(wg: vec3u, nwg: vec3u) -> u32 {
  return wg.y * nwg.x + wg.x;
}

@compute @workgroup_size(WG)
fn check(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = flat_group(wg, nwg);
  if (b >= p.batch) { return; }
  let n = p.n;
  let base = b * n * n;
  let tid = lid.x;
  var mx = 0.0;
  var bad = 0u;
  for (var e = tid; e < n * n; e += WG) {
    let x = src[base + e];
    if (finite(x)) { mx = max(mx, abs(x)); } else { bad += 1u; }
  }
  redf[tid] = mx;
  redu[tid] = bad;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (tid < w) {
      redf[tid] = max(redf[tid], redf[tid + w]);
      redu[tid] += redu[tid + w];
    }
    workgroupBarrier();
  }
  let gmx = redf[0];
  let gbad = redu[0];
  workgroupBarrier();
  var s = 1.0;
  // 2^-e with gmx in [2^(e-1), 2^e); the exponent is clamped so that s stays a normal number
  // (max|sA| then lies in [2^-127, 4) at the extremes, still safe).
  if (gmx > 0.0) { s = ldexp(1.0, clamp(-frexp(gmx).exp, -126, 126)); }
  // Second pass on the scaled entries: no overflow in x^2 or in x - y.
  var sq = 0.0;
  var asym = 0.0;
  for (var e = tid; e < n * n; e += WG) {
    let i = e / n;
    let j = e % n;
    let x = src[base + e];
    if (!finite(x)) { continue; }
    let xs = x * s;
    sq += xs * xs;
    if (j > i) {
      let y = src[base + j * n + i];
      if (finite(y)) { asym = max(asym, abs(xs - y * s)); }
    }
  }
  redf[tid] = sq;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (tid < w) { redf[tid] += redf[tid + w]; }
    workgroupBarrier();
  }
  let fro = sqrt(redf[0]);
  workgroupBarrier();
  redf[tid] = asym;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (tid < w) { redf[tid] = max(redf[tid], redf[tid + w]); }
    workgroupBarrier();
  }
  if (tid == 0u) {
    let o = b * INFO;
    info[o] = gmx;
    info[o + 1u] = redf[0] / s;
    info[o + 2u] = f32(gbad);
    info[o + 3u] = fro;
    info[o + 4u] = s;
    info[o + 5u] = 0.0;
    info[o + 6u] = 0.0;
    info[o + 7u] = 0.0;
  }
}
