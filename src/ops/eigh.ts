/**
 * Typed wrapper of the eigensolver shaders (eigh_check, eigh, eigh_blocked .wgsl): batched
 * symmetric eigendecomposition by parallel cyclic Jacobi in float32 (round-robin ordering,
 * relative stopping test, sweep cap).
 *
 * Two paths, chosen by size (or `opts.method`):
 * - `workgroup`: one workgroup per matrix, the packed matrix in workgroup memory, the whole solve
 *   in one dispatch. Used when the even working size m = n + (n mod 2) fits the device's
 *   workgroup storage (m <= 124 with 32 KiB, m <= 86 with the WebGPU default 16 KiB). This is the
 *   path for batches of KFAC factors.
 * - `blocked`: block Jacobi for larger matrices (any n the storage limits allow; 1024 is in the
 *   benchmark). The matrix (zero-padded to N, a multiple of 32) is split into blocks of 16; each
 *   step of a round-robin over the blocks runs one Jacobi sweep on the 32 x 32 subproblem of each
 *   of the N/32 block pairs in workgroup memory (same code as the other path), and applies the
 *   accumulated rotations to the rest of A and to V as 32 x 32 tile products. A sweep is
 *   N/16 - 1 steps of two dispatches; the rotation counts are read back after each sweep to stop.
 *   Compared with a scalar multi-dispatch Jacobi (n - 1 dispatches a sweep, each streaming all of
 *   A and V for 2 flops per word) this reads A and V 16 times less often and the work is matrix
 *   products. Two details keep it accurate: each subproblem's rotation is re-orthogonalized (one
 *   Newton-Schulz step) before it touches V, without which V's orthogonality drifted past the
 *   bound at n = 70 ... 257; and the diagonal tiles are the rotated subproblems themselves, not
 *   products (whose round-off the relative stopping test would keep chasing).
 * Both paths sort on the GPU (rank of each eigenvalue by comparison with all others, ties by
 * index), so eigenvalues come back ascending with their vectors and nothing is sorted on the host.
 * Shaders: eigh_check.wgsl (validation and scaling, both paths), eigh.wgsl (the in-workgroup
 * Jacobi: `small`, `big_solve`), eigh_blocked.wgsl (the rest of the blocked path).
 *
 * Accuracy (tests/gpu-eigh.test.ts, u = 2^-24): |lambda_i - lambda_i_ref| <= 10 n u ||A||_2,
 * max|V^T V - I| <= 10 n u, ||A V - V Lambda||_F <= 10 n u ||A||_F.
 *
 * Bad input is refused before any result is returned: non-finite entries and asymmetry beyond
 * `symmetryTol * max|A|` throw an Error naming the matrix. The solver reads (A + A^T)/2.
 * A matrix that has not converged within `maxSweeps` is reported (`converged[b] = false`,
 * its results are the last iterate); the host-array `eigh` throws instead.
 */
import { grid, LimitError, type GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';

export const EIGH_CHECK = kernel({ shader: 'eigh_check', entry: 'check', inputs: ['src'], outputs: ['info'], uniforms: { n: 'u32', batch: 'u32' }, constants: ['WG'] });

/** The in-workgroup Jacobi solver's entries (shaders/eigh.wgsl). */
const solver = (entry: string) =>
  kernel({
    shader: 'eigh',
    entry,
    inputs: ['src'],
    outputs: ['info', 'acc', 'wa', 'ctr', 'vecs'],
    uniforms: {
      n: 'u32', m: 'u32', batch: 'u32', maxSweeps: 'u32',
      tol: 'f32', floorRel: 'f32', step: 'u32', sweep: 'u32',
      N: 'u32', nb: 'u32', ctrStride: 'u32', valOff: 'u32',
      innerSweeps: 'u32',
    },
    constants: ['NP', 'WG', 'V_IN_WG', 'VCAP'],
  });

export const EIGH_SMALL = solver('small');
export const EIGH_BIG_SOLVE = solver('big_solve');

/** The rest of the blocked path (shaders/eigh_blocked.wgsl). */
const blocked = (entry: string, constants: readonly string[] = [], workgroupSize: number | null = null) =>
  kernel({
    shader: 'eigh_blocked',
    entry,
    inputs: ['src', 'acc'],
    outputs: ['info', 'wa', 'vb', 'ctr', 'vecs'],
    uniforms: {
      n: 'u32', N: 'u32', nb: 'u32', step: 'u32',
      maxSweeps: 'u32', ctrStride: 'u32', tilesA: 'u32', tilesV: 'u32',
      valOff: 'u32',
    },
    constants,
    workgroupSize,
  });

export const EIGH_BIG_INIT = blocked('big_init', [], 256);
export const EIGH_BIG_APPLY = blocked('big_apply', [], 32);
export const EIGH_BIG_RANK = blocked('big_rank', ['WG']);
export const EIGH_BIG_GATHER = blocked('big_gather', [], 256);

/** Unit roundoff of float32. */
export const U32 = 2 ** -24;

export type EighMethod = 'workgroup' | 'blocked';

export interface EighOptions {
  /** Relative threshold: a_pq is negligible when |a_pq| <= tol sqrt|a_pp| sqrt|a_qq| (default 2^-24). */
  tol?: number;
  /**
   * Absolute threshold as a fraction of ||A||_F (default 2^-24): entries below u ||A||_F are not
   * rotated, so the skipped ones total at most n u ||A||_F, a tenth of the residual bound. It saves
   * the sweeps that would resolve eigenvalues below u ||A||_F to full relative accuracy (rank-
   * deficient factors and NTKs: 8 -> 2 sweeps for a rank-1 257 x 257, 17 -> 11 with repeated
   * eigenvalues); pass 0 to keep only the relative test.
   */
  floorRel?: number;
  /** Sweep cap (default 30; random f32 matrices need 6 to 15). */
  maxSweeps?: number;
  /** Largest accepted max|A_ij - A_ji| relative to max|A_ij| (default 1e-4). */
  symmetryTol?: number;
  /** Force a path (default: `workgroup` when the matrix fits workgroup memory). */
  method?: 'auto' | EighMethod;
  /**
   * Blocked path: Jacobi sweeps on each 32 x 32 subproblem per step (default 1: more rarely
   * saved an outer sweep and cost up to 3x the subproblem time on lavapipe).
   */
  innerSweeps?: number;
}

export interface EighBatchedResult {
  /** Eigenvalues, ascending within each matrix: `values[b * n + j]`. */
  values: Float32Array;
  /** Eigenvectors [batch, n, n], row-major, column j = eigenvector j (as `eighSym`). The caller destroys it. */
  vectors: Tensor;
  /** Sweeps run per matrix, counting the final sweep that found nothing to rotate. */
  sweeps: number[];
  /** Whether each matrix met the stopping test within `maxSweeps`. */
  converged: boolean[];
  /** The path that ran. */
  method: EighMethod;
}

const INFO = 8;
const TILE = 32; // block pair of the blocked path (2 x 16)

/** Workgroup bytes of the `small` entry for capacity NP (each variable rounded to 16 bytes). */
function smallWorkgroupBytes(np: number): number {
  const r16 = (b: number) => Math.ceil(b / 16) * 16;
  return r16(4 * ((np * (np + 1)) / 2)) + 2 * r16(4 * (np / 2)) + r16(4 * np) + 32;
}

/** Largest even m the one-workgroup path can hold on this device. */
export function maxWorkgroupSize(ctx: GpuContext): number {
  let np = 2;
  while (smallWorkgroupBytes(np + 2) <= ctx.limits.maxComputeWorkgroupStorageSize) np += 2;
  return np;
}

function pow2AtMost(x: number): number {
  return 2 ** Math.floor(Math.log2(x));
}

function chooseMethod(ctx: GpuContext, n: number, opts: EighOptions): EighMethod {
  const m = n + (n % 2);
  const fits = m <= maxWorkgroupSize(ctx);
  const want = opts.method ?? 'auto';
  if (want === 'workgroup' && !fits) {
    throw new LimitError('maxComputeWorkgroupStorageSize', smallWorkgroupBytes(m), ctx.limits.maxComputeWorkgroupStorageSize, `eigh: one-workgroup solve of a ${n}x${n} matrix`);
  }
  if (want === 'auto') return fits ? 'workgroup' : 'blocked';
  return want;
}

/**
 * Eigendecomposition of `batch` symmetric n x n matrices stored consecutively (row-major) in `A`.
 * `A` is not modified. See the module comment for paths, guarantees and errors.
 */
export async function eighBatched(ctx: GpuContext, A: Tensor, n: number, batch = 1, opts: EighOptions = {}): Promise<EighBatchedResult> {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(batch) || batch < 0) throw new Error(`eigh: bad size n = ${n}, batch = ${batch}`);
  if (A.size < batch * n * n) throw new Error(`eigh: tensor ${A.label || ''} has ${A.size} elements, ${batch} matrices of ${n}x${n} need ${batch * n * n}`);
  const maxSweeps = opts.maxSweeps ?? 30;
  if (!Number.isInteger(maxSweeps) || maxSweeps < 1) throw new Error(`eigh: maxSweeps must be a positive integer, got ${maxSweeps}`);
  const innerSweeps = opts.innerSweeps ?? 1;
  if (!Number.isInteger(innerSweeps) || innerSweeps < 1) throw new Error(`eigh: innerSweeps must be a positive integer, got ${innerSweeps}`);
  const tol = opts.tol ?? U32;
  const floorRel = opts.floorRel ?? U32;
  const symTol = opts.symmetryTol ?? 1e-4;
  const method = n === 0 || batch === 0 ? 'workgroup' : chooseMethod(ctx, n, opts);
  if (n === 0 || batch === 0) {
    return { values: new Float32Array(0), vectors: ctx.tensor([batch, n, n], 'eigh vectors'), sweeps: new Array(batch).fill(0), converged: new Array(batch).fill(true), method };
  }

  // Plan every buffer and check it against the limits before allocating any.
  const m = n + (n % 2);
  const N = Math.ceil(n / TILE) * TILE;
  const nb = N / 16;
  const h = nb / 2;
  const ctrStride = maxSweeps + h + N;
  const infoSize = batch * (INFO + n);
  const wgMax = pow2AtMost(Math.min(256, ctx.limits.maxComputeInvocationsPerWorkgroup));
  // One-workgroup path: capacity rounded up to a multiple of 8 so that few pipelines serve all
  // sizes; V^T in workgroup memory too when it fits (up to m = 64 with 32 KiB), which keeps the
  // whole solve out of global memory on a GPU; otherwise V^T lives in `acc`.
  const np8 = Math.ceil(m / 8) * 8;
  const np = np8 <= maxWorkgroupSize(ctx) ? np8 : m;
  const vInWg = smallWorkgroupBytes(np) + 4 * np * np <= ctx.limits.maxComputeWorkgroupStorageSize;
  const sizes: Record<string, number> = method === 'workgroup'
    ? { info: infoSize, acc: vInWg ? 1 : batch * m * m, vectors: batch * n * n }
    : { info: infoSize, acc: batch * h * TILE * TILE, wa: batch * N * N, vb: batch * N * N, ctr: batch * ctrStride, vectors: batch * n * n };
  for (const [k, v] of Object.entries(sizes)) ctx.checkStorageBytes(v * 4, `eigh ${k} buffer (${batch} x ${n}x${n})`);
  if (method === 'blocked' && batch > ctx.limits.maxComputeWorkgroupsPerDimension) {
    throw new LimitError('maxComputeWorkgroupsPerDimension', batch, ctx.limits.maxComputeWorkgroupsPerDimension, `eigh: blocked solve of a batch of ${batch}`);
  }

  const owned: Tensor[] = [];
  const alloc = (size: number, label: string) => {
    const t = ctx.tensor([Math.max(size, 1)], label);
    owned.push(t);
    return t;
  };
  const info = alloc(sizes.info, 'eigh info');
  const acc = alloc(sizes.acc, 'eigh rotations');
  const wa = method === 'blocked' ? alloc(sizes.wa, 'eigh A work') : alloc(1, 'eigh unused');
  const vb = method === 'blocked' ? alloc(sizes.vb, 'eigh V work') : alloc(1, 'eigh unused');
  const ctr = method === 'blocked' ? alloc(sizes.ctr, 'eigh counters') : alloc(1, 'eigh unused');
  const vectors = ctx.tensor([batch, n, n], 'eigh vectors');
  const solveUniforms = (step = 0, sweep = 0) => ({
    n, m, batch, maxSweeps, tol, floorRel, step, sweep, N, nb, ctrStride, valOff: batch * INFO, innerSweeps,
  });
  const blockedUniforms = (step = 0) => ({
    n, N, nb, step, maxSweeps, ctrStride, tilesA: h * Math.floor(h / 2), tilesV: h * (N / TILE), valOff: batch * INFO,
  });
  const solve = (k: typeof EIGH_SMALL, workgroups: readonly [number, number?, number?], constants: Record<string, number>, step = 0, sweep = 0) =>
    ctx.dispatch(k, { inputs: [A], outputs: [info, acc, wa, ctr, vectors], uniforms: solveUniforms(step, sweep), constants, workgroups });
  const blockedStep = (k: typeof EIGH_BIG_INIT, workgroups: readonly [number, number?, number?], constants: Record<string, number> = {}, step = 0) =>
    ctx.dispatch(k, { inputs: [A, acc], outputs: [info, wa, vb, ctr, vectors], uniforms: blockedUniforms(step), constants, workgroups });
  const maxWg = ctx.limits.maxComputeWorkgroupsPerDimension;

  try {
    ctx.dispatch(EIGH_CHECK, { inputs: [A], outputs: [info], uniforms: { n, batch }, constants: { WG: wgMax }, workgroups: grid(batch, maxWg) });
    let sweeps: number[];
    let converged: boolean[];
    if (method === 'workgroup') {
      // Enough invocations for the V update (m/2 x m rotations of 2 entries) without idling most of them.
      const wg = Math.min(wgMax, m <= 16 ? 64 : m <= 48 ? 128 : 256);
      solve(EIGH_SMALL, grid(batch, maxWg), { NP: np, WG: wg, V_IN_WG: vInWg ? 1 : 0, VCAP: vInWg ? np * np : 1 });
      const meta = await ctx.read(info);
      validate(meta, batch, symTol);
      sweeps = [];
      converged = [];
      for (let b = 0; b < batch; b++) {
        sweeps.push(meta[b * INFO + 5]);
        converged.push(meta[b * INFO + 6] === 1);
      }
      return { values: meta.slice(batch * INFO), vectors, sweeps, converged, method };
    }
    // Blocked path. Validate first: a refused matrix should not cost a full solve.
    validate(await ctx.read(info, 0, batch * INFO), batch, symTol);
    const [ix, iy] = grid(Math.ceil(Math.max(N * N, ctrStride) / 256), maxWg);
    blockedStep(EIGH_BIG_INIT, [ix, iy, batch]);
    const [ax, ay] = grid(h * Math.floor(h / 2) + h * (N / TILE), maxWg);
    // One warp-sized workgroup per 32 x 32 subproblem (measured on lavapipe: 32 was ~10% faster than 64 or 128).
    const solveWg = Math.min(wgMax, 32);
    sweeps = new Array(batch).fill(maxSweeps);
    converged = new Array(batch).fill(false);
    for (let sweep = 0; sweep < maxSweeps; sweep++) {
      for (let step = 0; step < nb - 1; step++) {
        solve(EIGH_BIG_SOLVE, [h, 1, batch], { NP: TILE, WG: solveWg, V_IN_WG: 1, VCAP: TILE * TILE }, step, sweep);
        blockedStep(EIGH_BIG_APPLY, [ax, ay, batch], {}, step);
      }
      const counts = new Uint32Array((await ctx.read(ctr)).buffer);
      let all = true;
      for (let b = 0; b < batch; b++) {
        if (converged[b]) continue;
        if (counts[b * ctrStride + sweep] === 0) {
          converged[b] = true;
          sweeps[b] = sweep + 1;
        } else all = false;
      }
      if (all) break;
    }
    blockedStep(EIGH_BIG_RANK, [Math.ceil(n / wgMax), 1, batch], { WG: wgMax });
    const [gx, gy] = grid(Math.ceil((n * n) / 256), maxWg);
    blockedStep(EIGH_BIG_GATHER, [gx, gy, batch]);
    const values = await ctx.read(info, batch * INFO, batch * n);
    return { values, vectors, sweeps, converged, method };
  } catch (e) {
    vectors.destroy();
    throw e;
  } finally {
    for (const t of owned) t.destroy();
  }
}

/** Throw on the first matrix the `check` kernel found non-finite or asymmetric. */
function validate(meta: Float32Array, batch: number, symTol: number): void {
  for (let b = 0; b < batch; b++) {
    const o = b * INFO;
    const which = batch > 1 ? `matrix ${b} of ${batch}` : 'the matrix';
    if (meta[o + 2] > 0) {
      throw new Error(`eigh: ${which} has ${meta[o + 2]} non-finite entries (NaN or Infinity); an eigendecomposition of it would be meaningless`);
    }
    const maxAbs = meta[o];
    const asym = meta[o + 1];
    if (asym > symTol * maxAbs) {
      throw new Error(
        `eigh: ${which} is not symmetric: max|A[i][j] - A[j][i]| = ${asym.toPrecision(3)} exceeds ${symTol} * max|A| = ${(symTol * maxAbs).toPrecision(3)}; ` +
          'pass (A + A^T)/2 or raise symmetryTol',
      );
    }
  }
}

export interface EighHostResult {
  /** Ascending eigenvalues. */
  values: Float32Array;
  /** Row-major n x n, column j = eigenvector j. */
  vectors: Float32Array;
  sweeps: number;
}

/**
 * Eigendecomposition of one symmetric n x n matrix given on the host (row-major), computed in
 * float32 on the GPU. Checks the input on the host (naming the first bad entry) and throws if
 * the solver did not converge within the sweep cap.
 */
export async function eigh(ctx: GpuContext, A: ArrayLike<number>, n: number, opts: EighOptions = {}): Promise<EighHostResult> {
  if (A.length !== n * n) throw new Error(`eigh: expected ${n}x${n} = ${n * n} entries, got ${A.length}`);
  const symTol = opts.symmetryTol ?? 1e-4;
  let maxAbs = 0;
  for (let i = 0; i < n * n; i++) {
    const x = A[i];
    if (!Number.isFinite(x)) throw new Error(`eigh: entry [${Math.floor(i / n)}][${i % n}] is ${x}; the matrix must be finite`);
    maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const d = Math.abs(A[i * n + j] - A[j * n + i]);
      if (d > symTol * maxAbs) {
        throw new Error(`eigh: the matrix is not symmetric: |A[${i}][${j}] - A[${j}][${i}]| = ${d.toPrecision(3)} exceeds ${symTol} * max|A| = ${(symTol * maxAbs).toPrecision(3)}; pass (A + A^T)/2 or raise symmetryTol`);
      }
    }
  const t = ctx.upload(A, [Math.max(n * n, 1)], 'eigh input');
  try {
    const r = await eighBatched(ctx, t, n, 1, opts);
    try {
      if (!r.converged[0]) {
        throw new Error(`eigh: Jacobi did not converge in ${r.sweeps[0]} sweeps (maxSweeps) for a ${n}x${n} matrix; raise maxSweeps or loosen tol`);
      }
      return { values: r.values, vectors: await ctx.read(r.vectors, 0, n * n), sweeps: r.sweeps[0] };
    } finally {
      r.vectors.destroy();
    }
  } finally {
    t.destroy();
  }
}
