/**
 * Forward and batched backward passes of a model on the GPU.
 *
 * Every parametrized layer is a product with its augmented weight W~ = [W | b] (a slice of
 * theta in the layout of layout.ts): dense `s = A~ W~^T`, conv `s_i = W~ P_i^T` with the patch
 * matrix P_i (im2col; a conv layer's forward, input-gradient and JVP passes are one fused
 * dispatch each, ops/conv.ts). The forward pass keeps, per parametrized layer, the augmented inputs /
 * patches and the pre-activations. The backward pass takes R seed rows per example (any vectors
 * in output space: unit vectors for the Jacobian, loss gradients, square roots of the output
 * metric for the Fisher) and returns, per layer, the signals S = d(seed . f)/ds at the
 * pre-activation, for all n*R rows at once. Everything the lab computes (gradients, Jacobians,
 * NTKs, Fisher Grams, KFAC factors) is a contraction of these two sets.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { matmul } from '../ops/matmul';
import { activationAugment, activationForward, activationGradMul } from '../ops/elementwise';
import { avgPoolBackward, avgPoolForward, denseAugment, swapAxes } from '../ops/patches';
import { convBackwardData, convForward, convJvp } from '../ops/conv';
import { numel, type ConvPlan, type LayerPlan, type ModelPlan, type ParamLayerPlan } from '../model/layout';

export interface ForwardState {
  n: number;
  /** Per parametrized layer: augmented inputs (n x m) or patches (n x T x m). */
  patches: Tensor[];
  /** Per parametrized layer: pre-activations (n x out) or (n x out x T), NCHW. */
  pre: Tensor[];
  /** Model outputs f (n x c). */
  output: Tensor;
  /** Intermediate activations owned by the state. */
  temps: Tensor[];
}

/** Signals of a batched backward pass: per parametrized layer, (n R) x out x T. */
export interface Signals {
  n: number;
  R: number;
  perLayer: Tensor[];
}

export class GpuModel {
  constructor(
    readonly ctx: GpuContext,
    readonly plan: ModelPlan,
  ) {}

  /** Forward pass of `n` examples `x` (n x inputSize) at parameters `theta` (P). */
  forward(x: Tensor, n: number, theta: Tensor): ForwardState {
    const ctx = this.ctx;
    const state: ForwardState = { n, patches: [], pre: [], output: x, temps: [] };
    let cur = x;
    // The next layer's augmented input, when a dense layer wrote it directly (fused activation).
    let nextAug: Tensor | null = null;
    const layers = this.plan.layers;
    for (let li = 0; li < layers.length; li++) {
      const layer = layers[li];
      switch (layer.kind) {
        case 'dense': {
          const m = layer.fanIn + 1;
          let aug = nextAug;
          nextAug = null;
          if (!aug) {
            aug = ctx.tensor([n, m], `A~ ${layer.layerIndex}`, false);
            denseAugment(ctx, layer, cur, aug, n);
          }
          const s = ctx.tensor([n, layer.out], `s ${layer.layerIndex}`, false);
          matmul(ctx, { a: aug, b: { t: theta, offset: layer.offset, ld: m }, c: s, M: n, N: layer.out, K: m, transB: true });
          state.patches.push(aug);
          state.pre.push(s);
          const next = layers[li + 1];
          if (next?.kind === 'dense') {
            // Only the next layer reads this activation, through its augmented input: write
            // that directly, one dispatch instead of an activation and an augmentation.
            nextAug = ctx.tensor([n, next.fanIn + 1], `A~ ${next.layerIndex}`, false);
            activationAugment(ctx, layer.activation, s, nextAug, n, layer.out, next.wMul, next.bMul);
            cur = nextAug;
          } else {
            cur = this.activate(layer, s, n, state);
          }
          break;
        }
        case 'conv2d': {
          const m = layer.fanIn + 1;
          const T = layer.positions;
          const patches = ctx.tensor([n, T, m], `P ${layer.layerIndex}`, false);
          const s = ctx.tensor([n, layer.out, T], `s ${layer.layerIndex}`, false);
          // im2col + product + bias + activation in one dispatch (shaders/conv_fused.wgsl).
          const a = layer.activation === 'linear' ? null : ctx.tensor([n, layer.out, T], `a ${layer.layerIndex}`, false);
          convForward(ctx, layer, cur, theta, patches, s, a, n);
          state.patches.push(patches);
          state.pre.push(s);
          if (a) state.temps.push(a);
          cur = a ?? s;
          break;
        }
        case 'avgpool2d': {
          const y = ctx.tensor([n, ...layer.outShape], `pool ${layer.layerIndex}`, false);
          avgPoolForward(ctx, poolShape(layer), cur, y, n);
          state.temps.push(y);
          cur = y;
          break;
        }
        case 'flatten':
          break;
      }
    }
    state.output = cur;
    return state;
  }

  private activate(layer: ParamLayerPlan, s: Tensor, n: number, state: ForwardState): Tensor {
    if (layer.activation === 'linear') return s;
    const a = this.ctx.tensor(s.shape, `a ${layer.layerIndex}`, false);
    activationForward(this.ctx, layer.activation, s, a, n * numel(layer.outShape));
    state.temps.push(a);
    return a;
  }

  /**
   * Batched backward pass: `seeds` holds R rows of c output-space vectors per example
   * ((n R) x c, row i*R + r). Returns the signals at every parametrized layer's pre-activation.
   * `firstLayer` stops the pass early (signals below it are not needed).
   */
  backward(state: ForwardState, seeds: Tensor, R: number, theta: Tensor, firstLayer = 0): Signals {
    const ctx = this.ctx;
    const n = state.n;
    const rows = n * R;
    const plan = this.plan;
    const perLayer: Tensor[] = new Array(plan.paramLayers.length);
    // g: gradient with respect to the current layer's output activation, rows x outSize.
    let g = ctx.tensor([rows, plan.c], 'g out', false);
    ctx.copy(seeds, g, rows * plan.c);
    for (let li = plan.layers.length - 1; li >= 0; li--) {
      const layer: LayerPlan = plan.layers[li];
      if (layer.kind === 'flatten') continue;
      if (layer.kind === 'avgpool2d') {
        const dx = ctx.tensor([rows, ...layer.inShape], `g pool ${li}`, false);
        avgPoolBackward(ctx, poolShape(layer), g, dx, rows);
        g.destroy();
        g = dx;
        continue;
      }
      const p = layer.paramIndex;
      const outSize = numel(layer.outShape);
      activationGradMul(ctx, layer.activation, state.pre[p], g, outSize, R, n);
      perLayer[p] = g;
      if (p <= firstLayer) {
        // Nothing below needs a signal: free what is left of the pass and stop.
        if (p < firstLayer) throw new Error('backward: firstLayer beyond the reached layer');
        return { n, R, perLayer };
      }
      const m = layer.fanIn + 1;
      if (layer.kind === 'dense') {
        const dIn = ctx.tensor([rows, layer.fanIn], `g in ${li}`, false);
        matmul(ctx, { a: g, b: { t: theta, offset: layer.offset, ld: m }, c: dIn, M: rows, N: layer.fanIn, K: layer.out, alpha: layer.wMul });
        g = dIn;
      } else {
        // The product with W and col2im in one gather (shaders/conv_fused.wgsl): no rows x T x
        // fanIn temporary, so no chunking against the storage-binding limit.
        const dX = ctx.tensor([rows, ...layer.inShape], `g in ${li}`, false);
        convBackwardData(ctx, layer, g, theta, dX, rows);
        g = dX;
      }
    }
    g.destroy();
    return { n, R, perLayer };
  }

  /**
   * Gradient sum_i S_i^T A~_i of one seed row per example (R = 1), written into `grad` (P) at
   * each layer's offset in the [W | b] layout. With seeds dL/df this is dL/dtheta.
   */
  gradient(state: ForwardState, signals: Signals, grad: Tensor): void {
    if (signals.R !== 1) throw new Error('gradient needs one seed row per example');
    const ctx = this.ctx;
    const n = state.n;
    for (const layer of this.plan.paramLayers) {
      const p = layer.paramIndex;
      const m = layer.fanIn + 1;
      const S = signals.perLayer[p];
      if (layer.kind === 'dense') {
        matmul(ctx, { a: S, b: state.patches[p], c: { t: grad, offset: layer.offset }, M: layer.out, N: m, K: n, transA: true });
      } else {
        const T = layer.positions;
        const St = ctx.tensor([layer.out, n, T], 'S^T', false);
        swapAxes(ctx, S, St, n, layer.out, T);
        matmul(ctx, { a: St, b: state.patches[p], c: { t: grad, offset: layer.offset }, M: layer.out, N: m, K: n * T });
        St.destroy();
      }
    }
  }

  /**
   * Jacobian-vector product J(theta) v (n x c) by forward-mode differentiation through the
   * network frozen at `state` (a forward pass at `theta`): per parametrized layer
   * ds = d(A~) W~^T + A~ V~^T, where V~ is the layer's slice of `v` and d(A~) the tangent of the
   * augmented input (its bias entry is constant, so 0); then da = act'(s) o ds.
   * This is how the linearized model f0 + J0 (theta - theta0) is evaluated without J0.
   */
  jvp(state: ForwardState, theta: Tensor, v: Tensor): Tensor {
    const ctx = this.ctx;
    const n = state.n;
    let tangent: Tensor | null = null; // tangent of the current activation; null = 0 (the input)
    const owned: Tensor[] = [];
    for (const layer of this.plan.layers) {
      switch (layer.kind) {
        case 'dense': {
          const p = layer.paramIndex;
          const m = layer.fanIn + 1;
          const ds = ctx.tensor([n, layer.out], `ds ${layer.layerIndex}`, false);
          // A~ V~^T: the parameters' direct contribution.
          matmul(ctx, { a: state.patches[p], b: { t: v, offset: layer.offset, ld: m }, c: ds, M: n, N: layer.out, K: m, transB: true });
          if (tangent) {
            matmul(ctx, {
              a: tangent,
              b: { t: theta, offset: layer.offset, ld: m },
              c: ds,
              M: n,
              N: layer.out,
              K: layer.fanIn,
              transB: true,
              alpha: layer.wMul,
              beta: 1,
            });
          }
          activationGradMul(ctx, layer.activation, state.pre[p], ds, layer.out, 1, n);
          owned.push(ds);
          tangent = ds;
          break;
        }
        case 'conv2d': {
          const p = layer.paramIndex;
          const T = layer.positions;
          const ds = ctx.tensor([n, layer.out, T], `ds ${layer.layerIndex}`, false);
          // V~ P^T + W (patches of the input tangent; its bias entry is constant, so 0), times
          // act'(s), in one dispatch (shaders/conv_fused.wgsl).
          convJvp(ctx, layer, state.patches[p], theta, v, tangent, state.pre[p], ds, n);
          owned.push(ds);
          tangent = ds;
          break;
        }
        case 'avgpool2d': {
          if (!tangent) break;
          const y = ctx.tensor([n, ...layer.outShape], `dpool ${layer.layerIndex}`, false);
          avgPoolForward(ctx, poolShape(layer), tangent, y, n);
          owned.push(y);
          tangent = y;
          break;
        }
        case 'flatten':
          break;
      }
    }
    const out = tangent!;
    for (const t of owned) if (t !== out) t.destroy();
    return out;
  }

  releaseForward(state: ForwardState): void {
    for (const t of [...state.patches, ...state.pre, ...state.temps]) t.destroy();
    state.patches = [];
    state.pre = [];
    state.temps = [];
  }

  releaseSignals(signals: Signals): void {
    for (const t of signals.perLayer) t?.destroy();
    signals.perLayer = [];
  }
}

function poolShape(layer: LayerPlan) {
  const [channels, h, w] = layer.inShape;
  return { channels, h, w, q: (layer as { size: number }).size };
}

export type { ConvPlan };
