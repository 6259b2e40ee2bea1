/**
 * The empirical NTK of an MLP 64-256-256-10 (tanh, PyTorch-default init), n = 128 examples,
 * c = 10 outputs: K is (n c) x (n c) = 1280 x 1280 over P = 85002 parameters. Three ways:
 *
 * - ours: one forward pass, one batched backward pass of the n c unit output vectors, and the
 *   factorized per-layer kernels (A~ A~^T) o (S S^T) (src/geometry/kernels.ts), all on the GPU.
 *   Inputs resident, K left on the GPU, timed to device completion; median of `--reps` after a
 *   warm-up run.
 * - TF.js WebGPU, the straightforward way: for every example i and output k, the gradient of
 *   f_k(x_i) with `tf.variableGrads` (a forward and a backward pass each), flattened into row
 *   i c + k of the Jacobian J, then K = J J^T. J (1280 x 85002 f32 = 435 MB) exceeds the
 *   adapter's 128 MiB storage-binding limit, so J is stacked in column blocks that fit and
 *   K = sum_b J_b J_b^T (the same products). Timed once after a warm-up of every kernel.
 * - the float64 reference (src/reference) two ways: the Jacobian route (J, then J J^T with a
 *   blocked CPU Gram) and the factorized route (the same algorithm as ours, on the CPU). The
 *   factorized K is the accuracy oracle: each result reports max|K - K_f64| / max|K_f64|.
 *
 * `--quick` times a subset and extrapolates linearly, and says so in the output: TF.js gradients
 * for the first `--pairs` (default 128) of the 1280 (i, k) pairs, times 1280 / pairs, and the
 * J J^T step as `pairs` rows of K (J_r J^T with a full-size J made of the timed rows repeated),
 * times 1280 / pairs; the f64 Gram over the first tenth of the parameter columns, times 10.
 *
 *   --quick           extrapolate from subsets (seconds instead of minutes on lavapipe)
 *   --pairs 128       (i, k) pairs timed by --quick (divides 1280)
 *   --reps 5          repetitions of ours
 *   --n 128           examples
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { GpuContext } from '../src/gpu/context';
import type { Tensor } from '../src/gpu/tensor';
import { GpuModel } from '../src/nn/gpu-model';
import { identitySeeds } from '../src/ops/loss';
import { tangentKernels } from '../src/geometry/kernels';
import { validateSpec } from '../src/api/validate';
import { planOf } from '../src/model/layout';
import type { ResolvedSpec } from '../src/experiment/types';
import { forward, jacobian, jacobianSignals } from '../src/reference/model';
import { ntkFromJacobian, ntkFromSignals } from '../src/reference/geometry';
import { Rng } from '../src/util/rng';
import { argNumber, fmtMs, fmtRatio, median, tfjsWebGpu } from './util';

const TARGET = 20;

function mlpSpec(n: number): ResolvedSpec {
  const rng = new Rng(3);
  const x = Array.from({ length: n }, () => Array.from({ length: 64 }, () => 2 * rng.uniform() - 1));
  const y = Array.from({ length: n }, () => Array.from({ length: 10 }, () => rng.normal()));
  return validateSpec({
    name: 'bench ntk',
    model: {
      input: [64],
      layers: [
        { type: 'dense', units: 256, activation: 'tanh' },
        { type: 'dense', units: 256, activation: 'tanh' },
        { type: 'dense', units: 10, activation: 'linear' },
      ],
    },
    init: { seed: 0, scheme: 'standard' },
    loss: 'mse',
    data: { x, y },
  });
}

/** max|x - ref| / max|ref|. */
function relErr(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  let e = 0;
  let r = 0;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(x[i] - ref[i]));
    r = Math.max(r, Math.abs(ref[i]));
  }
  return r > 0 ? e / r : e;
}

/** Our NTK: forward, batched backward of the unit seeds, factorized kernels; returns K on the GPU. */
async function oursOnce(ctx: GpuContext, model: GpuModel, x: Tensor, theta: Tensor, n: number): Promise<Tensor> {
  const plan = model.plan;
  const c = plan.c;
  const state = model.forward(x, n, theta);
  const seeds = ctx.tensor([n * c, c], 'unit seeds');
  identitySeeds(ctx, seeds, n, c);
  const signals = model.backward(state, seeds, c, theta);
  seeds.destroy();
  const { total } = tangentKernels(ctx, plan, state, signals);
  model.releaseSignals(signals);
  model.releaseForward(state);
  await ctx.sync();
  return total;
}

export async function benchNtk(ctx: GpuContext, args: string[] = []): Promise<string[]> {
  const quick = args.includes('--quick');
  const reps = argNumber(args, '--reps', quick ? 3 : 5);
  const n = argNumber(args, '--n', 128);
  const spec = mlpSpec(n);
  const plan = planOf(spec);
  const { P, c } = plan;
  const N = n * c;
  const pairs = quick ? argNumber(args, '--pairs', 128) : N;
  if (!Number.isInteger(pairs) || pairs > N || N % pairs !== 0) throw new Error(`--pairs must divide n c = ${N}, got ${pairs}`);
  const theta = spec.theta;
  const x = spec.data.x;
  const lines = [
    `MLP 64-256-256-10 tanh, n = ${n}, c = ${c}: K is ${N} x ${N}, P = ${P}${quick ? ` (--quick: TF.js and the f64 Jacobian route extrapolated from subsets, marked ~)` : ''}`,
  ];

  // Oracle: the f64 factorized NTK, also timed.
  let t0 = performance.now();
  const fw = forward(plan, theta, x, n);
  const K64 = ntkFromSignals(fw, jacobianSignals(fw)).K;
  const tF64Factorized = performance.now() - t0;

  // Ours.
  const model = new GpuModel(ctx, plan);
  const thetaT = ctx.upload(theta, [P], 'theta');
  const xT = ctx.upload(x, [n, plan.inputSize], 'x');
  let ours: number;
  let oursErr: number;
  let dispatches: number;
  try {
    (await oursOnce(ctx, model, xT, thetaT, n)).destroy();
    const times: number[] = [];
    let K: Tensor | null = null;
    const d0 = ctx.dispatchCount;
    for (let r = 0; r < reps; r++) {
      K?.destroy();
      const t = performance.now();
      K = await oursOnce(ctx, model, xT, thetaT, n);
      times.push(performance.now() - t);
    }
    dispatches = (ctx.dispatchCount - d0) / reps;
    ours = median(times);
    oursErr = relErr(await ctx.read(K!), K64);
    K!.destroy();
  } finally {
    thetaT.destroy();
    xT.destroy();
  }
  lines.push(
    `ours, forward + batched backward + factorized kernels:  ${fmtMs(ours).padEnd(9)} (median of ${reps}, ${dispatches.toFixed(0)} dispatches)   max|K - K_f64|/max|K_f64| = ${oursErr.toExponential(1)}`,
  );

  // TF.js, per-example per-output gradients.
  const tfjs = await timeTfjs(spec, pairs, K64);
  const tag = quick ? '~' : '';
  lines.push(
    `TF.js WebGPU, ${N} per-output gradients + J J^T:   ${tag}${fmtMs(tfjs.total).padEnd(9)} (gradients ${tag}${fmtMs(tfjs.grads)}, J J^T in ${tfjs.blocks} column blocks ${tag}${fmtMs(tfjs.gram)})` +
      (tfjs.err === null ? `   [${pairs} of ${N} pairs timed, x ${N / pairs}]` : `   max|K - K_f64|/max|K_f64| = ${tfjs.err.toExponential(1)}`),
  );

  // f64 Jacobian route.
  t0 = performance.now();
  const J = jacobian(forward(plan, theta, x, n));
  const tJ = performance.now() - t0;
  const cols = quick ? Math.ceil(P / 10) : P;
  t0 = performance.now();
  const KJ = ntkFromJacobian(J, N, P, 0, cols);
  const tGram = ((performance.now() - t0) * P) / cols;
  const jacErr = quick ? null : relErr(KJ, K64);
  lines.push(
    `f64 reference, Jacobian route (J, then J J^T):       ${tag}${fmtMs(tJ + tGram).padEnd(9)} (J ${fmtMs(tJ)}, J J^T ${tag}${fmtMs(tGram)})` +
      (jacErr === null ? `   [J J^T over ${cols} of ${P} columns, x ${(P / cols).toFixed(2)}]` : `   max|K - K_f64|/max|K_f64| = ${jacErr.toExponential(1)}`),
  );
  lines.push(`f64 reference, factorized route (the accuracy oracle): ${fmtMs(tF64Factorized)}`);

  const met = tfjs.total / ours >= TARGET;
  lines.push(
    `summary: ours vs TF.js ${tag}${fmtRatio(tfjs.total / ours)} (target >= ${TARGET}x: ${met ? 'met' : 'NOT met'}), vs f64 Jacobian route ${tag}${fmtRatio(
      (tJ + tGram) / ours,
    )}, vs f64 factorized ${fmtRatio(tF64Factorized / ours)}; ours accurate to ${oursErr.toExponential(1)}`,
  );
  return lines;
}

interface TfjsTimes {
  grads: number;
  gram: number;
  total: number;
  blocks: number;
  /** Accuracy against the f64 K (full runs only). */
  err: number | null;
}

/**
 * The straightforward TF.js NTK: per-(i, k) gradients stacked into J, then J J^T. With
 * `pairs < n c`, times that many pairs and `pairs` rows of K, and extrapolates both linearly;
 * otherwise checks K against the f64 `K64`.
 */
async function timeTfjs(spec: ResolvedSpec, pairs: number, K64: Float64Array): Promise<TfjsTimes> {
  const T = await tfjsWebGpu();
  const tf = T.tf;
  const plan = planOf(spec);
  const { P, c } = plan;
  const n = spec.data.n;
  const N = n * c;
  const theta = spec.theta;
  const before = tf.memory().numTensors;
  const keep: TF.Tensor[] = [];
  try {
    // Variables W (out x fanIn) and b (out) from theta's [W | b] rows.
    const layers = plan.paramLayers.map((l) => {
      if (l.kind !== 'dense' || l.wMul !== 1 || l.bMul !== 1) throw new Error('bench ntk: dense layers, standard parameterization');
      const m = l.fanIn + 1;
      const W = new Float32Array(l.out * l.fanIn);
      const b = new Float32Array(l.out);
      for (let o = 0; o < l.out; o++) {
        for (let a = 0; a < l.fanIn; a++) W[o * l.fanIn + a] = theta[l.offset + o * m + a];
        b[o] = theta[l.offset + o * m + l.fanIn];
      }
      const Wt = tf.tensor2d(W, [l.out, l.fanIn]);
      const bt = tf.tensor1d(b);
      const Wv = tf.variable(Wt, true, `bench_W${l.paramIndex}`);
      const bv = tf.variable(bt, true, `bench_b${l.paramIndex}`);
      keep.push(Wt, bt, Wv, bv);
      return { W: Wv, b: bv, act: l.activation };
    });
    const vars = layers.flatMap((l) => [l.W, l.b]);
    const f = (xi: TF.Tensor2D): TF.Tensor2D => {
      let h = xi;
      for (const l of layers) {
        h = tf.add(tf.matMul(h, l.W, false, true), l.b);
        if (l.act === 'tanh') h = tf.tanh(h);
        else if (l.act !== 'linear') throw new Error(`bench ntk: activation ${l.act}`);
      }
      return h;
    };
    const xs = Array.from({ length: n }, (_, i) => tf.tensor2d(Float32Array.from(spec.data.x.subarray(i * 64, (i + 1) * 64)), [1, 64]));
    keep.push(...xs);
    // Column blocks of J that fit one storage binding.
    const maxCols = Math.floor(T.backend.device.limits.maxStorageBufferBindingSize / (4 * N));
    const blocks: [number, number][] = [];
    for (let c0 = 0; c0 < P; c0 += maxCols) blocks.push([c0, Math.min(maxCols, P - c0)]);

    /** Row i c + k of J, as one 1-D slice per column block. */
    const gradRow = (i: number, k: number): TF.Tensor1D[] => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.slice(f(xs[i]), [0, k], [1, 1])) as TF.Scalar, vars);
      value.dispose();
      const row = tf.tidy(() => tf.concat(vars.map((v) => tf.reshape(grads[v.name], [-1]))));
      tf.dispose(Object.values(grads));
      const parts = blocks.map(([c0, w]) => tf.slice(row, [c0], [w]) as TF.Tensor1D);
      row.dispose();
      return parts;
    };
    /** K rows of the stacked rows `rows` against J blocks `full` (or themselves). */
    const gram = (rows: TF.Tensor1D[][], full: TF.Tensor2D[] | null): TF.Tensor2D => {
      let K: TF.Tensor2D | null = null;
      blocks.forEach((_, b) => {
        const Jb = tf.stack(rows.map((r) => r[b])) as TF.Tensor2D;
        const Kb: TF.Tensor2D = tf.matMul(Jb, full ? full[b] : Jb, false, true);
        Jb.dispose();
        if (K) {
          const s: TF.Tensor2D = tf.add(K, Kb);
          K.dispose();
          Kb.dispose();
          K = s;
        } else K = Kb;
      });
      return K!;
    };

    // Warm-up (compiles every kernel): the gradients of up to 128 pairs, and as many rows of K
    // against a full-size J made of those rows repeated. A --quick run times exactly this Gram
    // again (its values do not matter), so it keeps that J.
    const warmRows = Array.from({ length: Math.min(pairs, 128) }, (_, p) => gradRow(Math.floor(p / c) % n, p % c));
    let fullJ: TF.Tensor2D[] | null = blocks.map((_, b) => {
      const Jr = tf.stack(warmRows.map((r) => r[b])) as TF.Tensor2D;
      const t = tf.tile(Jr, [Math.ceil(N / warmRows.length), 1]) as TF.Tensor2D;
      Jr.dispose();
      if (t.shape[0] === N) return t;
      const s = tf.slice(t, [0, 0], [N, -1]) as TF.Tensor2D;
      t.dispose();
      return s;
    });
    tf.dispose(gram(warmRows, fullJ));
    tf.dispose(warmRows.flat());
    if (pairs === N) {
      tf.dispose(fullJ);
      fullJ = null;
    }
    await T.sync();

    // Gradients of the first `pairs` (i, k) pairs, in row order.
    let t0 = performance.now();
    const rows: TF.Tensor1D[][] = [];
    for (let p = 0; p < pairs; p++) rows.push(gradRow(Math.floor(p / c), p % c));
    await T.sync();
    const grads = performance.now() - t0;

    t0 = performance.now();
    const K = gram(rows, fullJ);
    await T.sync();
    const gramTime = performance.now() - t0;
    if (fullJ) tf.dispose(fullJ);
    let err: number | null = null;
    if (pairs === N) err = relErr(await K.data(), K64);
    K.dispose();
    tf.dispose(rows.flat());
    const scale = N / pairs;
    return { grads: grads * scale, gram: gramTime * scale, total: (grads + gramTime) * scale, blocks: blocks.length, err };
  } finally {
    tf.dispose(keep);
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) process.stderr.write(`bench ntk: ${leaked} TF.js tensors left alive\n`);
  }
}
