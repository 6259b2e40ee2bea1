// Batched tiled matrix product, the engine's workhorse.
//
//   C[b] = alpha * op(A[b]) * op(B[b / bDiv]) + beta * C[b]      for b in 0..batch-1
//
// op(X) is X or X^T, chosen by the pipeline constants TRANS_A / TRANS_B (one kernel, no copies
// per variant). op(A) is M x K and op(B) is K x N. Every matrix is addressed through an element
// offset, a leading dimension (row stride of the stored matrix) and a batch stride, so views
// into larger buffers (a layer's slice of theta, W without its bias column, one example's patch
// matrix) need no copy. `bDiv` lets one B serve several consecutive batches (one example's
// patches for all its output rows). A batch stride of 0 broadcasts.
//
// Layout of the work: a 16x16 workgroup computes a 64x64 tile of C; each invocation owns a 4x4
// register block at rows ly + 16 i, cols lx + 16 j (strided, so shared-memory reads are
// conflict-free and global writes are coalesced). K advances in slices of 16 staged in
// workgroup memory (2 x 16 x 64 f32 = 8 KiB). Loads are bounds-checked and zero-filled, so any
// M, N, K (1x1, odd sizes, K = 0) is exact.
// Dispatch: (ceil(N/64), ceil(M/64), batch).  Workgroup storage: 8 KiB.  Invocations: 256.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// When false, C is written without reading it (beta is ignored), so C may hold garbage.
override ACCUMULATE: bool = false;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  offA: u32, offB: u32, offC: u32, bDiv: u32,
  lda: u32, ldb: u32, ldc: u32,
  strideA: u32, strideB: u32, strideC: u32,
  alpha: f32, beta: f32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> As: array<array<f32, BM>, BK>;
var<workgroup> Bs: array<array<f32, BN>, BK>;

fn loadA(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TRANS_A) { return A[base + k * p.lda + m]; }
  return A[base + m * p.lda + k];
}

fn loadB(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANS_B) { return B[base + n * p.ldb + k]; }
  return B[base + k * p.ldb + n];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = wg.z;
  let aBase = p.offA + b * p.strideA;
  let bBase = p.offB + (b / p.bDiv) * p.strideB;
  let cBase = p.offC + b * p.strideC;
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let tid = lid.y * 16u + lid.x;

  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; }
  }

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Stage a BM x BK slice of op(A) and a BK x BN slice of op(B); 4 elements per invocation.
    // The element-to-invocation map follows the stored layout so consecutive invocations read
    // consecutive addresses.
    for (var r = 0u; r < 4u; r++) {
      let e = tid + r * 256u;
      var m: u32; var ka: u32;
      if (TRANS_A) { m = e % BM; ka = e / BM; } else { ka = e % BK; m = e / BK; }
      As[ka][m] = loadA(aBase, row0 + m, k0 + ka);
      var n: u32; var kb: u32;
      if (TRANS_B) { kb = e % BK; n = e / BK; } else { n = e % BN; kb = e / BN; }
      Bs[kb][n] = loadB(bBase, k0 + kb, col0 + n);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[kk][lid.y + 16u * i]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[kk][lid.x + 16u * j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(a[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y + 16u * i;
    if (row >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x + 16u * j;
      if (col >= p.N) { continue; }
      let idx = cBase + row * p.ldc + col;
      var v = p.alpha * acc[i][j];
      if (ACCUMULATE) { v = v + p.beta * C[idx]; }
      C[idx] = v;
    }
  }
}
