/**
 * f32 matrix products: the engine's `matmul` against TensorFlow.js's WebGPU backend
 * (`tf.matMul`), on the same adapter in the same process.
 *
 * Both sides multiply resident inputs (uploaded and warmed up before timing: pipelines compiled,
 * TF.js's lazy upload done) and each timed repetition ends when the device has finished: ours with
 * `ctx.sync()` (queue.onSubmittedWorkDone), TF.js by submitting its recorded commands and waiting
 * on its queue the same way. Neither reads the product back inside the timing. Repetitions are
 * interleaved (ours, TF.js, ours, ...) so load from other processes hits both alike; the figure is
 * the median. The two results are compared once (normalized max difference).
 *
 * Cases: square 512 and 1024 (the issue's targets: ours >= 1.5x TF.js on lavapipe) and the
 * engine's own shapes (`--shapes`): the NTK's signal Gram S S^T (1280 x 1280, K = 256, B
 * transposed), a backward product (1280 x 256 x 256), and the Gram of a 128 x 85000 Jacobian.
 * Every engine variant is timed too, so the line shows what `matmul()`'s choice is worth.
 *
 *   --reps 5                 timed repetitions (default 5, --quick 3)
 *   --sizes 512,1024         square sizes compared against the target
 *   --shapes MxNxK[:tt],...  more cases; tt = nn, nt, tn, tt (which operand is transposed); "none"
 */
import type { GpuContext } from '../src/gpu/context';
import type { Tensor } from '../src/gpu/tensor';
import { MATMUL_VARIANTS, matmul, matmulVariantFor, type MatmulVariant } from '../src/ops/matmul';
import { Rng } from '../src/util/rng';
import { argNumber, argValue, fmtRatio, interleaved, median, tfjsWebGpu } from './util';

interface Shape {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

const TARGET = 1.5;

function parseShapes(text: string): Shape[] {
  if (text === 'none' || text === '') return [];
  return text.split(',').map((s) => {
    const m = /^(\d+)x(\d+)x(\d+)(?::([nt])([nt]))?$/.exec(s.trim());
    if (!m) throw new Error(`--shapes: "${s}" is not MxNxK or MxNxK:nt (n = plain, t = transposed)`);
    return { M: +m[1], N: +m[2], K: +m[3], transA: m[4] === 't', transB: m[5] === 't' };
  });
}

function label(s: Shape): string {
  const t = s.transA || s.transB ? ` ${s.transA ? 'A^T' : 'A'}${s.transB ? 'B^T' : 'B'}` : '';
  return `${s.M}x${s.N}x${s.K}${t}`;
}

function randomF32(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * rng.uniform() - 1;
  return a;
}

interface CaseResult {
  shape: Shape;
  gflops: Record<string, number>;
  line: string;
}

async function runCase(ctx: GpuContext, s: Shape, reps: number, rng: Rng): Promise<CaseResult> {
  const T = await tfjsWebGpu();
  const tf = T.tf;
  const { M, N, K, transA, transB } = s;
  const flop = 2 * M * N * K;
  // Products per timed repetition: enough work (~0.5 GFLOP) that dispatch overhead is noise.
  const inner = Math.max(1, Math.min(50, Math.round(5e8 / flop)));
  const A = randomF32(M * K, rng);
  const B = randomF32(K * N, rng);
  const auto = matmulVariantFor(ctx);
  const variants: MatmulVariant[] = [auto, ...MATMUL_VARIANTS.filter((v) => v !== auto)];

  const ta = ctx.upload(A, [M * K], 'bench A');
  const tb = ctx.upload(B, [K * N], 'bench B');
  const tc = ctx.tensor([M * N], 'bench C');
  const a = tf.tensor2d(A, transA ? [K, M] : [M, K]);
  const b = tf.tensor2d(B, transB ? [N, K] : [K, N]);
  const owned: Tensor[] = [ta, tb, tc];
  try {
    const ours = (variant: MatmulVariant) => async () => {
      for (let i = 0; i < inner; i++) matmul(ctx, { a: ta, b: tb, c: tc, M, N, K, transA, transB, variant });
      await ctx.sync();
    };
    const theirs = async () => {
      for (let i = 0; i < inner; i++) tf.matMul(a, b, transA, transB).dispose();
      await T.sync();
    };
    // Warm-up (pipeline compilation, TF.js's first upload) and one comparison of the results.
    for (const v of variants.slice(1)) await ours(v)();
    await ours(auto)();
    const mine = await ctx.read(tc);
    const c = tf.matMul(a, b, transA, transB);
    const ref = (await c.data()) as Float32Array;
    c.dispose();
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < mine.length; i++) {
      diff = Math.max(diff, Math.abs(mine[i] - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    const fns = [...variants.map(ours), theirs];
    const times = await interleaved(reps, fns);
    const g = times.map((t) => flop / (median(t) / inner) / 1e6);
    const gflops: Record<string, number> = { 'TF.js': g[g.length - 1] };
    variants.forEach((v, i) => (gflops[v] = g[i]));
    const ratio = gflops[auto] / gflops['TF.js'];
    const others = variants
      .slice(1)
      .map((v) => `${v} ${gflops[v].toFixed(2)}`)
      .join(', ');
    const line = [
      label(s).padEnd(22),
      `ours (${auto}) ${gflops[auto].toFixed(2)} GFLOPS`.padEnd(28),
      `TF.js ${gflops['TF.js'].toFixed(2)} GFLOPS`.padEnd(20),
      `ratio ${fmtRatio(ratio)}`.padEnd(13),
      `[other variants: ${others}; results agree to ${(scale > 0 ? diff / scale : diff).toExponential(1)}]`,
    ].join(' ');
    return { shape: s, gflops, line };
  } finally {
    for (const t of owned) t.destroy();
    a.dispose();
    b.dispose();
  }
}

/** Times the engine's matmul against TF.js WebGPU; returns report lines (the last is the summary). */
export async function benchMatmul(ctx: GpuContext, args: string[] = []): Promise<string[]> {
  const quick = args.includes('--quick');
  const reps = argNumber(args, '--reps', quick ? 3 : 5);
  const sizes = (argValue(args, '--sizes') ?? '512,1024').split(',').filter(Boolean).map(Number);
  const extra = parseShapes(argValue(args, '--shapes') ?? '256x256x256,1280x1280x256:nt,1280x256x256,128x128x85000:nt');
  const T = await tfjsWebGpu();
  const lines = [
    `TF.js: tfjs-core ${T.tf.version_core} + tfjs-backend-webgpu, adapter ${T.adapter}; median of ${reps} interleaved repetitions`,
  ];
  const rng = new Rng(11);
  const targets: CaseResult[] = [];
  for (const n of sizes) {
    const r = await runCase(ctx, { M: n, N: n, K: n, transA: false, transB: false }, reps, rng);
    targets.push(r);
    lines.push(r.line);
  }
  for (const s of extra) lines.push((await runCase(ctx, s, reps, rng)).line);
  const auto = matmulVariantFor(ctx);
  const parts = targets.map((r) => `${r.shape.M}^2 ${fmtRatio(r.gflops[auto] / r.gflops['TF.js'])}`);
  const met = targets.every((r) => r.gflops[auto] / r.gflops['TF.js'] >= TARGET);
  lines.push(`summary: ours (${auto}) / TF.js WebGPU: ${parts.join(', ')} (target >= ${TARGET}x: ${met ? 'met' : 'NOT met'})`);
  return lines;
}
