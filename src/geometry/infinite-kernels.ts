/**
 * The analytic infinite-width NNGP and NTK on the GPU (fixture README section 13; the CNTK of
 * Arora et al. 2019 for convolutional nets): n x n on the training inputs and m x n between any
 * extra input set (test points, a 2-D grid for decision maps) and the training inputs.
 *
 * Work is organised by example pairs. Each pair (x, x') carries P x P maps over (position of x,
 * position of x') through the layers (shaders/infinite_maps.wgsl: input, conv, dense, pool;
 * shaders/infinite_act.wgsl: the activation expectations), a chunk of B pairs per dispatch.
 *
 *   1. Self pairs (x, x) of every example, train and extra: their maps' diagonals are the
 *      variances Sigma(x, p; x, p) that every activation needs (pooling mixes positions, so a
 *      self pair needs its whole P x P map); kept per layer, [N][P] floats each.
 *   2. Cross pairs: train i < j, then every (extra, train) pair, in chunks, reading those variances.
 *
 * Only the position pairs that later layers read are computed and stored (plan.boxes,
 * src/model/infinite-plan.ts `neededBoxes`, `StageBox`): the diagonal alone without pooling, a
 * 3 x 3 band of offsets behind a 2 x 2 pool (P * 9 floats per pair instead of P^2).
 *
 * Chunks are sized to the device: each of the four map buffers (K, T, ping and pong) holds
 * B * (the largest P * row of a stage) floats within maxStorageBufferBindingSize (and `mapBytes`); a pair whose map alone
 * exceeds the limit, or inputs / variances beyond it, are refused with a LimitError naming it.
 * Dispatches are 1-D grids split over x and y (up to maxComputeWorkgroupsPerDimension^2 groups);
 * quadrature activations are split further (src/ops/infinite.ts). Results are read back per chunk
 * (2 floats per pair) and assembled in float64.
 *
 * The float64 twin is `infiniteKernelsRef` (src/reference/infinite.ts): same plan, same pairs,
 * same per-pair operations.
 */
import { LimitError, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { positionsAfter, type InfiniteKernels, type InfinitePlan, type InputSet } from '../model/infinite-plan';
import { DEFAULT_RULE, type QuadratureRule } from '../math/infinite-quadrature';
import { infActivation, infConvMap, infDenseMap, infDiagonal, infInputMap, infPoolMap } from '../ops/infinite';

export interface InfiniteKernelOptions {
  /** Bytes of each of the four map buffers (default min(maxStorageBufferBindingSize, 64 MiB)). */
  mapBytes?: number;
  /** Most pairs per chunk (default 2^20). */
  maxPairs?: number;
  /** Quadrature rule of tanh / sigmoid (default: the runner's). */
  rule?: QuadratureRule;
}

/** Chunk size for a plan: pairs per chunk and the floats of one map buffer. */
export function infiniteChunk(ctx: GpuContext, plan: InfinitePlan, opts: InfiniteKernelOptions = {}, totalPairs = Infinity): { pairs: number; mapFloats: number } {
  const limit = ctx.limits.maxStorageBufferBindingSize;
  const perPair = plan.maxMapFloats;
  if (perPair * 4 > limit) {
    const big = plan.boxes.reduce((a, b) => (b.h * b.w * b.row > a.h * a.w * a.row ? b : a));
    throw new LimitError(
      'maxStorageBufferBindingSize',
      perPair * 4,
      limit,
      `the infinite-width kernel's map of one example pair (${big.h * big.w} positions x ${big.row} partners)`,
    );
  }
  const budget = Math.min(limit, opts.mapBytes ?? 64 * 1024 * 1024);
  const pairs = Math.max(1, Math.min(opts.maxPairs ?? 1 << 20, Math.floor(budget / (perPair * 4)), totalPairs));
  return { pairs, mapFloats: pairs * perPair };
}

/** Concatenate the input sets into one N x inputSize array (f32 on upload). */
function stack(sets: InputSet[], d: number): Float32Array {
  const N = sets.reduce((s, x) => s + x.n, 0);
  const out = new Float32Array(N * d);
  let off = 0;
  for (const s of sets) {
    if (s.x.length < s.n * d) throw new Error(`infiniteKernels: an input set has ${s.x.length} values, expected ${s.n} x ${d}`);
    for (let i = 0; i < s.n * d; i++) out[off + i] = s.x[i];
    off += s.n * d;
  }
  return out;
}

/** Yields the cross pairs (global example indices) in order, `size` at a time. */
function* crossPairs(n: number, extras: InputSet[], size: number): Generator<Uint32Array> {
  let buf = new Uint32Array(2 * size);
  let k = 0;
  const flush = function* () {
    if (k > 0) {
      yield buf.subarray(0, 2 * k);
      buf = new Uint32Array(2 * size);
      k = 0;
    }
  };
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      buf[2 * k] = i;
      buf[2 * k + 1] = j;
      if (++k === size) yield* flush();
    }
  }
  let base = n;
  for (const set of extras) {
    for (let i = 0; i < set.n; i++) {
      for (let j = 0; j < n; j++) {
        buf[2 * k] = base + i;
        buf[2 * k + 1] = j;
        if (++k === size) yield* flush();
      }
    }
    base += set.n;
  }
  yield* flush();
}

/**
 * The analytic NNGP and NTK (n x n factors of nngp (x) I_c and ntk (x) I_c) on `train`, and the
 * m x n kernels of each extra input set against it. Float64 arrays (computed in float32).
 */
export async function infiniteKernels(ctx: GpuContext, plan: InfinitePlan, train: InputSet, extras: InputSet[] = [], opts: InfiniteKernelOptions = {}): Promise<InfiniteKernels> {
  const d = plan.inputSize;
  const sets = [train, ...extras];
  const N = sets.reduce((s, x) => s + x.n, 0);
  const n = train.n;
  const crossCount = (n * (n - 1)) / 2 + n * (N - n);
  const { pairs: B, mapFloats } = infiniteChunk(ctx, plan, opts, Math.max(N, crossCount));
  const rule = opts.rule ?? DEFAULT_RULE;
  const owned: Tensor[] = [];
  const tensor = (shape: number[], label: string) => {
    const t = ctx.tensor(shape, label, false);
    owned.push(t);
    return t;
  };
  try {
    const X = tensor([N, d], 'infinite inputs');
    ctx.write(X, stack(sets, d));
    // Variances per op with a non-linear activation: [N][P] each.
    const vars = plan.ops.map((op, i) => (op.kind !== 'pool' && op.activation !== 'linear' ? tensor([N, positionsAfter(plan, i)], `infinite variances ${i}`) : null));
    const maps = [tensor([mapFloats], 'infinite K'), tensor([mapFloats], 'infinite T'), tensor([mapFloats], 'infinite K2'), tensor([mapFloats], 'infinite T2')];
    const pairT = tensor([2 * B], 'infinite pairs');

    /** Run a chunk of pairs through every op; returns the last layer's Sigma and Theta per pair. */
    const runChunk = async (pairs: Uint32Array, self: boolean): Promise<[Float32Array, Float32Array]> => {
      const count = pairs.length / 2;
      ctx.write(pairT, new Float32Array(pairs.buffer, pairs.byteOffset, pairs.length));
      let [K, T, K2, T2] = maps;
      let positions = plan.h * plan.w;
      infInputMap(ctx, pairT, X, K, T, count, plan.channels, positions, plan.boxes[0]);
      plan.ops.forEach((op, i) => {
        const [inp, out] = [plan.boxes[i], plan.boxes[i + 1]];
        if (op.kind === 'pool') infPoolMap(ctx, op, K, T, K2, T2, count, inp, out);
        else if (op.kind === 'conv') infConvMap(ctx, op, K, T, K2, T2, count, plan.sigmaW, plan.sigmaB, inp, out);
        else infDenseMap(ctx, K, T, K2, T2, count, positions, plan.sigmaW, plan.sigmaB, inp);
        [K, T, K2, T2] = [K2, T2, K, T];
        positions = positionsAfter(plan, i);
        const v = vars[i];
        if (v && op.kind !== 'pool') {
          if (self) infDiagonal(ctx, pairT, K, v, count, positions, out);
          infActivation(ctx, op.activation, pairT, v, K, T, count, positions, rule, out);
        }
      });
      const [k, t] = await ctx.readMany([
        { tensor: K, count },
        { tensor: T, count },
      ]);
      return [k, t];
    };

    const nngp = new Float64Array(n * n);
    const ntk = new Float64Array(n * n);
    const cross = extras.map((s) => ({ nngp: new Float64Array(s.n * n), ntk: new Float64Array(s.n * n) }));
    // 1. Self pairs of every example (variances; the train diagonal).
    for (let start = 0; start < N; start += B) {
      const count = Math.min(B, N - start);
      const pairs = new Uint32Array(2 * count);
      for (let b = 0; b < count; b++) pairs[2 * b] = pairs[2 * b + 1] = start + b;
      const [k, t] = await runChunk(pairs, true);
      for (let b = 0; b < count; b++) {
        const i = start + b;
        if (i < n) {
          nngp[i * n + i] = k[b];
          ntk[i * n + i] = t[b];
        }
      }
    }
    // 2. Cross pairs.
    const setOf = (g: number): [number, number] => {
      let base = n;
      for (let e = 0; e < extras.length; e++) {
        if (g < base + extras[e].n) return [e, g - base];
        base += extras[e].n;
      }
      throw new Error(`infiniteKernels: example ${g} out of range`);
    };
    for (const pairs of crossPairs(n, extras, B)) {
      const [k, t] = await runChunk(pairs, false);
      for (let b = 0; b < pairs.length / 2; b++) {
        const a = pairs[2 * b];
        const j = pairs[2 * b + 1];
        if (a < n) {
          nngp[a * n + j] = nngp[j * n + a] = k[b];
          ntk[a * n + j] = ntk[j * n + a] = t[b];
        } else {
          const [e, i] = setOf(a);
          cross[e].nngp[i * n + j] = k[b];
          cross[e].ntk[i * n + j] = t[b];
        }
      }
    }
    return { nngp, ntk, extras: cross };
  } finally {
    for (const t of owned) t.destroy();
  }
}
