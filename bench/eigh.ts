/**
 * Benchmark of the batched WGSL Jacobi eigensolver (src/ops/eigh.ts) against the float64
 * TypeScript reference `eighSym` (Householder + implicit QL, src/math/linalg.ts).
 *
 * Cases: one random symmetric n x n matrix for n = 16 ... 1024 (entries N(0, 1)), and batches of
 * small positive semi-definite "factors" (Grams X X^T / k of random X with k < n, so rank-deficient
 * like KFAC factors at small batch sizes): 256 of 16 x 16, 64 of 64 x 64, 16 of 124 x 124.
 * For each: GPU time (median of `--reps`, after a warm-up that compiles the pipelines; the input
 * is resident, the eigenvalues are read back, the eigenvectors stay on the GPU), the f64
 * reference time for the same matrices, the ratio, the sweeps, and the accuracy
 * max_i |lambda_i - lambda_i_ref| / ||A||_2 (worst matrix), also as a fraction of the tested
 * bound 10 n u (u = 2^-24).
 *
 * Usage: `benchEigh(ctx, args)` returns printable lines (bench/main.ts prints them).
 *   --sizes 16,32,64    sizes of the single-matrix cases (default 16,32,64,128,256,512,1024)
 *   --batches 256x16    batch cases, count x size (default 256x16,64x64,16x124; "none" to skip)
 *   --reps 3            timed repetitions (default 3; sizes >= 512 run once)
 */
import type { GpuContext } from '../src/gpu/context';
import { eighBatched } from '../src/ops/eigh';
import { eighSym } from '../src/math/linalg';
import { Rng } from '../src/util/rng';

const U = 2 ** -24;

function argValue(args: string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
}

function randomSymmetric(n: number, rng: Rng): Float64Array {
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      const v = Math.fround(rng.normal());
      A[i * n + j] = v;
      A[j * n + i] = v;
    }
  return A;
}

/** X X^T / k with X n x k Gaussian, k = max(1, n/2): PSD of rank k, like a factor from few examples. */
function gramFactor(n: number, rng: Rng): Float64Array {
  const k = Math.max(1, Math.floor(n / 2));
  const X = Float64Array.from({ length: n * k }, () => rng.normal());
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += X[i * k + p] * X[j * k + p];
      A[i * n + j] = A[j * n + i] = Math.fround(s / k);
    }
  return A;
}

function median(ts: number[]): number {
  const s = [...ts].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

interface Case {
  label: string;
  n: number;
  mats: Float64Array[];
}

async function runCase(ctx: GpuContext, c: Case, reps: number): Promise<string> {
  const { n, mats } = c;
  const batch = mats.length;
  const flat = new Float32Array(batch * n * n);
  mats.forEach((M, b) => flat.set(M, b * n * n));
  const input = ctx.upload(flat, [flat.length], `bench eigh ${c.label}`);
  try {
    // Warm-up: compiles the pipelines. A large blocked case warms up on a small blocked matrix
    // (same pipelines) instead of paying for a second full solve.
    if (n >= 256) {
      const w = ctx.upload(randomSymmetric(40, new Rng(1)), [1600]);
      (await eighBatched(ctx, w, 40, 1, { method: 'blocked' })).vectors.destroy();
      w.destroy();
    } else {
      (await eighBatched(ctx, input, n, batch)).vectors.destroy();
    }
    const times: number[] = [];
    let last: Awaited<ReturnType<typeof eighBatched>> | null = null;
    for (let r = 0; r < reps; r++) {
      await ctx.sync();
      const t0 = performance.now();
      const res = await eighBatched(ctx, input, n, batch);
      await ctx.sync();
      times.push(performance.now() - t0);
      last?.vectors.destroy();
      last = res;
    }
    const res = last!;
    res.vectors.destroy();
    const gpu = median(times);

    eighSym(mats[0].subarray(0, Math.min(n, 16) ** 2), Math.min(n, 16)); // JIT warm-up of the reference
    const refTimes: number[] = [];
    let worst = 0;
    for (let r = 0; r < (n >= 512 ? 1 : reps); r++) {
      const t0 = performance.now();
      const refs = mats.map((M) => eighSym(M, n));
      refTimes.push(performance.now() - t0);
      if (r === 0) {
        refs.forEach((ref, b) => {
          const norm2 = Math.max(Math.abs(ref.values[0]), Math.abs(ref.values[n - 1]));
          let e = 0;
          for (let i = 0; i < n; i++) e = Math.max(e, Math.abs(res.values[b * n + i] - ref.values[i]));
          worst = Math.max(worst, norm2 > 0 ? e / norm2 : e);
        });
      }
    }
    const cpu = median(refTimes);
    const sweeps = [...new Set(res.sweeps)].sort((a, b) => a - b);
    const sweepText = sweeps.length > 1 ? `${sweeps[0]}-${sweeps[sweeps.length - 1]}` : `${sweeps[0]}`;
    const allConverged = res.converged.every(Boolean);
    return [
      c.label.padEnd(14),
      res.method.padEnd(9),
      `gpu ${fmtMs(gpu)}`.padEnd(14),
      `f64 ${fmtMs(cpu)}`.padEnd(14),
      `gpu/f64 ${(gpu / cpu).toFixed(2)}x`.padEnd(15),
      `sweeps ${sweepText}${allConverged ? '' : ' (NOT CONVERGED)'}`.padEnd(13),
      `max|dl|/||A||2 ${worst.toExponential(2)} (${(worst / (10 * n * U)).toFixed(3)} of 10nu)`,
    ].join(' ');
  } finally {
    input.destroy();
  }
}

/** Times the GPU Jacobi against the f64 reference; returns report lines. */
export async function benchEigh(ctx: GpuContext, args: string[] = []): Promise<string[]> {
  const sizes = (argValue(args, '--sizes') ?? '16,32,64,128,256,512,1024').split(',').filter(Boolean).map(Number);
  const batchArg = argValue(args, '--batches') ?? '256x16,64x64,16x124';
  const batches = batchArg === 'none' ? [] : batchArg.split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const reps = Math.max(1, Number(argValue(args, '--reps') ?? 3));
  const rng = new Rng(20240611);
  const cases: Case[] = [
    ...sizes.map((n) => ({ label: `n=${n}`, n, mats: [randomSymmetric(n, rng)] })),
    ...batches.map(([count, n]) => ({ label: `${count}x ${n}x${n}`, n, mats: Array.from({ length: count }, () => gramFactor(n, rng)) })),
  ];
  const lines = [
    `eigh: batched WGSL Jacobi (float32) vs eighSym (float64 Householder + QL, TypeScript) on ${ctx.adapter.summary}`,
    `  median of ${reps} (one run for n >= 512); singles are random symmetric N(0,1), batches are rank-n/2 Gram factors`,
  ];
  for (const c of cases) {
    const live = ctx.liveTensors;
    lines.push(`  ${await runCase(ctx, c, c.n >= 512 ? 1 : reps)}`);
    if (ctx.liveTensors !== live) throw new Error(`benchEigh leaked ${ctx.liveTensors - live} tensors in ${c.label}`);
  }
  return lines;
}
