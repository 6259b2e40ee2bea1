/**
 * Seeded parameter initialization (used when a spec has `init` instead of `params`).
 *
 * - `standard`: PyTorch's default for nn.Linear and nn.Conv2d. kaiming_uniform_(a=sqrt(5))
 *   gives W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 *   `gain` multiplies the weights (the UI's "init scale").
 * - `ntk`: W ~ N(0, gain^2) and b ~ N(0, 1); the layer multiplies them by sigma_w/sqrt(fan_in)
 *   and sigma_b in the forward pass (see layout.ts), as in Jacot et al. and Neural Tangents.
 *
 * Values are drawn layer by layer, row by row in the theta layout, from one Rng stream.
 */
import { Rng } from '../util/rng';
import type { ModelPlan } from './layout';
import type { Parameterization } from '../experiment/types';

export interface InitOptions {
  seed: number;
  scheme: Parameterization;
  gain: number;
}

export function initParams(plan: ModelPlan, opts: InitOptions): Float64Array {
  const rng = new Rng(opts.seed);
  const theta = new Float64Array(plan.P);
  for (const layer of plan.paramLayers) {
    const m = layer.fanIn + 1;
    const bound = 1 / Math.sqrt(layer.fanIn);
    for (let o = 0; o < layer.out; o++) {
      for (let a = 0; a < m; a++) {
        const isBias = a === layer.fanIn;
        let v: number;
        if (opts.scheme === 'standard') v = rng.range(-bound, bound) * (isBias ? 1 : opts.gain);
        else v = rng.normal() * (isBias ? 1 : opts.gain);
        theta[layer.offset + o * m + a] = v;
      }
    }
  }
  return theta;
}
