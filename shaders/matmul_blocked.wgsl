// Batched matrix product for CPU-backed WebGPU (Mesa lavapipe/llvmpipe, SwiftShader): register
// blocking without workgroup memory. Same contract, bindings and uniform block as matmul.wgsl:
//
//   C[b] = alpha * op(A[b]) * op(B[b / bDiv]) + beta * C[b]      for b in 0..batch-1
//
// with op(X) = X or X^T (pipeline constants TRANS_A / TRANS_B), element offsets, leading
// dimensions and batch strides (0 broadcasts), and ACCUMULATE choosing whether beta * C is read.
//
// Why a second kernel. A CPU driver runs a workgroup as a loop over SIMD vectors of invocations
// (8 f32 lanes of 256 bits in llvmpipe) and compiles every load whose address is not a constant,
// from a storage buffer or from workgroup memory alike, into one bounds-checked scalar load per
// lane (about ten instructions each, in the llvmpipe code dumped with GALLIVM_DEBUG=asm), while
// the arithmetic runs on whole vectors. Staging tiles in workgroup memory then pays per-lane loads
// twice plus barriers (coroutine switches in llvmpipe), and a vec4 load is four per-lane loads
// (measured: no faster than four scalar ones). What decides the speed is multiply-adds per
// loaded element, so each invocation keeps a TM x TN = 16 x 16 block of C in registers and loads
// 16 + 16 elements per step of k for 256 multiply-adds (the tiled kernel's 4 x 4 blocks: 8 per
// 16). Larger blocks stop being unrolled by the driver and collapse. The loads of a step come
// first and the multiply-adds after them in one straight block (interleaved, ~25% slower).
// On lavapipe (2 cores) this kernel runs 4-5x the tiled one and 2.5-4x TF.js's WebGPU matmul
// (README "Benchmarks"); on SwiftShader 2-4x the tiled one.
//
// Layout of the work: a workgroup of WX invocations (one llvmpipe vector) computes a
// TM x (TN * WX) tile of C. Invocation x owns rows row0 + i (i < TM) and columns
// col0 + x + WX * j (j < TN), so the WX lanes of a load read one element of op(A), and
// consecutive elements of a row of B when B is not transposed. Row and column indices are
// clamped to the matrix for loading, so the k loop has no bounds tests and any M, N, K (1x1,
// odd sizes, K = 0) is exact; the clamped duplicates are computed and not stored. C is written
// row by row in a loop that the driver cannot unroll, which keeps the compiled code (and the
// JIT compile: 1.5-5 s per pipeline on a loaded lavapipe instead of 90-120 s) small.
// Dispatch: (ceil(N / (TN * WX)), ceil(M / TM), batch).  Workgroup storage: none.
// Invocations: WX (default 8).  Registers: 256 accumulators per invocation (spilled to the stack
// on a CPU, which is cheap there; not a GPU kernel: matmul.ts uses matmul.wgsl on GPUs).

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// When false, C is written without reading it (beta is ignored), so C may hold garbage.
override ACCUMULATE: bool = false;
// Invocations per workgroup (the driver's SIMD width is the natural choice).
override WX: u32 = 8u;

const TM: u32 = 16u;
// TN = 16 columns per invocation, held as 4 vec4 accumulators per row.
const TN4: u32 = 4u;

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

@compute @workgroup_size(WX)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = wg.z;
  let row0 = wg.y * TM;
  let col0 = wg.x * (4u * TN4 * WX) + lid.x;

  // op(A)[m, k] = A[aBase + m * am + k * ak];  op(B)[k, n] = B[bBase + k * bk + n * bn].
  var am = p.lda;
  var ak = 1u;
  if (TRANS_A) { am = 1u; ak = p.lda; }
  var bk = p.ldb;
  var bn = 1u;
  if (TRANS_B) { bk = 1u; bn = p.ldb; }
  let aBase = p.offA + b * p.strideA;
  let bBase = p.offB + (b / p.bDiv) * p.strideB;

  var ia: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { ia[i] = aBase + min(row0 + i, p.M - 1u) * am; }
  var ib: array<vec4u, TN4>;
  for (var j = 0u; j < TN4; j++) {
    let cols = vec4u(col0) + WX * (4u * j + vec4u(0u, 1u, 2u, 3u));
    ib[j] = vec4u(bBase) + min(cols, vec4u(p.N - 1u)) * bn;
  }

  var acc: array<array<vec4f, TN4>, TM>;
  for (var k = 0u; k < p.K; k++) {
    let ka = k * ak;
    let kb = k * bk;
    var bv: array<vec4f, TN4>;
    for (var j = 0u; j < TN4; j++) {
      let o = ib[j] + kb;
      bv[j] = vec4f(B[o.x], B[o.y], B[o.z], B[o.w]);
    }
    // All loads first, then the multiply-adds: on a CPU driver each load is a branchy per-lane
    // sequence, and keeping the arithmetic in one straight block lets it be scheduled together.
    var av: array<f32, TM>;
    for (var i = 0u; i < TM; i++) { av[i] = A[ia[i] + ka]; }
    for (var i = 0u; i < TM; i++) {
      let a = vec4f(av[i]);
      for (var j = 0u; j < TN4; j++) { acc[i][j] = fma(a, bv[j], acc[i][j]); }
    }
  }

  // Store one row per iteration and shift the next row into acc[0]. The trip count is not a
  // constant, so the loop stays a loop: unrolled, the 256 per-lane stores (and loads of C) would
  // be most of the code and multiply the driver's compile time.
  let cBase = p.offC + b * p.strideC;
  let rows = min(TM, p.M - row0);
  for (var i = 0u; i < rows; i++) {
    let rowBase = cBase + (row0 + i) * p.ldc;
    for (var j = 0u; j < TN4; j++) {
      for (var q = 0u; q < 4u; q++) {
        let col = col0 + WX * (4u * j + q);
        if (col < p.N) {
          var v = p.alpha * acc[0][j][q];
          if (ACCUMULATE) { v = v + p.beta * C[rowBase + col]; }
          C[rowBase + col] = v;
        }
      }
    }
    for (var r = 0u; r < TM - 1u; r++) { acc[r] = acc[r + 1u]; }
  }
}
