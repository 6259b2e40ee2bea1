/**
 * Probes of the actual model's tangent kernel during training (fixture README sections 7, 9, 11;
 * NTK alignment and Lazy vs Hasty): alignments of the current kernel with the targets, its
 * similarity to the kernel at theta0 (raw and centered), and the relu activation-pattern
 * similarity. Everything runs on the GPU; only scalars are read back (and the kernel itself
 * when its spectrum is asked for).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { GpuModel, ForwardState } from '../nn/gpu-model';
import { numel, type ModelPlan } from '../model/layout';
import { identitySeeds } from '../ops/loss';
import { reducePartials } from '../ops/reduce';
import { centeredTangentKernels, tangentKernels } from '../geometry/kernels';
import {
  readPending,
  recordAlignments,
  releaseTargets,
  uploadTargets,
  type AlignmentMetrics,
  type AlignmentTargets,
  type Pending,
} from '../geometry/alignment';

export interface KernelState {
  total: Tensor;
  perLayer: Tensor[];
  /** The kernels of the Jacobian centered over examples (README section 9), when asked for. */
  centered: { total: Tensor; perLayer: Tensor[] } | null;
}

/**
 * The full and per-layer tangent kernels (nc x nc) of `f` at a forward state and, with
 * `centered`, those of the centered Jacobian (`centeredTangentKernels`).
 */
export function kernelsAt(ctx: GpuContext, model: GpuModel, state: ForwardState, theta: Tensor, centered = true): KernelState {
  const { n } = state;
  const c = model.plan.c;
  const seeds = ctx.tensor([n * c, c], 'unit seeds');
  identitySeeds(ctx, seeds, n, c);
  const signals = model.backward(state, seeds, c, theta);
  seeds.destroy();
  const k = tangentKernels(ctx, model.plan, state, signals, { perLayer: true });
  const kc = centered ? centeredTangentKernels(ctx, model.plan, state, signals) : null;
  model.releaseSignals(signals);
  return { ...k, centered: kc };
}

/** Free a kernel state (its `total` too unless it is null: a caller that keeps it). */
export function releaseKernels(k: Omit<KernelState, 'total'> & { total: Tensor | null }): void {
  for (const t of [k.total, ...k.perLayer, ...(k.centered ? [k.centered.total, ...k.centered.perLayer] : [])]) t?.destroy();
}

/** One recorded reduction finished as its f64 sum. */
const sumOf = (partial: Tensor): Pending<number> => ({ partials: [partial], finish: ([v]) => v });

export interface ProbeResult {
  alignment: AlignmentMetrics;
  ntkSimilarityToInit: number;
  ntkSimilarityToInitCentered: number;
  reluSignSimilarity: number | null;
}

/** Kernel probes against the state at theta0, reused at every checkpoint. */
export class KernelProbe {
  readonly initial: ProbeResult;
  private readonly K0: KernelState;
  private readonly K0c: Tensor;
  private readonly norm0: number;
  private readonly norm0c: number;
  private readonly targets: AlignmentTargets;
  private readonly N: number;
  private readonly reluUnits: number;

  private constructor(
    private readonly ctx: GpuContext,
    private readonly model: GpuModel,
    private readonly state0: ForwardState,
    K0: KernelState,
    K0c: Tensor,
    norms: [number, number],
    targets: AlignmentTargets,
    alignment0: AlignmentMetrics,
  ) {
    this.K0 = K0;
    this.K0c = K0c;
    [this.norm0, this.norm0c] = norms;
    this.targets = targets;
    this.N = state0.n * model.plan.c;
    this.reluUnits = reluIndices(model.plan).reduce((s, l) => s + l.units, 0);
    this.initial = {
      alignment: alignment0,
      ntkSimilarityToInit: 1,
      ntkSimilarityToInitCentered: 1,
      reluSignSimilarity: this.reluUnits > 0 ? 1 : null,
    };
  }

  /** Build from the forward state at theta0 and the targets Y (n x c, one-hot for classes). */
  static async create(ctx: GpuContext, model: GpuModel, state0: ForwardState, theta0: Tensor, Y: Float64Array): Promise<KernelProbe> {
    const { n } = state0;
    const c = model.plan.c;
    const N = n * c;
    const K0 = kernelsAt(ctx, model, state0, theta0);
    const K0c = K0.centered!.total;
    const targets = uploadTargets(ctx, Y, n, c);
    try {
      const [s0, s0c, alignment0] = await readPending<[number, number, AlignmentMetrics]>(ctx, [
        sumOf(reducePartials(ctx, 1, K0.total, null, N * N)),
        sumOf(reducePartials(ctx, 1, K0c, null, N * N)),
        recordAlignments(ctx, K0, K0.centered, targets),
      ]);
      return new KernelProbe(ctx, model, state0, K0, K0c, [Math.sqrt(s0), Math.sqrt(s0c)], targets, alignment0);
    } catch (e) {
      releaseKernels(K0);
      releaseTargets(targets);
      throw e;
    }
  }

  /** The kernel at theta0 (nc x nc), owned by the probe. */
  get kernel0(): Tensor {
    return this.K0.total;
  }

  /**
   * Probe the model at `theta`, given its forward state on the training inputs. With
   * `keepKernel`, the current full kernel is returned too (caller destroys it).
   */
  async measure(state: ForwardState, theta: Tensor, keepKernel = false): Promise<{ probe: ProbeResult; kernel: Tensor | null }> {
    const ctx = this.ctx;
    const N = this.N;
    const { n } = state;
    const K = kernelsAt(ctx, this.model, state, theta);
    // Everything is recorded first and read back once (see Pending in geometry/alignment.ts).
    const alignments = recordAlignments(ctx, K, K.centered, this.targets);
    const Kc = K.centered!.total;
    const sums = [
      reducePartials(ctx, 1, K.total, null, N * N),
      reducePartials(ctx, 1, Kc, null, N * N),
      reducePartials(ctx, 2, K.total, this.K0.total, N * N),
      reducePartials(ctx, 2, Kc, this.K0c, N * N),
      ...reluIndices(this.model.plan).map(({ paramIndex, units }) => reducePartials(ctx, 3, state.pre[paramIndex], this.state0.pre[paramIndex], n * units)),
    ].map(sumOf);
    let read: [AlignmentMetrics, ...number[]];
    try {
      read = await readPending<[AlignmentMetrics, ...number[]]>(ctx, [alignments, ...sums]);
    } catch (e) {
      releaseKernels(K);
      throw e;
    }
    const [alignment, kk, kkc, cross, crossc, ...agreements] = read;
    const relu = this.reluUnits > 0 ? (agreements as number[]).reduce((a, b) => a + b, 0) / (n * this.reluUnits) : null;
    const kernel = keepKernel ? K.total : null;
    releaseKernels({ ...K, total: keepKernel ? null : K.total });
    return {
      probe: {
        alignment,
        ntkSimilarityToInit: cross / (Math.sqrt(kk) * this.norm0),
        ntkSimilarityToInitCentered: crossc / (Math.sqrt(kkc) * this.norm0c),
        reluSignSimilarity: relu,
      },
      kernel,
    };
  }

  dispose(): void {
    releaseKernels(this.K0);
    releaseTargets(this.targets);
  }
}

/** Parametrized relu layers and their unit counts (out * positions), in layer order. */
export function reluIndices(plan: ModelPlan): { paramIndex: number; units: number }[] {
  return plan.paramLayers.filter((l) => l.activation === 'relu').map((l) => ({ paramIndex: l.paramIndex, units: numel(l.outShape) }));
}
