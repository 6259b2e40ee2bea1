// The blocked path of the batched symmetric eigensolver, apart from the subproblem solves
// (big_solve in shaders/eigh.wgsl, whose header describes the method and the buffers):
//
//   big_init    wa = s sym(A) zero-padded to N x N, vb = I, ctr = 0.
//               1-D over N*N per matrix (and the ctrStride counters), (x, y) grid, z = matrix.
//   big_apply   one step: A[P_k, P_l] <- J_k^T A[P_k, P_l] J_l for block pairs k < l (written
//               with its mirror), V^T[P_l, cols] <- J_l^T V^T[P_l, cols]. One 32 x 32 tile per
//               workgroup of 32 invocations (8 x 4 register blocks, `tile_product`), 16 KiB of
//               workgroup storage. Tiles whose rotations are both identities are skipped.
//               Dispatch: tilesA + tilesV workgroups, (x, y) grid, z = matrix.
//               Why the diagonal tiles come from the solve and not from a product with J: a
//               product adds round-off of size u |lambda| to their off-diagonal entries, which
//               the relative test (threshold u sqrt|a_pp a_qq|) would keep rotating.
//   big_rank    eigenvalues (the diagonal of wa, unscaled) in ascending order -> info, their
//               ranks -> ctr (ties by index). 1-D over n per matrix, WG invocations, z = matrix.
//   big_gather  vecs[r][rank_j] = vb[j][r] for r, j < n. 1-D over n*n, (x, y) grid, z = matrix.
// Buffers (layouts in shaders/eigh.wgsl): src and acc (J_k^T of each block pair) are read-only
// here; ctr holds plain u32 words (the atomics of big_solve are over by the next dispatch).

override WG: u32 = 64u;   // invocations per workgroup of big_rank
const INFO: u32 = 8u;
const BS: u32 = 16u;      // block size
const T2: u32 = 32u;      // tile = block pair = 2 * BS

struct Params {
  n: u32, N: u32, nb: u32, step: u32,
  maxSweeps: u32, ctrStride: u32, tilesA: u32, tilesV: u32,
  valOff: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> acc: array<f32>;
@group(0) @binding(2) var<storage, read_write> info: array<f32>;
@group(0) @binding(3) var<storage, read_write> wa: array<f32>;
@group(0) @binding(4) var<storage, read_write> vb: array<f32>;
@group(0) @binding(5) var<storage, read_write> ctr: array<u32>;
@group(0) @binding(6) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> wflag: u32;   // broadcast through workgroupUniformLoad

// Tile products of big_apply: invocation (ty, tx) of 4 x 8 computes rows 8ty .. 8ty+7 and
// columns 4tx .. 4tx+3 of a 32 x 32 product L R. Left operands are stored transposed and both
// operands as vec4 rows, so each step of q is three vec4 loads for eight vec4 multiply-adds
// (measured on lavapipe at n = 1024: 4.8 s a sweep with scalar 4 x 1 blocks, 4.2 s with 4 x 4,
// 3.3 s with 8 x 4 or 8 x 8; 8 x 4 keeps 32 invocations, one warp).
//   wL[q * 8 + i4] = (L[4 i4][q], .., L[4 i4 + 3][q]),   wR[q * 8 + j4] = (R[q][4 j4], .., R[q][4 j4 + 3])
// The four operands of big_apply live in one workgroup array, 256 vec4 (one 32 x 32 matrix) each,
// so that one product function serves every pair of them: WGSL has no pointers to workgroup
// memory as function parameters (without a language extension), only offsets into one array.
var<workgroup> tiles: array<vec4<f32>, 1024>;
const L1: u32 = 0u;
const R1: u32 = 256u;
const L2: u32 = 512u;
const R2: u32 = 768u;

/// Rows 8ty+u of the product of the tiles at offsets l (stored as wL) and r (stored as wR):
/// element u of the result holds columns 4tx .. 4tx+3 of row 8ty+u.
fn tile_product(l: u32, r: u32, ty: u32, tx: u32) -> array<vec4<f32>, 8> {
  var c: array<vec4<f32>, 8>;
  for (var q = 0u; q < T2; q += 1u) {
    let a0 = tiles[l + q * 8u + 2u * ty];
    let a1 = tiles[l + q * 8u + 2u * ty + 1u];
    let b = tiles[r + q * 8u + tx];
    c[0] += a0.x * b;
    c[1] += a0.y * b;
    c[2] += a0.z * b;
    c[3] += a0.w * b;
    c[4] += a1.x * b;
    c[5] += a1.y * b;
    c[6] += a1.z * b;
    c[7] += a1.w * b;
  }
  return c;
}

fn flat_group(wg: vec3u, nwg: vec3u) -> u32 {
  return wg.y * nwg.x + wg.x;
}

/// Pair k of round `step` for m (even) players: m-1 stays, the others rotate (circle method).
/// Twin: roundRobinPair in src/reference/jacobi.ts; copy of eigh.wgsl's (kept identical,
/// tests/kernel-descriptors.test.ts).
fn pair_of(m: u32, step: u32, k: u32) -> vec2u {
  let r = m - 1u;
  if (k == 0u) { return vec2u(step, r); }
  return vec2u((step + k) % r, (step + r - k) % r);
}

/// Global index of local row i (< 32) of the tile of block pair (bp, bq). Copy of eigh.wgsl's.
fn tile_row(pq: vec2u, i: u32) -> u32 {
  return select(pq.y * BS + i - BS, pq.x * BS + i, i < BS);
}

@compute @workgroup_size(256)
fn big_init(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = wg.z;
  let N = p.N;
  let n = p.n;
  let e = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  if (e < p.ctrStride) { ctr[b * p.ctrStride + e] = 0u; }
  if (e >= N * N) { return; }
  let i = e / N;
  let j = e % N;
  let s = info[b * INFO + 4u];
  var a = 0.0;
  if (i < n && j < n) {
    let base = b * n * n;
    a = (src[base + i * n + j] * s + src[base + j * n + i] * s) * 0.5;
  }
  wa[b * N * N + e] = a;
  vb[b * N * N + e] = select(0.0, 1.0, i == j);
}

@compute @workgroup_size(32)
fn big_apply(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = wg.z;
  let w = flat_group(wg, nwg);
  let tid = lid.x;
  let tx = tid % 8u;
  let ty = tid / 8u; // 0..3
  let N = p.N;
  let h = p.nb / 2u;
  let cf = b * p.ctrStride + p.maxSweeps;
  if (w >= p.tilesA + p.tilesV) { return; }
  var k: u32;
  var l: u32;
  let isA = w < p.tilesA;
  if (isA) {
    // Tile (k, l), k != l, by the same folded enumeration as the in-workgroup phase 2a.
    k = w % h;
    let d = w / h + 1u;
    if (2u * d == h && k >= d) { return; }
    l = (k + d) % h;
  } else {
    l = (w - p.tilesA) / (N / T2);
    k = l;
  }
  if (tid == 0u) {
    // Bit 0: pair k rotated, bit 1: pair l rotated. A pair that did not rotate left no J in acc:
    // its rotation is the identity.
    let fk = ctr[cf + k];
    let fl = ctr[cf + l];
    wflag = select(0u, 1u, fk != 0u) | select(0u, 2u, fl != 0u);
  }
  let flags = workgroupUniformLoad(&wflag);
  if (flags == 0u) { return; } // both rotations are identities
  let pk_ = pair_of(p.nb, p.step, k);
  let pl = pair_of(p.nb, p.step, l);
  let jk = (b * h + k) * T2 * T2;
  let jl = (b * h + l) * T2 * T2;
  let base = b * N * N;
  if (isA) {
    // Y = J_k^T X J_l with X = A[P_k, P_l]; acc holds J^T, so Y = Jt_k (X Jt_l^T).
    for (var e = tid; e < T2 * T2; e += 32u) {
      let i = e / T2;
      let j = e % T2;
      let id = select(0.0, 1.0, i == j);
      tiles[L1 + j * 8u + i / 4u][i % 4u] = wa[base + tile_row(pk_, i) * N + tile_row(pl, j)]; // L = X
      tiles[R1 + j * 8u + i / 4u][i % 4u] = select(id, acc[jl + e], (flags & 2u) != 0u);      // R = Jt_l^T
      tiles[L2 + j * 8u + i / 4u][i % 4u] = select(id, acc[jk + e], (flags & 1u) != 0u);      // L = Jt_k
    }
    workgroupBarrier();
    let t = tile_product(L1, R1, ty, tx);
    for (var u = 0u; u < 8u; u += 1u) { tiles[R2 + (8u * ty + u) * 8u + tx] = t[u]; }
    workgroupBarrier();
    let y = tile_product(L2, R2, ty, tx);
    for (var u = 0u; u < 8u; u += 1u) {
      let gi = tile_row(pk_, 8u * ty + u);
      for (var v = 0u; v < 4u; v += 1u) {
        // Written with its mirror, so A stays exactly symmetric.
        let gj = tile_row(pl, 4u * tx + v);
        wa[base + gi * N + gj] = y[u][v];
        wa[base + gj * N + gi] = y[u][v];
      }
    }
  } else {
    // V^T[P_l, c0 .. c0 + 32] <- Jt_l V^T[P_l, c0 ..]
    let c0 = ((w - p.tilesA) % (N / T2)) * T2;
    for (var e = tid; e < T2 * T2; e += 32u) {
      let i = e / T2;
      let j = e % T2;
      tiles[L1 + j * 8u + i / 4u][i % 4u] = acc[jl + e];                          // L = Jt_l
      tiles[R1 + i * 8u + j / 4u][j % 4u] = vb[base + tile_row(pl, i) * N + c0 + j]; // R = V^T tile
    }
    workgroupBarrier();
    let y = tile_product(L1, R1, ty, tx);
    for (var u = 0u; u < 8u; u += 1u) {
      let row = base + tile_row(pl, 8u * ty + u) * N + c0 + 4u * tx;
      for (var v = 0u; v < 4u; v += 1u) { vb[row + v] = y[u][v]; }
    }
  }
}

@compute @workgroup_size(WG)
fn big_rank(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = wg.z;
  let i = wg.x * WG + lid.x;
  let n = p.n;
  if (i >= n) { return; }
  let N = p.N;
  let base = b * N * N;
  let di = wa[base + i * N + i];
  var r = 0u;
  for (var j = 0u; j < n; j += 1u) {
    let dj = wa[base + j * N + j];
    if (dj < di || (dj == di && j < i)) { r += 1u; }
  }
  ctr[b * p.ctrStride + p.maxSweeps + p.nb / 2u + i] = r;
  info[p.valOff + b * n + r] = di / info[b * INFO + 4u];
}

@compute @workgroup_size(256)
fn big_gather(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = wg.z;
  let n = p.n;
  let e = (wg.y * nwg.x + wg.x) * 256u + lid.x;
  if (e >= n * n) { return; }
  let j = e / n;
  let r = e % n;
  let rank = ctr[b * p.ctrStride + p.maxSweeps + p.nb / 2u + j];
  vecs[b * n * n + r * n + rank] = vb[b * p.N * p.N + j * p.N + r];
}
