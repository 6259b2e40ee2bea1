/**
 * The fully fused MLP training path (shaders/fused_mlp_step.wgsl + shaders/fused_mlp_update.wgsl):
 * a whole training step of the actual model and its linearization at theta0 in three dispatches
 * (one step pass over example tiles for both models, one gradient + update pass per model),
 * whatever the depth, instead of ~43 for a 4-layer MLP on the general path (src/nn/gpu-model.ts).
 *
 * `fusedMlpSupport` decides whether a model and device can take this path and, if not, says why
 * in one line (the Trainer reports it). `FusedMlp` owns the kernels' shape, their work buffer
 * (a step's scratch, the evaluation regions and each split's statics: the linearization point)
 * and their copy of the parameters, and records dispatches; it never reads back. The parameter
 * tensors stay the Trainer's, in the layout of layout.ts, and are rewritten by every update.
 */
import { grid, type GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import { ACT_CODE, activationGradMul, fill } from '../ops/elementwise';
import type { LossKind } from '../experiment/types';
import type { DensePlan, ModelPlan } from '../model/layout';
import type { ForwardState } from './gpu-model';

/** Layers the uniform block has room for (8 x (fanIn, out, offset, activation) + multipliers). */
export const FUSED_MAX_LAYERS = 8;
/** Storage bindings of the update kernel (the larger of the two). */
const FUSED_STORAGE_BINDINGS = 7;

/** The lane exchange compiled in front of each kernel: subgroup shuffles, or per-lane loads. */
const PRELUDES = { subgroup: 'lane_exchange_subgroup', lanes: 'lane_exchange' } as const;
const EXCHANGE = (prelude: keyof typeof PRELUDES) => (prelude === 'subgroup' ? ['XN', 'SG'] : ['XN']);

const stepKernel = (prelude: keyof typeof PRELUDES) =>
  kernel({
    shader: 'fused_mlp_step',
    preludes: [PRELUDES[prelude], 'activations'],
    inputs: ['idx', 'weights'],
    outputs: ['work'],
    uniforms: {
      rows: 'u32',
      batchOff: 'u32',
      R: 'u32',
      N: 'u32',
      nLayers: 'u32',
      c: 'u32',
      inSize: 'u32',
      flags: 'u32',
      evalOff: 'u32',
      P: 'u32',
      stOff: 'u32',
      alpha: 'f32',
      scale: 'f32',
      layers: 'array<vec4u, 8>',
      mults: 'array<vec4f, 4>',
    },
    constants: ['WG', 'LR', 'B', 'WMAX', 'TE', 'TO', 'LOADS', 'LSTRIDE', 'LLANE', ...EXCHANGE(prelude)],
  });
const updateKernel = (prelude: keyof typeof PRELUDES) =>
  kernel({
    shader: 'fused_mlp_update',
    preludes: [PRELUDES[prelude]],
    inputs: ['work', 'idx'],
    outputs: ['weights', 'delta', 'theta', 'velocity', 'flag'],
    uniforms: {
      rows: 'u32',
      batchOff: 'u32',
      R: 'u32',
      N: 'u32',
      nLayers: 'u32',
      c: 'u32',
      inSize: 'u32',
      flags: 'u32',
      model: 'u32',
      step: 'u32',
      P: 'u32',
      stOff: 'u32',
      lr: 'f32',
      wd: 'f32',
      mu: 'f32',
      layers: 'array<vec4u, 8>',
      starts: 'array<vec4u, 2>',
    },
    constants: ['WG', 'TO', 'TK', 'LOADS', 'LSTRIDE', 'LLANE', ...EXCHANGE(prelude)],
  });

export const FUSED_STEP_SUBGROUP = stepKernel('subgroup');
export const FUSED_STEP_LANES = stepKernel('lanes');
export const FUSED_UPDATE_SUBGROUP = updateKernel('subgroup');
export const FUSED_UPDATE_LANES = updateKernel('lanes');
type StepKernel = typeof FUSED_STEP_LANES;
type UpdateKernel = typeof FUSED_UPDATE_LANES;

/** Workgroup shapes of the two kernels (see the shader headers for what each constant does). */
export interface FusedVariant {
  name: string;
  /** Step kernel: invocations, lane rows, rows x columns per lane block. */
  wg: number;
  lr: number;
  te: number;
  to: number;
  /** Update kernel: invocations, rows (outputs) x columns per lane block. */
  uwg: number;
  uto: number;
  utk: number;
  /**
   * Subgroup size of the lane exchange (shaders/lane_exchange_subgroup.wgsl): the shared operand
   * is loaded once per subgroup and shuffled; 0 = every invocation loads it (lane_exchange.wgsl).
   */
  sg: number;
  /**
   * Row strides (WMAX) of the activation tiles, in order of preference: the first that holds the
   * widest activation and fits the workgroup memory is used; wider models use multiples of 128.
   * Each stride is one pipeline to compile.
   */
  strides: number[];
}

/**
 * Per adapter kind. CPU adapters (llvmpipe, SwiftShader): one SIMD vector (= one subgroup) per
 * workgroup and 16 x 8 register blocks, because every non-constant load is a per-lane scalar load
 * and FMAs per loaded element decide the speed (README "Training throughput"); with a fixed
 * subgroup size the block rows are shared by shuffles. GPUs: 64 invocations with 4 x 4 blocks and
 * per-lane loads (not measured here: no hardware GPU was available to this work).
 */
export function fusedVariantFor(ctx: GpuContext): FusedVariant {
  if (!ctx.adapter.software) return { name: 'gpu', wg: 64, lr: 4, te: 4, to: 4, uwg: 64, uto: 4, utk: 1, sg: 0, strides: [64, 128, 256] };
  // One stride for every width up to 256 (where the workgroup memory allows): a CPU driver's JIT
  // takes seconds per pipeline (tens when the machine is loaded), while the larger tile costs
  // only its zero-initialization per workgroup (~1 us here).
  const strides = [256, 128, 64];
  const sg = ctx.features.subgroupSize;
  if (sg !== null && sg >= 2 && sg <= 16 && 16 % sg === 0) {
    return { name: `cpu, subgroups of ${sg}`, wg: sg, lr: 1, te: 16, to: 8, uwg: sg, uto: 16, utk: 8, sg, strides };
  }
  return { name: 'cpu', wg: 8, lr: 1, te: 16, to: 8, uwg: 8, uto: 16, utk: 8, sg: 0, strides };
}

/** Pipeline constants of the lane exchange for a shared operand of `xn` values per block. */
function exchangeConstants(v: FusedVariant, xn: number): Record<string, number> {
  if (v.sg === 0) return { XN: xn, LOADS: xn, LSTRIDE: 1, LLANE: 0 };
  return { XN: xn, SG: v.sg, LOADS: xn / v.sg, LSTRIDE: v.sg, LLANE: 1 };
}


/** Everything the kernels' pipelines and dispatch sizes depend on. */
export interface FusedMlpConfig {
  variant: FusedVariant;
  layers: DensePlan[];
  /** Examples per workgroup tile (the rows of one pass of the lane blocks). */
  B: number;
  /** Row stride of the workgroup activation tiles (>= every width). */
  WMAX: number;
}

export type FusedSupport = { ok: true; config: FusedMlpConfig } | { ok: false; reason: string };

/** The widest activation of a dense model: input, hidden widths and outputs. */
function widest(layers: DensePlan[]): number {
  return Math.max(...layers.map((l) => Math.max(l.fanIn, l.out)));
}

/**
 * Whether `plan` can be trained by the fused kernels on this device, with the tile shape; or the
 * reason it cannot (one line, naming the layer or the device limit).
 */
export function fusedMlpSupport(ctx: GpuContext, plan: ModelPlan, variant: FusedVariant = fusedVariantFor(ctx)): FusedSupport {
  const layers: DensePlan[] = [];
  for (let i = 0; i < plan.layers.length; i++) {
    const l = plan.layers[i];
    if (l.kind === 'dense') layers.push(l);
    else if (!(l.kind === 'flatten' && i === 0)) {
      return { ok: false, reason: `layer ${i} is ${l.kind}: the fused kernels take dense layers (after an optional leading flatten)` };
    }
  }
  if (layers.length > FUSED_MAX_LAYERS) {
    return { ok: false, reason: `${layers.length} dense layers: the fused kernels take at most ${FUSED_MAX_LAYERS}` };
  }
  const lim = ctx.limits;
  if (lim.maxStorageBuffersPerShaderStage < FUSED_STORAGE_BINDINGS) {
    return { ok: false, reason: `maxStorageBuffersPerShaderStage = ${lim.maxStorageBuffersPerShaderStage} < ${FUSED_STORAGE_BINDINGS} storage bindings of the fused update kernel` };
  }
  if (lim.maxComputeInvocationsPerWorkgroup < Math.max(variant.wg, variant.uwg)) {
    return { ok: false, reason: `maxComputeInvocationsPerWorkgroup = ${lim.maxComputeInvocationsPerWorkgroup} < ${Math.max(variant.wg, variant.uwg)}` };
  }
  // Row stride of the activation tiles: the first of the variant's strides that holds the widest
  // activation and fits the workgroup memory, else the width rounded up to 128, else to 4.
  const width = widest(layers);
  const B = variant.lr * variant.te;
  const fits = (w: number) => 2 * B * w * 4 <= lim.maxComputeWorkgroupStorageSize;
  const candidates = [...variant.strides.filter((w) => w >= width), Math.ceil(width / 128) * 128, Math.ceil(width / 4) * 4];
  const WMAX = candidates.find(fits);
  if (WMAX !== undefined) return { ok: true, config: { variant, layers, B, WMAX } };
  const exact = Math.ceil(width / 4) * 4;
  return {
    ok: false,
    reason: `width ${width} needs ${2 * B * exact * 4} bytes of workgroup memory (2 tiles of ${B} x ${exact} floats), above maxComputeWorkgroupStorageSize = ${lim.maxComputeWorkgroupStorageSize}`,
  };
}

/** A split (training or test set) packed for the kernels: its statics live in `work`. */
export interface FusedSplit {
  /** Index among the constructor's splits. */
  index: number;
  n: number;
}

export class FusedMlp {
  /**
   * The kernels' memory (fused_mlp_step.wgsl's header): the scratch of a step (row capacity x
   * per-row layer data), each split's evaluation region, then each split's statics.
   */
  readonly work: Tensor;
  /**
   * The kernels' copy of the parameters, [theta_actual | theta0 | delta_lin] (3 P): one binding
   * serves both models' products. The update kernel rewrites it with the Trainer's tensors.
   */
  readonly weights: Tensor;
  private readonly evalBase: number[];
  private readonly staticsBase: number[];
  private readonly layersU: number[];
  private readonly multsU: number[];
  private readonly c: number;
  private readonly inSize: number;
  /** The kernels of this variant and the pipeline constants of this model's shape. */
  private readonly stepKernel: StepKernel;
  private readonly updateKernel: UpdateKernel;
  private readonly stepConstants: Record<string, number>;
  private readonly updateConstants: Record<string, number>;

  constructor(
    readonly ctx: GpuContext,
    readonly plan: ModelPlan,
    readonly config: FusedMlpConfig,
    readonly loss: LossKind,
    /** Most batch rows of a training step. */
    readonly rowCapacity: number,
    /** Sizes of the splits (training set, then test set if any): each gets statics and an evaluation region. */
    readonly splits: number[],
  ) {
    this.c = plan.c;
    this.inSize = plan.inputSize;
    let perRow = 0;
    for (const l of config.layers) perRow += l.fanIn + 1 + 3 * l.out;
    let size = rowCapacity * perRow;
    this.evalBase = splits.map((n) => {
      const base = size;
      size += 2 * n * (plan.c + 1);
      return base;
    });
    this.staticsBase = splits.map((n) => {
      const base = size;
      size += this.staticsSize(n);
      return base;
    });
    ctx.checkStorageBytes(size * 4, 'fused MLP work buffer');
    this.work = ctx.tensor([size], 'fused work', false);
    this.weights = ctx.tensor([3 * plan.P], 'fused weights');
    this.layersU = [];
    this.multsU = [];
    for (let i = 0; i < FUSED_MAX_LAYERS; i++) {
      const l = config.layers[i];
      this.layersU.push(l ? l.fanIn : 0, l ? l.out : 0, l ? l.offset : 0, l ? ACT_CODE[l.activation] : 0);
      this.multsU.push(l ? l.wMul : 0, l ? l.bMul : 0);
    }
    const v = config.variant;
    this.stepKernel = v.sg ? FUSED_STEP_SUBGROUP : FUSED_STEP_LANES;
    this.updateKernel = v.sg ? FUSED_UPDATE_SUBGROUP : FUSED_UPDATE_LANES;
    this.stepConstants = { WG: v.wg, LR: v.lr, B: config.B, WMAX: config.WMAX, TE: v.te, TO: v.to, ...exchangeConstants(v, v.te) };
    this.updateConstants = { WG: v.uwg, TO: v.uto, TK: v.utk, ...exchangeConstants(v, v.uto) };
  }

  private get targetCols(): number {
    return this.loss === 'mse' ? this.c : 1;
  }

  private staticsSize(n: number): number {
    let size = n * (this.inSize + this.targetCols + this.c);
    for (const l of this.config.layers) size += n * (l.fanIn + 1 + l.out);
    return size;
  }

  /**
   * Pack split `index` (n examples): x | targets | f0 | A~0_l per layer | act'(s0_l) per layer,
   * from its inputs and targets and the general path's forward state at theta0 (the
   * linearization point: the general path computes it, so both paths linearize at the same point).
   */
  packSplit(index: number, x: Tensor, targets: Tensor, state0: ForwardState): FusedSplit {
    const ctx = this.ctx;
    const n = this.splits[index];
    const c = this.c;
    const layers = this.config.layers;
    const work = this.work;
    let off = this.staticsBase[index];
    ctx.copy(x, work, n * this.inSize, 0, off);
    off += n * this.inSize;
    ctx.copy(targets, work, n * this.targetCols, 0, off);
    off += n * this.targetCols;
    ctx.copy(state0.output, work, n * c, 0, off);
    off += n * c;
    layers.forEach((l, p) => {
      ctx.copy(state0.patches[p], work, n * (l.fanIn + 1), 0, off);
      off += n * (l.fanIn + 1);
    });
    // act'(s0) = 1 o act'(s0): the general path's own derivative kernel on a tensor of ones.
    layers.forEach((l, p) => {
      const d = ctx.tensor([n, l.out], 'act prime', false);
      fill(ctx, d, 1);
      activationGradMul(ctx, l.activation, state0.pre[p], d, l.out, 1, n);
      ctx.copy(d, work, n * l.out, 0, off);
      d.destroy();
      off += n * l.out;
    });
    return { index, n };
  }

  /** Load the parameters into `weights` (at the start, or after anything else changed them). */
  loadWeights(thetaA: Tensor, theta0: Tensor, deltaL: Tensor | null): void {
    const P = this.plan.P;
    this.ctx.copy(thetaA, this.weights, P, 0, 0);
    this.ctx.copy(theta0, this.weights, P, 0, P);
    if (deltaL) this.ctx.copy(deltaL, this.weights, P, 0, 2 * P);
  }

  /** The uniform fields both kernels share. */
  private header(rows: number, batchOff: number, split: FusedSplit, flags: number) {
    return { rows, batchOff, R: this.rowCapacity, N: split.n, nLayers: this.config.layers.length, c: this.c, inSize: this.inSize, flags };
  }

  /**
   * Record the step kernel: TRAIN over `rows` batch rows (example indices at idx[batchOff ..])
   * or EVAL over all of `split` (outputs and losses to its evaluation region).
   * `models` = 1 (actual) or 2 (actual and linearized).
   */
  stepPass(a: { mode: 'train' | 'eval'; split: FusedSplit; idx: Tensor; rows: number; batchOff: number; alpha: number; models: 1 | 2 }): void {
    const flags = (this.loss === 'mse' ? 0 : 1) | (a.mode === 'eval' ? 2 : 0) | (a.alpha === 1 ? 4 : 0);
    this.ctx.dispatch(this.stepKernel, {
      inputs: [a.idx, this.weights],
      outputs: [this.work],
      uniforms: {
        ...this.header(a.rows, a.batchOff, a.split, flags),
        evalOff: this.evalBase[a.split.index],
        P: this.plan.P,
        stOff: this.staticsBase[a.split.index],
        alpha: a.alpha,
        scale: 1 / (a.rows * a.alpha),
        layers: this.layersU,
        mults: this.multsU,
      },
      constants: this.stepConstants,
      workgroups: [Math.ceil(a.rows / this.config.B), a.models, 1],
    });
  }

  /** Workgroups of the update kernel per layer (first workgroup of each layer, and the total). */
  private get updateGrid(): { starts: number[]; total: number } {
    this.updateGridCache ??= this.updateLayout();
    return this.updateGridCache;
  }

  private updateGridCache: { starts: number[]; total: number } | null = null;

  private updateLayout(): { starts: number[]; total: number } {
    const v = this.config.variant;
    const starts: number[] = [];
    let total = 0;
    for (const l of this.config.layers) {
      starts.push(total);
      total += Math.ceil(l.out / v.uto) * Math.ceil((l.fanIn + 1) / (v.utk * v.uwg));
    }
    while (starts.length < FUSED_MAX_LAYERS) starts.push(total);
    return { starts, total };
  }

  /** Record the gradient + update kernel of one model (0 actual, 1 linearized). */
  updatePass(a: {
    model: 0 | 1;
    split: FusedSplit;
    idx: Tensor;
    rows: number;
    batchOff: number;
    /** Recorded in the divergence flag if this update makes delta non-finite. */
    step: number;
    lr: number;
    weightDecay: number;
    momentum: number;
    delta: Tensor;
    theta: Tensor;
    velocity: Tensor | null;
    flag: Tensor;
  }): void {
    const { starts, total } = this.updateGrid;
    if (a.momentum > 0 && !a.velocity) throw new Error('fused update: momentum without a velocity tensor');
    this.ctx.dispatch(this.updateKernel, {
      inputs: [this.work, a.idx],
      outputs: [this.weights, a.delta, a.theta, a.momentum > 0 ? a.velocity! : this.ctx.placeholderOut, a.flag],
      uniforms: {
        ...this.header(a.rows, a.batchOff, a.split, this.loss === 'mse' ? 0 : 1),
        model: a.model,
        step: a.step,
        P: this.plan.P,
        stOff: this.staticsBase[a.split.index],
        lr: a.lr,
        wd: a.weightDecay,
        mu: a.momentum,
        layers: this.layersU,
        starts,
      },
      constants: this.updateConstants,
      workgroups: grid(total, this.ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  }

  /** Offsets in `work` of a model's evaluated outputs h (n x c) and losses (n) on a split. */
  evalRegion(split: FusedSplit, model: 0 | 1): { h: number; loss: number } {
    const base = this.evalBase[split.index] + model * split.n * (this.c + 1);
    return { h: base, loss: base + split.n * this.c };
  }

  dispose(): void {
    this.work.destroy();
    this.weights.destroy();
  }
}
