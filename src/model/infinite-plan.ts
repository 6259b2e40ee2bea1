/**
 * The architecture as the infinite-width recursion sees it (fixture README section 13): which
 * specs have an infinite-width limit, and the sequence of map operations (dense, conv, pool; flatten
 * changes nothing). Hidden widths are gone; only the input shape, kernels, strides, paddings,
 * pooling sizes, activations, sigma_w, sigma_b and the output count c remain. Shared by the GPU
 * kernels (src/geometry/infinite-kernels.ts) and their float64 twin (src/reference/infinite.ts).
 */
import { planModel, SpecError, type ModelPlan } from '../nn/layout';
import type { Activation, ResolvedModel, ResolvedSpec } from '../spec/types';

/** One step of the recursion (flatten layers are dropped: they change nothing). */
export type InfiniteOp =
  | {
      kind: 'conv';
      layerIndex: number;
      activation: Activation;
      hIn: number;
      wIn: number;
      hOut: number;
      wOut: number;
      kernel: number;
      stride: number;
      padding: number;
    }
  | { kind: 'dense'; layerIndex: number; activation: Activation; positionsIn: number }
  | { kind: 'pool'; layerIndex: number; hIn: number; wIn: number; hOut: number; wOut: number; size: number };

/** The architecture as the infinite-width recursion sees it (widths are gone, except c). */
export interface InfinitePlan {
  /** Input channels C (a vector input [d] is d channels at one position). */
  channels: number;
  h: number;
  w: number;
  /** C * h * w: the length of one example's input. */
  inputSize: number;
  ops: InfiniteOp[];
  sigmaW: number;
  sigmaB: number;
  /** Outputs of the last parametrized layer (the kernels are nngp (x) I_c, ntk (x) I_c). */
  c: number;
  /** The largest number of positions of any map (the input's included). */
  maxPositions: number;
  /**
   * Per map stage (0: the input map, i + 1: after op i), the position offsets that later layers
   * read: only entries (p, p') with |y - y'| <= ry and |x - x'| <= rx are needed (see `neededBoxes`).
   */
  boxes: StageBox[];
}

/** Grid and needed offsets of one map stage. */
export interface StageBox {
  h: number;
  w: number;
  ry: number;
  rx: number;
}

/**
 * Which position pairs of each map the output depends on, backwards from the last layer (which
 * reads one position): a dense layer reads same positions only (offset 0); a conv layer with
 * stride s reads its input at offset s (P' - P) for an output offset P' - P, with the same kernel
 * offset on both sides; an avgpool of size q at q (P' - P) + (i' - i), |i' - i| < q. So every
 * stage needs a box of offsets |dy| <= ry, |dx| <= rx (for strided convs a superset), clipped to
 * the grid. A CNN without pooling needs only the diagonal (P entries per pair instead of P^2);
 * the issue's digits CNN (pool 2) needs 3x3 offsets, 484 of 4096 entries per 8x8 map. Entries
 * outside the box are neither computed nor read.
 */
export function neededBoxes(plan: Pick<InfinitePlan, 'h' | 'w' | 'ops'>): StageBox[] {
  const grids: [number, number][] = [[plan.h, plan.w]];
  for (const op of plan.ops) grids.push(op.kind === 'dense' ? [1, 1] : [op.hOut, op.wOut]);
  const boxes: StageBox[] = grids.map(([h, w]) => ({ h, w, ry: 0, rx: 0 }));
  for (let i = plan.ops.length - 1; i >= 0; i--) {
    const op = plan.ops[i];
    const out = boxes[i + 1];
    const b = boxes[i];
    if (op.kind === 'dense') {
      b.ry = 0;
      b.rx = 0;
    } else if (op.kind === 'conv') {
      b.ry = op.stride * out.ry;
      b.rx = op.stride * out.rx;
    } else {
      b.ry = op.size * out.ry + op.size - 1;
      b.rx = op.size * out.rx + op.size - 1;
    }
    b.ry = Math.min(b.ry, b.h - 1);
    b.rx = Math.min(b.rx, b.w - 1);
  }
  return boxes;
}

/** Positions of a map after op `i` (before the first op: the input's). */
export function positionsAfter(plan: InfinitePlan, i: number): number {
  if (i < 0) return plan.h * plan.w;
  const op = plan.ops[i];
  return op.kind === 'dense' ? 1 : op.hOut * op.wOut;
}

/**
 * The infinite-width plan of a model, or a SpecError naming the field that rules it out:
 * the NTK parameterization, a linear last parametrized layer followed only by flatten, and a
 * single output position (so that the outputs are c independent identical channels).
 */
export function infinitePlan(model: ResolvedModel, plan: ModelPlan = planModel(model)): InfinitePlan {
  if (model.parameterization !== 'ntk') {
    throw new SpecError('model.parameterization', '"ntk" for the infinite-width kernels (key "infinite")', JSON.stringify(model.parameterization));
  }
  for (const key of ['sigmaW', 'sigmaB'] as const) {
    const v = model[key];
    if (!Number.isFinite(v) || v < 0) throw new SpecError(key === 'sigmaW' ? 'model.sigma_w' : 'model.sigma_b', 'a finite non-negative number', String(v));
  }
  const last = plan.paramLayers[plan.paramLayers.length - 1];
  if (last.activation !== 'linear') {
    throw new SpecError(`model.layers[${last.layerIndex}].activation`, '"linear" in the last dense/conv2d layer for the infinite-width kernels (key "infinite")', JSON.stringify(last.activation));
  }
  for (const l of plan.layers) {
    if (l.layerIndex > last.layerIndex && l.kind !== 'flatten') {
      throw new SpecError(`model.layers[${l.layerIndex}]`, 'only flatten after the last dense/conv2d layer for the infinite-width kernels (key "infinite")', `"${l.kind}"`);
    }
  }
  if (last.positions !== 1) {
    throw new SpecError(
      `model.layers[${last.layerIndex}]`,
      'a last dense/conv2d layer with one output position for the infinite-width kernels (key "infinite"; its outputs must be c identical channels)',
      `${last.positions} positions`,
    );
  }
  // A vector input is d channels at one position. So is an image whose first layer is dense
  // (after flatten or not): that layer only takes same-position means, (1/(C H W)) x . x', so the
  // H W x H W input map would be computed for its diagonal alone.
  const firstDense = plan.layers.find((l) => l.kind !== 'flatten')?.kind === 'dense';
  const [channels, h, w] = plan.input.length === 1 || firstDense ? [plan.inputSize, 1, 1] : plan.input;
  const ops: InfiniteOp[] = [];
  let maxPositions = h * w;
  let positions = h * w;
  for (const l of plan.layers) {
    if (l.kind === 'flatten') continue;
    if (l.kind === 'dense') {
      ops.push({ kind: 'dense', layerIndex: l.layerIndex, activation: l.activation, positionsIn: positions });
      positions = 1;
    } else if (l.kind === 'conv2d') {
      ops.push({
        kind: 'conv',
        layerIndex: l.layerIndex,
        activation: l.activation,
        hIn: l.h,
        wIn: l.w,
        hOut: l.hOut,
        wOut: l.wOut,
        kernel: l.kernel,
        stride: l.stride,
        padding: l.padding,
      });
      positions = l.hOut * l.wOut;
    } else {
      const [, hIn, wIn] = l.inShape;
      const [, hOut, wOut] = l.outShape;
      ops.push({ kind: 'pool', layerIndex: l.layerIndex, hIn, wIn, hOut, wOut, size: l.size });
      positions = hOut * wOut;
    }
    maxPositions = Math.max(maxPositions, positions);
  }
  return { channels, h, w, inputSize: channels * h * w, ops, sigmaW: model.sigmaW, sigmaB: model.sigmaB, c: plan.c, maxPositions, boxes: neededBoxes({ h, w, ops }) };
}

/** A set of inputs: `n` examples of `plan.inputSize` values each, row-major (NCHW). */
export interface InputSet {
  x: ArrayLike<number>;
  n: number;
}

/** The kernels between a set of inputs and the training set. */
export interface CrossKernels {
  /** m x n, row-major: rows are the set's examples, columns the training examples. */
  nngp: Float64Array;
  ntk: Float64Array;
}

/** The analytic kernels of a training set and of extra input sets against it. */
export interface InfiniteKernels {
  /** n x n, row-major, symmetric (the factor of nngp (x) I_c). */
  nngp: Float64Array;
  /** n x n, row-major, symmetric (the factor of ntk (x) I_c). */
  ntk: Float64Array;
  /** One entry per extra input set, in order. */
  extras: CrossKernels[];
}

/**
 * Why the runner's `infinite` key cannot be computed for a spec, or null: the model must have an
 * infinite-width plan (`infinitePlan`), and a train section must be one that function space can
 * follow (gd or sgd, with or without momentum; no weight decay, which acts on theta itself).
 */
export function infiniteProblem(spec: ResolvedSpec): SpecError | null {
  try {
    infinitePlan(spec.model);
  } catch (e) {
    if (e instanceof SpecError) return e;
    throw e;
  }
  const t = spec.train;
  if (t) {
    if (t.optimizer !== 'gd' && t.optimizer !== 'sgd') {
      return new SpecError('train.optimizer', '"gd" or "sgd" for the infinite-width network in function space (key "infinite")', JSON.stringify(t.optimizer));
    }
    if (t.weightDecay !== 0) {
      return new SpecError('train.weight_decay', '0 for the infinite-width network (key "infinite": weight decay has no function-space form)', String(t.weightDecay));
    }
  }
  return null;
}
