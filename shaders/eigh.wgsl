// Batched symmetric eigendecomposition A = V diag(lambda) V^T by parallel cyclic Jacobi.
//
// Ordering: round-robin (the circle method of a tournament). For an even working size m, a
// sweep is m-1 steps; step s pairs the indices into m/2 disjoint pairs (`pair_of`), so their
// rotations commute and a step applies all m/2 of them at once. Every pair meets once a sweep.
// Odd n gets a zero dummy row and column (m = n + 1); a zero a_pq is never rotated, so padding
// stays exactly zero and never mixes with the matrix.
//
// Rotation (Rutishauser; Golub & Van Loan 8.5.2): theta = (a_qq - a_pp) / (2 a_pq),
// t = sign(theta) / (|theta| + sqrt(theta^2 + 1)), c = 1/sqrt(1 + t^2), s = t c;
// a_pp -= t a_pq, a_qq += t a_pq, a_pq = 0 exactly. J = [[c, s], [-s, c]] on (p, q); A <- J^T A J.
// Stopping test (relative, per element): a_pq is skipped when
//   |a_pq| <= max(tol * sqrt|a_pp| * sqrt|a_qq|, floorRel * ||A||_F)
// and a matrix has converged after a sweep that rotated nothing. The first term is the classical
// relative test (small eigenvalues of definite matrices keep relative accuracy); the floor
// (default u ||A||_F, so the skipped entries total at most n u ||A||_F) ends the sweeps that
// would only resolve eigenvalues below u ||A||_F, as in rank-deficient matrices. A sweep cap
// bounds the work; a matrix that did not converge is reported as such, never silently.
//
// Scaling: every matrix is first scaled by a power of two, s = 2^-e with max|a_ij| * s in
// [0.5, 1) (exact), so theta^2 and the norms cannot overflow; eigenvalues are divided by s.
// The matrix is symmetrized on load, a_ij = (A_ij + A_ji) / 2 (the wrapper refuses input whose
// asymmetry exceeds a tolerance).
//
// Storage and layouts (all f32 unless said; b = matrix index of the batch):
//   src  [batch][n][n]           the input matrices, row-major (read-only)
//   info [batch][8], [batch][n]  per-matrix status, then the eigenvalues ascending. Status:
//                                max|A|, max|A - A^T|, #non-finite, ||sA||_F, s, sweeps,
//                                converged (0/1), rotations
//   acc                          small path without V_IN_WG: V^T working copy [batch][m][m]
//                                (rows are vectors); blocked path: J_k^T of each block pair
//                                [batch][nb/2][32][32]
//   wa   [batch][N][N]           blocked path: the matrix being diagonalized (full storage, kept
//                                exactly symmetric: each off-diagonal tile is written with its
//                                mirror)
//   vb   [batch][N][N]           blocked path: V^T working copy
//   ctr  u32 [batch][ctrStride]  blocked path: rotations per sweep [maxSweeps], "pair k rotated"
//                                flags [nb/2], eigenvalue ranks [N]
//   vecs [batch][n][n]           output eigenvectors, row-major, column j = eigenvector j (the
//                                layout of eighSym in src/math/linalg.ts)
//
// Kernels: three shader files, by concern (each a kernel family of its own bindings):
//   shaders/eigh_check.wgsl    check: validation and scaling -> status[0..4] (both paths)
//   shaders/eigh.wgsl (this)   the in-workgroup parallel Jacobi solver and its two uses:
//     small       one workgroup per matrix, the whole solve in one dispatch: the packed upper
//                 triangle of the m x m matrix in workgroup memory (capacity NP), V^T in workgroup
//                 memory too (V_IN_WG, when NP^2 more words fit) or in `acc`; then the ascending
//                 sort (ranks, ties by index) and the outputs. Workgroup storage without V:
//                 4 (NP(NP+1)/2 + 2 NP) bytes + 8, so NP <= 124 for 32 KiB, NP <= 86 for 16 KiB.
//                 Dispatch: batch workgroups on an (x, y) grid.
//     big_solve   blocked path, one step: the N x N matrix is split into nb = N/16 blocks of 16 and
//                 workgroup k solves the 32 x 32 subproblem of block pair k (round-robin over the
//                 blocks) with the same in-workgroup Jacobi (NP = 32, J in workgroup memory) for
//                 `innerSweeps` sweeps, writes the rotated subproblem back as the pair's diagonal
//                 tile, re-orthogonalizes the accumulated rotation J_k (one Newton-Schulz step) and
//                 stores J_k^T in acc. Skips everything once the matrix has converged (a previous
//                 sweep rotated nothing). Dispatch: (nb/2, 1, batch). Workgroup storage ~14.5 KiB.
//   shaders/eigh_blocked.wgsl  the rest of the blocked path: big_init (working copies),
//                 big_apply (the rotations of a step applied to the other tiles of A and to V, as
//                 32 x 32 tile products), big_rank and big_gather (sorted outputs).
// A step of the blocked path is big_solve then big_apply; the wrapper (src/ops/eigh.ts) reads the
// rotation counts back after each sweep to stop.
// Limits: batch <= maxComputeWorkgroupsPerDimension on the blocked path (z); N x N f32 within the
// storage binding limit.

override NP: u32 = 16u;   // capacity of the in-workgroup solver (even); a pipeline per size class
override WG: u32 = 64u;   // invocations per workgroup
// Where the in-workgroup solver accumulates V^T: workgroup memory (sv, VCAP >= m*m words) when
// it fits next to the matrix, else the storage buffer `acc`.
override V_IN_WG: bool = false;
override VCAP: u32 = 1u;
const INFO: u32 = 8u;
const BS: u32 = 16u;      // block size of the blocked path
const T2: u32 = 32u;      // tile = block pair = 2 * BS

struct Params {
  n: u32, m: u32, batch: u32, maxSweeps: u32,
  tol: f32, floorRel: f32, step: u32, sweep: u32,
  N: u32, nb: u32, ctrStride: u32, valOff: u32,
  innerSweeps: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> info: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
@group(0) @binding(3) var<storage, read_write> wa: array<f32>;
@group(0) @binding(4) var<storage, read_write> ctr: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

// ---- in-workgroup Jacobi state ----
var<workgroup> sa: array<f32, NP * (NP + 1u) / 2u>;   // packed upper triangle, see pk()
var<workgroup> rc: array<f32, NP / 2u>;                // c of pair k in the current step
var<workgroup> rs: array<f32, NP / 2u>;                // s of pair k (0: not rotated)
var<workgroup> rpq: array<u32, NP>;                    // p, q of pair k at 2k, 2k+1; ranks at the end
var<workgroup> sv: array<f32, VCAP>;                   // V^T when V_IN_WG
var<workgroup> nrot: atomic<u32>;
var<workgroup> wflag: u32;                             // broadcast through workgroupUniformLoad

// ---- Newton-Schulz step of big_solve ----
var<workgroup> tX: array<f32, 1024>;
var<workgroup> tJk: array<f32, 1024>;

fn flat_group(wg: vec3u, nwg: vec3u) -> u32 {
  return wg.y * nwg.x + wg.x;
}

/// Packed index of (i, j) in the upper triangle, column by column: hi (hi + 1) / 2 + lo.
fn pk(i: u32, j: u32) -> u32 {
  let lo = min(i, j);
  let hi = max(i, j);
  return hi * (hi + 1u) / 2u + lo;
}

/// Pair k of round `step` for m (even) players: m-1 stays, the others rotate (circle method).
/// Twin: roundRobinPair in src/reference/jacobi.ts; copy in eigh_blocked.wgsl (kept identical,
/// tests/kernel-descriptors.test.ts).
fn pair_of(m: u32, step: u32, k: u32) -> vec2u {
  let r = m - 1u;
  if (k == 0u) { return vec2u(step, r); }
  return vec2u((step + k) % r, (step + r - k) % r);
}

/// One Jacobi solve of the m x m matrix in `sa`, accumulating V^T (or J^T) with row stride m
/// into sv[vbase..] (V_IN_WG) or acc[vbase..], which must hold the identity. Runs sweeps until
/// one rotates nothing or `maxSweeps` have run. Returns (sweeps, converged, rotations).
/// Must be called in uniform control flow (it has barriers).
fn jacobi(vbase: u32, m: u32, tol: f32, flr: f32, maxSweeps: u32, tid: u32) -> vec3u {
  let h = m / 2u;
  // Task decompositions computed once: integer division by a runtime m is slow where it is
  // emulated (lavapipe), and the per-step loops below then need none.
  // Phase 2a: task (k, d) = (t mod h, t / h); this invocation starts at t = tid and advances
  // by WG, i.e. by (WG mod h, WG / h) with a carry.
  let tasks = h * (h / 2u);
  let k2 = tid % max(h, 1u);
  let d2 = tid / max(h, 1u);
  let kInc = WG % max(h, 1u);
  let dInc = WG / max(h, 1u);
  // Phase 2b: with WG >= m, invocation tid takes column tid mod m of the pairs k = tid / m,
  // + WG / m, ... (invocations beyond the last full group idle); with WG < m it takes columns
  // tid, tid + WG, ... of every pair.
  let vGroups = max(WG / m, 1u);
  var vCol = tid;
  var vK = 0u;
  var vColStep = WG;
  if (WG >= m) {
    vCol = tid % m;
    vK = select(h, tid / m, tid < vGroups * m);
    vColStep = m;
  }
  var sweeps = 0u;
  var converged = 0u;
  var total = 0u;
  loop {
    if (sweeps >= maxSweeps) { break; }
    sweeps += 1u;
    var mine = 0u;
    for (var step = 0u; step + 1u < m; step += 1u) {
      // Phase 1: each pair's rotation from the matrix as it is before the step; the pair's own
      // 2x2 diagonal block is touched by nobody else, so it is updated here.
      for (var k = tid; k < h; k += WG) {
        let pq = pair_of(m, step, k);
        let ip = pk(pq.x, pq.x);
        let iq = pk(pq.y, pq.y);
        let ipq = pk(pq.x, pq.y);
        let app = sa[ip];
        let aqq = sa[iq];
        let apq = sa[ipq];
        rpq[2u * k] = pq.x;
        rpq[2u * k + 1u] = pq.y;
        var c = 1.0;
        var s = 0.0;
        if (abs(apq) > max(tol * sqrt(abs(app)) * sqrt(abs(aqq)), flr)) {
          let theta = (aqq - app) / (2.0 * apq);
          let at = abs(theta);
          var t: f32;
          if (at > 1048576.0) {
            t = 0.5 / theta; // theta^2 + 1 == theta^2 in f32 here (and theta^2 may overflow)
          } else {
            t = select(1.0, -1.0, theta < 0.0) / (at + sqrt(theta * theta + 1.0));
          }
          c = 1.0 / sqrt(t * t + 1.0);
          s = t * c;
          sa[ip] = app - t * apq;
          sa[iq] = aqq + t * apq;
          sa[ipq] = 0.0;
          mine += 1u;
        }
        rc[k] = c;
        rs[k] = s;
      }
      workgroupBarrier();
      // Phase 2a: off-diagonal 2x2 blocks B = A[{p_k, q_k}, {p_l, q_l}] <- R_k^T B R_l, one task
      // per unordered pair {k, l} (the packed storage holds B and B^T once): task t is
      // (k, l = k + d mod h) with k = t mod h, d = 1 + t / h; for even h, d = h/2 meets each
      // pair twice and only k < d is kept.
      var k = k2;
      var d = d2 + 1u;
      for (var t = tid; t < tasks; t += WG) {
        let kk = k;
        let dd = d;
        k += kInc;
        d += dInc;
        if (k >= h) {
          k -= h;
          d += 1u;
        }
        if (2u * dd == h && kk >= dd) { continue; }
        var l = kk + dd;
        if (l >= h) { l -= h; }
        let sk = rs[kk];
        let sl = rs[l];
        if (sk == 0.0 && sl == 0.0) { continue; }
        let ck = rc[kk];
        let cl = rc[l];
        let p0 = rpq[2u * kk];
        let q0 = rpq[2u * kk + 1u];
        let p1 = rpq[2u * l];
        let q1 = rpq[2u * l + 1u];
        let i00 = pk(p0, p1);
        let i01 = pk(p0, q1);
        let i10 = pk(q0, p1);
        let i11 = pk(q0, q1);
        let b00 = sa[i00];
        let b01 = sa[i01];
        let b10 = sa[i10];
        let b11 = sa[i11];
        let x00 = ck * b00 - sk * b10;
        let x01 = ck * b01 - sk * b11;
        let x10 = sk * b00 + ck * b10;
        let x11 = sk * b01 + ck * b11;
        sa[i00] = cl * x00 - sl * x01;
        sa[i01] = sl * x00 + cl * x01;
        sa[i10] = cl * x10 - sl * x11;
        sa[i11] = sl * x10 + cl * x11;
      }
      // Phase 2b: V <- V J, i.e. rows p, q of V^T; consecutive invocations take consecutive columns.
      for (var kv = vK; kv < h; kv += vGroups) {
        let s = rs[kv];
        if (s == 0.0) { continue; }
        let c = rc[kv];
        let rp = vbase + rpq[2u * kv] * m;
        let rq = vbase + rpq[2u * kv + 1u] * m;
        for (var i = vCol; i < m; i += vColStep) {
          if (V_IN_WG) {
            let vp = sv[rp + i];
            let vq = sv[rq + i];
            sv[rp + i] = c * vp - s * vq;
            sv[rq + i] = s * vp + c * vq;
          } else {
            let vp = acc[rp + i];
            let vq = acc[rq + i];
            acc[rp + i] = c * vp - s * vq;
            acc[rq + i] = s * vp + c * vq;
          }
        }
      }
      workgroupBarrier();
      if (!V_IN_WG) { storageBarrier(); }
    }
    atomicAdd(&nrot, mine);
    workgroupBarrier();
    if (tid == 0u) { wflag = atomicExchange(&nrot, 0u); }
    let rotated = workgroupUniformLoad(&wflag);
    total += rotated;
    if (rotated == 0u) {
      converged = 1u;
      break;
    }
  }
  return vec3u(sweeps, converged, total);
}

// ---------------------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn small(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = flat_group(wg, nwg);
  if (b >= p.batch) { return; }
  let tid = lid.x;
  let n = p.n;
  let m = p.m;
  let o = b * INFO;
  if (tid == 0u) {
    wflag = u32(info[o + 2u]);
    atomicStore(&nrot, 0u);
  }
  if (workgroupUniformLoad(&wflag) != 0u) { return; } // non-finite input: the wrapper throws
  let s = info[o + 4u];
  let flr = p.floorRel * info[o + 3u];
  let vbase = b * m * m;
  let base = b * n * n;
  for (var e = tid; e < m * m; e += WG) {
    let i = e / m;
    let j = e % m;
    if (i <= j) {
      var a = 0.0;
      if (j < n) { a = (src[base + i * n + j] * s + src[base + j * n + i] * s) * 0.5; }
      sa[pk(i, j)] = a;
    }
    if (V_IN_WG) { sv[e] = select(0.0, 1.0, i == j); } else { acc[vbase + e] = select(0.0, 1.0, i == j); }
  }
  workgroupBarrier();
  storageBarrier();
  let res = jacobi(select(vbase, 0u, V_IN_WG), m, p.tol, flr, p.maxSweeps, tid);
  // Ascending order by rank (ties by index, so equal eigenvalues keep a stable order).
  for (var i = tid; i < n; i += WG) {
    let di = sa[pk(i, i)];
    var r = 0u;
    for (var j = 0u; j < n; j += 1u) {
      let dj = sa[pk(j, j)];
      if (dj < di || (dj == di && j < i)) { r += 1u; }
    }
    rpq[i] = r;
    info[p.valOff + b * n + r] = di / s;
  }
  workgroupBarrier();
  for (var e = tid; e < n * n; e += WG) {
    let j = e / n;
    let r = e % n;
    if (V_IN_WG) {
      vecs[base + r * n + rpq[j]] = sv[j * m + r];
    } else {
      vecs[base + r * n + rpq[j]] = acc[vbase + j * m + r];
    }
  }
  if (tid == 0u) {
    info[o + 5u] = f32(res.x);
    info[o + 6u] = f32(res.y);
    info[o + 7u] = f32(res.z);
  }
}

// ---- blocked path ------------------------------------------------------------------------------

/// Global index of local row i (< 32) of the tile of block pair (bp, bq). Copy in eigh_blocked.wgsl.
fn tile_row(pq: vec2u, i: u32) -> u32 {
  return select(pq.y * BS + i - BS, pq.x * BS + i, i < BS);
}

@compute @workgroup_size(WG)
fn big_solve(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let b = wg.z;
  let k = wg.x;
  let tid = lid.x;
  let N = p.N;
  let h = p.nb / 2u;
  let cbase = b * p.ctrStride;
  if (tid == 0u) {
    atomicStore(&nrot, 0u);
    var done = p.sweep > 0u && atomicLoad(&ctr[cbase + p.sweep - 1u]) == 0u;
    // A matrix whose earlier sweep converged stops; so does one the wrapper will refuse.
    done = done || info[b * INFO + 2u] != 0.0;
    wflag = select(0u, 1u, done);
  }
  if (workgroupUniformLoad(&wflag) != 0u) {
    if (tid == 0u) { atomicStore(&ctr[cbase + p.maxSweeps + k], 0u); }
    return;
  }
  let pq = pair_of(p.nb, p.step, k);
  let abase = b * N * N;
  let vbase = (b * h + k) * T2 * T2;
  for (var e = tid; e < T2 * T2; e += WG) {
    let i = e / T2;
    let j = e % T2;
    if (i <= j) { sa[pk(i, j)] = wa[abase + tile_row(pq, i) * N + tile_row(pq, j)]; }
    sv[e] = select(0.0, 1.0, i == j);
  }
  workgroupBarrier();
  let flr = p.floorRel * info[b * INFO + 3u];
  let res = jacobi(0u, T2, p.tol, flr, p.innerSweeps, tid);
  if (res.z > 0u) {
    // The rotated subproblem is the new diagonal tile of the pair: its off-diagonal entries are
    // exact zeros or rotated values, never product round-off of the (large) diagonal.
    for (var e = tid; e < T2 * T2; e += WG) {
      let i = e / T2;
      let j = e % T2;
      wa[abase + tile_row(pq, i) * N + tile_row(pq, j)] = sa[pk(i, j)];
    }
  }
  if (res.z > 0u) {
    // J^T has drifted from orthogonality by about u per inner step; V is multiplied by one such J
    // per outer step, so the drift would add up over the solve. One Newton-Schulz step,
    // J^T <- J^T - (J^T J - I) J^T / 2, takes it back to round-off (the error is squared).
    for (var e = tid; e < T2 * T2; e += WG) { tX[e] = sv[e]; }
    workgroupBarrier();
    for (var e = tid; e < T2 * T2; e += WG) {
      let i = e / T2;
      let j = e % T2;
      var g = 0.0;
      for (var q = 0u; q < T2; q += 1u) { g += tX[i * T2 + q] * tX[j * T2 + q]; }
      tJk[e] = g - select(0.0, 1.0, i == j);
    }
    workgroupBarrier();
    for (var e = tid; e < T2 * T2; e += WG) {
      let i = e / T2;
      let j = e % T2;
      var c = 0.0;
      for (var q = 0u; q < T2; q += 1u) { c += tJk[i * T2 + q] * tX[q * T2 + j]; }
      acc[vbase + e] = tX[e] - 0.5 * c;
    }
  }
  if (tid == 0u) {
    atomicStore(&ctr[cbase + p.maxSweeps + k], select(0u, 1u, res.z > 0u));
    atomicAdd(&ctr[cbase + p.sweep], res.z);
  }
}
