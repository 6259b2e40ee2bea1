/**
 * The batched Jacobi eigensolver (shaders/eigh.wgsl, src/ops/eigh.ts) against the f64
 * reference `eighSym`, with the float32 bounds of the issue (u = 2^-24):
 *   |lambda_i - lambda_i_ref| <= 10 n u ||A||_2
 *   max|V^T V - I|            <= 10 n u
 *   ||A V - V Lambda||_F      <= 10 n u ||A||_F
 * on random, clustered, repeated, wide-range, diagonal, zero, rank-1 and indefinite matrices
 * and the fixtures' KFAC factors and NTKs, through both paths (one workgroup per matrix and
 * blocked multi-dispatch); plus the algorithm's CPU twin, bad input and non-convergence.
 * The worst ratio to each bound is printed at the end.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { fixtureFiles, loadFixture } from './helpers/fixtures';
import { eigh, eighBatched, maxWorkgroupSize, type EighMethod } from '../src/ops/eigh';
import { eighSym } from '../src/math/linalg';
import { jacobiEigh, roundRobinPair } from '../src/reference/jacobi';
import { Rng } from '../src/util/rng';

const U = 2 ** -24;

// ---- matrices (all rounded to float32, so the GPU and the reference see the same input) ----

function symmetricFromLower(n: number, f: (i: number, j: number) => number): Float64Array {
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      const v = Math.fround(f(i, j));
      A[i * n + j] = v;
      A[j * n + i] = v;
    }
  return A;
}

/** Random orthogonal matrix: modified Gram-Schmidt (twice) on a Gaussian matrix. */
function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const Q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) Q[i] = rng.normal();
  const col = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    for (let pass = 0; pass < 2; pass++)
      for (let k = 0; k < j; k++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += Q[i * n + j] * Q[i * n + k];
        for (let i = 0; i < n; i++) Q[i * n + j] -= d * Q[i * n + k];
      }
    let s = 0;
    for (let i = 0; i < n; i++) s += Q[i * n + j] ** 2;
    s = Math.sqrt(s);
    for (let i = 0; i < n; i++) col[i] = Q[i * n + j] / s;
    for (let i = 0; i < n; i++) Q[i * n + j] = col[i];
  }
  return Q;
}

/** Q diag(lambda) Q^T with a random orthogonal Q. */
function withSpectrum(lambda: number[], rng: Rng): Float64Array {
  const n = lambda.length;
  const Q = randomOrthogonal(n, rng);
  const QL = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) QL[i * n + k] = Q[i * n + k] * lambda[k];
  return symmetricFromLower(n, (i, j) => {
    let s = 0;
    for (let k = 0; k < n; k++) s += QL[i * n + k] * Q[j * n + k];
    return s;
  });
}

type Kind = 'random' | 'clustered' | 'repeated' | 'wide-range' | 'diagonal' | 'zero' | 'rank-1' | 'indefinite';
const KINDS: Kind[] = ['random', 'clustered', 'repeated', 'wide-range', 'diagonal', 'zero', 'rank-1', 'indefinite'];

function makeMatrix(kind: Kind, n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  switch (kind) {
    case 'random':
      return symmetricFromLower(n, () => rng.normal());
    case 'clustered': // three tight clusters (spread 1e-6 relative) around -1, 0.5, 2
      return withSpectrum(Array.from({ length: n }, (_, i) => [-1, 0.5, 2][i % 3] * (1 + 1e-6 * rng.normal())), rng);
    case 'repeated': // eigenvalues 1, 2, 3 with multiplicity ~n/3 (and a 0 when n = 1)
      return withSpectrum(Array.from({ length: n }, (_, i) => (i % 3) + (n > 1 ? 1 : 0)), rng);
    case 'wide-range': // log-spaced 1e-6 ... 1, positive definite
      return withSpectrum(Array.from({ length: n }, (_, i) => (n === 1 ? 1 : 10 ** (-6 * (i / (n - 1))))), rng);
    case 'diagonal': // unsorted, with a repeated value
      return symmetricFromLower(n, (i, j) => (i === j ? (i % 4 === 3 ? 0.25 : rng.normal()) : 0));
    case 'zero':
      return new Float64Array(n * n);
    case 'rank-1': {
      const x = Array.from({ length: n }, () => rng.normal());
      return symmetricFromLower(n, (i, j) => x[i] * x[j]);
    }
    case 'indefinite': // eigenvalues of both signs spanning 1e-3 ... 1 in magnitude
      return withSpectrum(Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * 10 ** (-3 * rng.uniform())), rng);
  }
}

// ---- the three criteria ----

interface Ratios {
  eig: number;
  orth: number;
  res: number;
}

const worst = new Map<string, Ratios & { where: Record<keyof Ratios, string> }>();

function record(group: string, where: string, r: Ratios): void {
  let w = worst.get(group);
  if (!w) {
    w = { eig: 0, orth: 0, res: 0, where: { eig: '', orth: '', res: '' } };
    worst.set(group, w);
  }
  for (const k of ['eig', 'orth', 'res'] as const) {
    if (r[k] >= w[k]) {
      w[k] = r[k];
      w.where[k] = where;
    }
  }
}

/**
 * Ratios of the measured errors to the bounds (<= 1 passes). Computed in float64 on the f32 input
 * `A`; a zero bound (zero matrix) demands an exact result (ratio 0 or Infinity).
 */
function ratios(A: Float64Array, n: number, values: ArrayLike<number>, V: ArrayLike<number>): Ratios {
  const ref = eighSym(A, n);
  const norm2 = n ? Math.max(Math.abs(ref.values[0]), Math.abs(ref.values[n - 1])) : 0;
  let fro = 0;
  for (let i = 0; i < n * n; i++) fro += A[i] * A[i];
  fro = Math.sqrt(fro);
  const ratio = (err: number, bound: number) => (err === 0 ? 0 : bound === 0 ? Infinity : err / bound);
  let eigErr = 0;
  for (let i = 0; i < n; i++) eigErr = Math.max(eigErr, Math.abs(values[i] - ref.values[i]));
  if (!(eigErr >= 0)) eigErr = Infinity; // NaN
  let orthErr = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += V[k * n + i] * V[k * n + j];
      const d = Math.abs(s - (i === j ? 1 : 0));
      orthErr = Number.isNaN(d) ? Infinity : Math.max(orthErr, d);
    }
  let res = 0;
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let k = 0; k < n; k++) {
      const a = A[i * n + k];
      if (a === 0) continue;
      for (let j = 0; j < n; j++) row[j] += a * V[k * n + j];
    }
    for (let j = 0; j < n; j++) res += (row[j] - V[i * n + j] * values[j]) ** 2;
  }
  res = Math.sqrt(res);
  if (Number.isNaN(res)) res = Infinity;
  // Ascending order is part of the contract.
  for (let i = 1; i < n; i++) if (!(values[i] >= values[i - 1])) return { eig: Infinity, orth: 0, res: 0 };
  return { eig: ratio(eigErr, 10 * n * U * norm2), orth: ratio(orthErr, 10 * n * U), res: ratio(res, 10 * n * U * fro) };
}

function expectWithinBounds(r: Ratios, what: string): void {
  expect(r.eig, `${what}: eigenvalue error / (10 n u ||A||_2)`).toBeLessThanOrEqual(1);
  expect(r.orth, `${what}: max|V^T V - I| / (10 n u)`).toBeLessThanOrEqual(1);
  expect(r.res, `${what}: ||AV - V Lambda||_F / (10 n u ||A||_F)`).toBeLessThanOrEqual(1);
}

/** Solve a batch on the GPU and check every matrix against the bounds. */
async function solveAndCheck(mats: Float64Array[], n: number, group: string, label: string, method?: EighMethod): Promise<void> {
  const ctx = await gpuContext();
  const live = ctx.liveTensors;
  const flat = new Float64Array(mats.length * n * n);
  mats.forEach((M, b) => flat.set(M, b * n * n));
  const t = ctx.upload(flat, [Math.max(flat.length, 1)], 'eigh test input');
  const r = await eighBatched(ctx, t, n, mats.length, { method });
  const V = await ctx.read(r.vectors);
  t.destroy();
  r.vectors.destroy();
  expect(ctx.liveTensors).toBe(live);
  if (method) expect(r.method).toBe(method);
  for (let b = 0; b < mats.length; b++) {
    const what = `${label}${mats.length > 1 ? ` #${b}` : ''} (${r.method}, ${r.sweeps[b]} sweeps)`;
    expect(r.converged[b], `${what} converged`).toBe(true);
    const q = ratios(mats[b], n, r.values.subarray(b * n, (b + 1) * n), V.subarray(b * n * n, (b + 1) * n * n));
    record(group, what, q);
    expectWithinBounds(q, what);
  }
}

afterAll(() => {
  const lines = [...worst.entries()].map(
    ([g, w]) =>
      `${g.padEnd(26)} eig ${w.eig.toFixed(3)} (${w.where.eig})  orth ${w.orth.toFixed(3)} (${w.where.orth})  res ${w.res.toFixed(3)} (${w.where.res})`,
  );
  if (lines.length) console.log(`worst ratio to each bound (<= 1 passes):\n${lines.join('\n')}`);
});

// ---- tests ----

describe('round-robin Jacobi twin (CPU)', () => {
  it('each round pairs every index once and a sweep meets every pair once', () => {
    for (const m of [2, 4, 6, 8, 16, 34, 128]) {
      const met = new Set<number>();
      for (let step = 0; step < m - 1; step++) {
        const used = new Set<number>();
        for (let k = 0; k < m / 2; k++) {
          const [p, q] = roundRobinPair(m, step, k);
          expect(p).not.toBe(q);
          expect(used.has(p) || used.has(q)).toBe(false);
          used.add(p);
          used.add(q);
          met.add(Math.min(p, q) * m + Math.max(p, q));
        }
      }
      expect(met.size).toBe((m * (m - 1)) / 2);
    }
  });

  it('converges in float32 arithmetic within the bounds on every kind of matrix', () => {
    for (const kind of KINDS)
      for (const n of [1, 7, 24]) {
        const A = makeMatrix(kind, n, 100 + n);
        const r = jacobiEigh(A, n, { f32: true });
        expect(r.converged, `${kind} ${n}`).toBe(true);
        expect(r.sweeps).toBeLessThanOrEqual(15);
        expectWithinBounds(ratios(A, n, r.values, r.vectors), `twin ${kind} n=${n}`);
      }
  });
});

describe('eigh on the GPU: sizes x matrix kinds (auto path)', () => {
  for (const n of [1, 2, 3, 7, 16, 33, 64, 100, 257]) {
    it(`n = ${n}`, async () => {
      for (const kind of KINDS) await solveAndCheck([makeMatrix(kind, n, 7 * n + kind.length)], n, n <= 124 ? 'workgroup path' : 'blocked path', `${kind} n=${n}`);
    });
  }
});

describe('eigh on the GPU: blocked path on small sizes', () => {
  for (const n of [5, 33, 64, 100]) {
    it(`n = ${n}`, async () => {
      for (const kind of KINDS) await solveAndCheck([makeMatrix(kind, n, 11 * n + kind.length)], n, 'blocked path', `${kind} n=${n}`, 'blocked');
    });
  }
  it('a batch of 3 matrices of 70 x 70', async () => {
    await solveAndCheck([makeMatrix('random', 70, 1), makeMatrix('wide-range', 70, 2), makeMatrix('rank-1', 70, 3)], 70, 'blocked path', 'batch 70', 'blocked');
  });
});

describe('eigh on the GPU: batches', () => {
  it('50 matrices of 12 x 12, every kind', async () => {
    const mats = Array.from({ length: 50 }, (_, b) => makeMatrix(KINDS[b % KINDS.length], 12, 1000 + b));
    await solveAndCheck(mats, 12, 'batches', '12x12', 'workgroup');
  });
  it('256 matrices of 16 x 16', async () => {
    const mats = Array.from({ length: 256 }, (_, b) => makeMatrix('random', 16, 2000 + b));
    await solveAndCheck(mats, 16, 'batches', '16x16', 'workgroup');
  });
  it('the largest one-workgroup size of this device', async () => {
    const ctx = await gpuContext();
    const n = maxWorkgroupSize(ctx);
    await solveAndCheck([makeMatrix('random', n, 5), makeMatrix('indefinite', n, 6)], n, 'workgroup path', `max n=${n}`, 'workgroup');
  });
});

describe('eigh on the GPU: fixtures (KFAC factors A, G and NTKs)', () => {
  for (const file of fixtureFiles()) {
    const fx = loadFixture(file);
    it(fx.name, async () => {
      const toMat = (rows: number[][]) => {
        const n = rows.length;
        return { n, A: symmetricFromLower(n, (i, j) => rows[i][j]) };
      };
      // Every fixture stores the kfac key (one entry per parametrized layer): a fixture without it
      // would leave this test nothing to solve.
      const kfac = fx.expected.kfac as { A: number[][]; G: number[][] }[];
      expect(kfac.length).toBeGreaterThan(0);
      for (const [l, layer] of kfac.entries()) {
        for (const key of ['A', 'G'] as const) {
          const { n, A } = toMat(layer[key]);
          await solveAndCheck([A], n, 'fixtures', `${fx.name} kfac[${l}].${key} ${n}x${n}`);
        }
      }
      if (fx.expected.ntk) {
        const { n, A } = toMat(fx.expected.ntk as number[][]);
        await solveAndCheck([A], n, 'fixtures', `${fx.name} ntk ${n}x${n}`);
        if (n > 32) await solveAndCheck([A], n, 'fixtures', `${fx.name} ntk ${n}x${n}`, 'blocked');
      }
    });
  }
});

describe('eigh on the GPU: extreme scales', () => {
  it('entries near 1e30 and 1e-30 (theta^2 and ||A||_F would overflow / underflow unscaled)', async () => {
    for (const scale of [1e30, 1e-30, 3e37]) {
      for (const [n, method] of [[20, 'workgroup'], [40, 'blocked']] as const) {
        const A = makeMatrix('indefinite', n, 77).map((x) => Math.fround(x * scale));
        await solveAndCheck([A], n, 'extreme scales', `indefinite x ${scale} n=${n}`, method);
      }
    }
  });
});

describe('eigh: bad input and non-convergence', () => {
  it('refuses NaN and Infinity (GPU check and host check)', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    for (const method of ['workgroup', 'blocked'] as const) {
      const A = makeMatrix('random', 40, 3);
      A[5 * 40 + 7] = NaN;
      const B = makeMatrix('random', 40, 4);
      B[0] = Infinity;
      const t = ctx.upload([...makeMatrix('random', 40, 2), ...A, ...B], [3 * 1600]);
      await expect(eighBatched(ctx, t, 40, 3, { method })).rejects.toThrow(/matrix 1 of 3 has 1 non-finite entries/);
      t.destroy();
    }
    const A = makeMatrix('random', 6, 3);
    A[2 * 6 + 4] = NaN;
    await expect(eigh(ctx, A, 6)).rejects.toThrow(/entry \[2\]\[4\] is NaN/);
    expect(ctx.liveTensors).toBe(live);
  });

  it('refuses asymmetric matrices beyond the tolerance and accepts round-off asymmetry', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const A = makeMatrix('random', 20, 8);
    A[3 * 20 + 11] += 0.01;
    for (const method of ['workgroup', 'blocked'] as const) {
      const t = ctx.upload(A, [400]);
      await expect(eighBatched(ctx, t, 20, 1, { method })).rejects.toThrow(/not symmetric: max\|A\[i\]\[j\] - A\[j\]\[i\]\|/);
      t.destroy();
    }
    await expect(eigh(ctx, A, 20)).rejects.toThrow(/not symmetric: \|A\[3\]\[11\] - A\[11\]\[3\]\|/);
    // Round-off asymmetry (a Gram computed without mirroring) is within the default tolerance;
    // the solver uses (A + A^T)/2.
    const B = makeMatrix('random', 20, 9);
    B[3 * 20 + 11] = Math.fround(B[3 * 20 + 11] * (1 + 4 * U));
    const r = await eigh(ctx, B, 20);
    const Bs = Float64Array.from(B);
    Bs[3 * 20 + 11] = Bs[11 * 20 + 3] = (B[3 * 20 + 11] + B[11 * 20 + 3]) / 2;
    expectWithinBounds(ratios(Bs, 20, r.values, r.vectors), 'symmetrized');
    expect(ctx.liveTensors).toBe(live);
  });

  it('reports non-convergence within the sweep cap, and eigh() throws', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    for (const method of ['workgroup', 'blocked'] as const) {
      const mats = [makeMatrix('random', 40, 1), makeMatrix('diagonal', 40, 2)];
      const t = ctx.upload([...mats[0], ...mats[1]], [2 * 1600]);
      const r = await eighBatched(ctx, t, 40, 2, { method, maxSweeps: 1 });
      // One sweep cannot diagonalize a random matrix; a diagonal one needs exactly one.
      expect(r.converged).toEqual([false, true]);
      expect(r.sweeps).toEqual([1, 1]);
      t.destroy();
      r.vectors.destroy();
    }
    await expect(eigh(ctx, makeMatrix('random', 30, 1), 30, { maxSweeps: 2 })).rejects.toThrow(/did not converge in 2 sweeps/);
    expect(ctx.liveTensors).toBe(live);
  });

  it('refuses a matrix beyond the device limits with a LimitError, and the one-workgroup path beyond workgroup memory', async () => {
    const ctx = await gpuContext();
    const n = Math.ceil(Math.sqrt(ctx.limits.maxStorageBufferBindingSize / 4)) + 32;
    await expect(eighBatched(ctx, ctx.placeholder, n, 1)).rejects.toThrow(/elements/); // input too small: named first
    const big = { size: n * n, label: 'fake', shape: [n * n] } as unknown as Parameters<typeof eighBatched>[1];
    await expect(eighBatched(ctx, big, n, 1)).rejects.toMatchObject({ name: 'LimitError' });
    const m = maxWorkgroupSize(ctx) + 2;
    const t = ctx.tensor([m * m]);
    await expect(eighBatched(ctx, t, m, 1, { method: 'workgroup' })).rejects.toMatchObject({ name: 'LimitError' });
    t.destroy();
  });

  it('handles n = 0 and batch = 0', async () => {
    const ctx = await gpuContext();
    const r = await eighBatched(ctx, ctx.placeholder, 0, 3);
    expect(r.values.length).toBe(0);
    expect(r.converged).toEqual([true, true, true]);
    r.vectors.destroy();
  });
});
