/**
 * Natural-gradient preconditioners for the training engine: KFAC (Martens & Grosse 2015) and
 * EKFAC (George, Laurent et al. 2018), on the GPU.
 *
 *   theta <- theta - lr * P^-1 grad,   P = KFAC or EKFAC approximation of F + damping
 *
 * The Fisher is the GGN of the objective (README section 4: F = (1/n) sum_i J_i^T M_i J_i on the
 * batch), built from the batch's forward state and one batched backward pass of the metric's
 * square roots (c rows per example); under the alpha scaling of README section 8 the GGN of
 * L(h)/alpha^2 is the same expression with M evaluated at h, so pass h's logits as `logits`.
 *
 * Schedule (the EKFAC paper's amortization):
 * - the Kronecker factors A, G are estimated and eigendecomposed every `eigEvery` steps (step 0,
 *   k, 2k, ...); between those steps the eigenbasis and KFAC's eigenvalues are frozen;
 * - EKFAC's diagonal s = diag(Q^T F Q) is re-estimated at every step from the current batch in the
 *   current (possibly stale) basis; this is what lets EKFAC degrade gracefully as k grows, while
 *   KFAC between decompositions keeps using the old eigenvalues;
 * - `decay` (default 0) turns both estimates into running averages X <- decay X + (1 - decay)
 *   X_batch (the factors are then updated every step). The EKFAC average restarts at every new
 *   basis, since old and new s live in different bases. With full-batch GD the default (the
 *   current batch) is the exact Fisher's estimate.
 *
 * Damping: KFAC uses factored Tikhonov damping with pi-damping (Martens & Grosse s. 6.3),
 * (G + sqrt(l)/pi I) (x) (A + pi sqrt(l) I), pi = sqrt((tr A / m) / (tr G / out)); EKFAC adds l to
 * its diagonal, 1 / (s + l), which is exactly (EKFAC + l I)^-1. Both are applied per layer as
 * U_G [(U_G^T V U_A) o D] U_A^T (four small matmuls and one elementwise product, kfac.ts).
 *
 * Use: once per step, after the forward pass of the batch at theta,
 *   await ng.update(model, state, theta)      // curvature work of this step (readback only on
 *                                             // eigendecomposition steps)
 *   ng.precondition(grad, direction)          // recorded on the GPU, no readback
 * and step theta -= lr * direction. `update` is async because the eigendecomposition returns its
 * eigenvalues to the host (pi-damping, convergence checks); on other steps it only records work.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ForwardState, GpuModel } from '../nn/gpu-model';
import type { ModelPlan, ParamLayerPlan } from '../model/layout';
import type { LossKind } from '../experiment/types';
import { axpby } from '../ops/elementwise';
import { applyScratch, gammaSignals, kroneckerEigenApply, layerFactors, releaseScratch, type ApplyScratch } from './kfac';
import { kroneckerBasisDiag } from './ekfac';
import { factorEigen, releaseEigen, type EigenSolver, type FactorEigen } from './eigen';
import { invDamped, kfacInverseEigenvalues } from '../ops/kfac';
import { checkNaturalGradientRule } from '../math/training';

export type NaturalGradientKind = 'kfac' | 'ekfac';

export interface NaturalGradientOptions {
  kind: NaturalGradientKind;
  /** lambda > 0. */
  damping: number;
  /** Steps between eigendecompositions (k >= 1, default 1). */
  eigEvery?: number;
  /** Running-average factor in [0, 1) for the factors and the EKFAC diagonal (default 0: current batch). */
  decay?: number;
  loss: LossKind;
  /**
   * Eigensolver (default `cpu`: float64 on the host; `gpu`: the WGSL Jacobi). Measured on the
   * bench MLP 64-256-256-10 (lavapipe): the six factor decompositions take 0.32 s in float64 on
   * the host and 8.7 s with the WGSL solver, which is also less accurate; rerun bench/kfac.ts on
   * a hardware adapter before switching the default.
   */
  solver?: EigenSolver;
}

interface LayerState {
  layer: ParamLayerPlan;
  A: Tensor;
  G: Tensor;
  eigA: FactorEigen | null;
  eigG: FactorEigen | null;
  /** EKFAC diagonal (out x m), and its batch estimate. */
  s: Tensor | null;
  sBatch: Tensor | null;
  /** Inverse eigenvalues of the damped approximation (out x m). */
  D: Tensor;
  scratch: ApplyScratch;
}

export class NaturalGradient {
  readonly kind: NaturalGradientKind;
  readonly damping: number;
  readonly eigEvery: number;
  readonly decay: number;
  private readonly layers: LayerState[];
  /** Updates so far (= the step index of the next update). */
  updates = 0;
  /** Eigendecompositions so far (for tests and benchmarks). */
  decompositions = 0;
  private sStale = true;

  constructor(
    readonly ctx: GpuContext,
    readonly plan: ModelPlan,
    readonly opts: NaturalGradientOptions,
  ) {
    const k = opts.eigEvery ?? 1;
    const decay = opts.decay ?? 0;
    checkNaturalGradientRule({ kind: opts.kind, damping: opts.damping, eigEvery: k, decay });
    this.kind = opts.kind;
    this.damping = opts.damping;
    this.eigEvery = k;
    this.decay = decay;
    this.layers = plan.paramLayers.map((layer) => {
      const m = layer.fanIn + 1;
      const ekfac = opts.kind === 'ekfac';
      return {
        layer,
        A: ctx.tensor([m, m], 'ng A'),
        G: ctx.tensor([layer.out, layer.out], 'ng G'),
        eigA: null,
        eigG: null,
        s: ekfac ? ctx.tensor([layer.out, m], 'ng s') : null,
        sBatch: ekfac && decay > 0 ? ctx.tensor([layer.out, m], 'ng s batch') : null,
        D: ctx.tensor([layer.out, m], 'ng inverse eigenvalues'),
        scratch: applyScratch(ctx, layer),
      };
    });
  }

  /** Whether the next `update` recomputes the eigendecomposition. */
  get nextIsDecomposition(): boolean {
    return this.updates % this.eigEvery === 0;
  }

  /**
   * The curvature work of one step from the batch's forward state at `theta`: factor estimates,
   * the eigendecomposition every `eigEvery` steps, the EKFAC diagonal every step, and the
   * damped inverse eigenvalues. `logits` (default the state's outputs) are those the metric of
   * cross_entropy is evaluated at.
   */
  async update(model: GpuModel, state: ForwardState, theta: Tensor, logits?: Tensor): Promise<void> {
    const ctx = this.ctx;
    const eigStep = this.nextIsDecomposition;
    const ekfac = this.kind === 'ekfac';
    const first = this.updates === 0;
    const factorsNow = eigStep || this.decay > 0;
    if (!factorsNow && !ekfac) {
      this.updates++;
      return;
    }
    const gamma = gammaSignals(ctx, model, state, theta, this.opts.loss, logits);
    try {
      if (factorsNow) {
        for (const l of this.layers) layerFactors(ctx, l.layer, state, gamma, l.A, l.G, first ? 0 : this.decay);
      }
      if (eigStep) {
        const eig = await factorEigen(
          ctx,
          this.layers.flatMap((l) => [
            { t: l.A, n: l.layer.fanIn + 1 },
            { t: l.G, n: l.layer.out },
          ]),
          { solver: this.opts.solver ?? 'cpu' },
        );
        this.layers.forEach((l, i) => {
          releaseEigen(l.eigA);
          releaseEigen(l.eigG);
          l.eigA = eig[2 * i];
          l.eigG = eig[2 * i + 1];
          if (!ekfac) kfacInverseEigenvalues(ctx, l.eigG.valuesT, l.layer.out, l.eigA.valuesT, l.layer.fanIn + 1, this.damping, l.D);
        });
        this.decompositions++;
        this.sStale = true;
      }
      if (ekfac) {
        for (const l of this.layers) {
          const size = l.layer.out * (l.layer.fanIn + 1);
          const average = this.decay > 0 && !this.sStale;
          kroneckerBasisDiag(ctx, l.layer, state, gamma, l.eigG!.vectors, l.eigA!.vectors, average ? l.sBatch! : l.s!);
          if (average) axpby(ctx, 1 - this.decay, l.sBatch!, this.decay, l.s!, size);
          invDamped(ctx, l.s!, this.damping, l.D, size);
        }
        this.sStale = false;
      }
    } finally {
      model.releaseSignals(gamma);
    }
    this.updates++;
  }

  /**
   * out = P^-1 grad (P the damped KFAC / EKFAC matrix), all layers; recorded on the GPU.
   * `grad` and `out` are P-vectors in the theta layout and must be different tensors.
   */
  precondition(grad: Tensor, out: Tensor): void {
    if (grad === out) throw new Error('precondition: grad and out must be different tensors');
    if (this.updates === 0) throw new Error('precondition: call update() with a batch first (no curvature estimate yet)');
    for (const l of this.layers) kroneckerEigenApply(this.ctx, l.layer, l.eigG!.vectors, l.eigA!.vectors, l.D, grad, out, l.scratch);
  }

  /** The eigenvalues of the current factors, per layer (host copies; for the lab and tests). */
  factorEigenvalues(): { eigA: Float64Array; eigG: Float64Array }[] {
    return this.layers.map((l) => ({ eigA: l.eigA?.values ?? new Float64Array(0), eigG: l.eigG?.values ?? new Float64Array(0) }));
  }

  dispose(): void {
    for (const l of this.layers) {
      l.A.destroy();
      l.G.destroy();
      releaseEigen(l.eigA);
      releaseEigen(l.eigG);
      l.s?.destroy();
      l.sBatch?.destroy();
      l.D.destroy();
      releaseScratch(l.scratch);
    }
  }
}
