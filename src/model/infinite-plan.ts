/**
 * The architecture as the infinite-width recursion sees it (fixture README section 13): which
 * specs have an infinite-width limit, and the sequence of map operations (dense, conv, pool; flatten
 * changes nothing). Hidden widths are gone; only the input shape, kernels, strides, paddings,
 * pooling sizes, activations, sigma_w, sigma_b and the output count c remain. Shared by the GPU
 * kernels (src/geometry/infinite-kernels.ts) and their float64 twin (src/reference/infinite.ts).
 */
import { planModel, type ModelPlan } from './layout';
import { SpecError } from '../experiment/errors';
import type { Activation, ResolvedModel, ResolvedSpec } from '../experiment/types';

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
  /** The largest map of one pair in floats (P * row over the stages). */
  maxMapFloats: number;
  /**
   * Per map stage (0: the input map, i + 1: after op i), the position offsets that later layers
   * read: only entries (p, p') with |y - y'| <= ry and |x - x'| <= rx are needed (see `neededBoxes`).
   */
  boxes: StageBox[];
}

/**
 * Grid, needed offsets and storage layout of one map stage. Each position p keeps `row` partners:
 * when the box is smaller than the grid (`banded`), partner j is p + (dy, dx) with
 * dy = floor(j / (2 rx + 1)) - ry, dx = j mod (2 rx + 1) - rx (partners off the grid unused);
 * otherwise partner j is position j (the whole row; entries outside the box unused). A pair's map
 * holds P * row floats, entry (p, j) at p * row + j.
 */
export interface StageBox {
  h: number;
  w: number;
  ry: number;
  rx: number;
  banded: boolean;
  row: number;
}

/** A stage that keeps every pair (no restriction), laid out as full P x P rows. */
export function fullBox(h: number, w: number): StageBox {
  return { h, w, ry: h - 1, rx: w - 1, banded: false, row: h * w };
}

/** The layout of a stage with the given needed offsets: banded when that is smaller than full rows. */
export function stageBox(h: number, w: number, ry: number, rx: number): StageBox {
  const band = (2 * ry + 1) * (2 * rx + 1);
  const banded = band < h * w;
  return { h, w, ry, rx, banded, row: banded ? band : h * w };
}

/** Position of partner j of position p in a stage (-1: off the grid or outside the box). */
export function stagePartner(box: StageBox, p: number, j: number): number {
  const y = Math.floor(p / box.w);
  const x = p % box.w;
  if (box.banded) {
    const span = 2 * box.rx + 1;
    const yq = y + Math.floor(j / span) - box.ry;
    const xq = x + (j % span) - box.rx;
    return yq < 0 || yq >= box.h || xq < 0 || xq >= box.w ? -1 : yq * box.w + xq;
  }
  return Math.abs(Math.floor(j / box.w) - y) <= box.ry && Math.abs((j % box.w) - x) <= box.rx ? j : -1;
}

/** Storage index (within a pair's map) of the entry for positions (p, q) of a stage; q must be a partner of p. */
export function stageIndex(box: StageBox, p: number, q: number): number {
  if (!box.banded) return p * box.row + q;
  const dy = Math.floor(q / box.w) - Math.floor(p / box.w) + box.ry;
  const dx = (q % box.w) - (p % box.w) + box.rx;
  return p * box.row + dy * (2 * box.rx + 1) + dx;
}

/**
 * Which position pairs of each map the output depends on, backwards from the last layer (which
 * reads one position): a dense layer reads same positions only (offset 0); a conv layer with
 * stride s reads its input at offset s (P' - P) for an output offset P' - P, with the same kernel
 * offset on both sides; an avgpool of size q at q (P' - P) + (i' - i), |i' - i| < q. So every
 * stage needs a box of offsets |dy| <= ry, |dx| <= rx (for strided convs a superset), clipped to
 * the grid. A CNN without pooling needs only the diagonal (P entries per pair instead of P^2);
 * the issue's digits CNN (pool 2) needs 3x3 offsets (64 x 9 stored entries instead of 64 x 64 per
 * 8x8 map). Entries outside the box are neither computed nor read.
 */
export function neededBoxes(plan: Pick<InfinitePlan, 'h' | 'w' | 'ops'>): StageBox[] {
  const grids: [number, number][] = [[plan.h, plan.w]];
  for (const op of plan.ops) grids.push(op.kind === 'dense' ? [1, 1] : [op.hOut, op.wOut]);
  const r: [number, number][] = grids.map(() => [0, 0]);
  for (let i = plan.ops.length - 1; i >= 0; i--) {
    const op = plan.ops[i];
    const [ry, rx] = r[i + 1];
    const [h, w] = grids[i];
    let b: [number, number] = [0, 0];
    if (op.kind === 'conv') b = [op.stride * ry, op.stride * rx];
    else if (op.kind === 'pool') b = [op.size * ry + op.size - 1, op.size * rx + op.size - 1];
    r[i] = [Math.min(b[0], h - 1), Math.min(b[1], w - 1)];
  }
  return grids.map(([h, w], i) => stageBox(h, w, r[i][0], r[i][1]));
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
  const boxes = neededBoxes({ h, w, ops });
  const maxMapFloats = Math.max(...boxes.map((b) => b.h * b.w * b.row));
  return { channels, h, w, inputSize: channels * h * w, ops, sigmaW: model.sigmaW, sigmaB: model.sigmaB, c: plan.c, maxPositions, maxMapFloats, boxes };
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
