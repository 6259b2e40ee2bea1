/**
 * A data split (training or test inputs and targets) uploaded to the GPU in the layout the
 * model and the loss kernels read: inputs n x inputSize, targets n x c (mse) or n labels as f32
 * (cross_entropy).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ModelPlan } from '../model/layout';
import type { ResolvedSpec } from '../experiment/types';

/** Inputs and targets of one data split, on the GPU. */
export interface DeviceSplit {
  n: number;
  x: Tensor;
  /** mse: n x c targets; cross_entropy: n labels (as f32). */
  targets: Tensor;
}

export function uploadSplit(ctx: GpuContext, spec: ResolvedSpec, plan: ModelPlan, which: 'train' | 'test'): DeviceSplit | null {
  const d = spec.data;
  const n = which === 'train' ? d.n : d.nTest;
  if (n === 0) return null;
  const x = ctx.upload(which === 'train' ? d.x : d.xTest, [n, plan.inputSize], `x ${which}`);
  const targets =
    spec.loss === 'mse'
      ? ctx.upload(which === 'train' ? d.y : d.yTest, [n, plan.c], `y ${which}`)
      : ctx.upload(Float32Array.from((which === 'train' ? d.labels : d.labelsTest)!), [n], `labels ${which}`);
  return { n, x, targets };
}

export function releaseSplit(s: DeviceSplit | null): void {
  s?.x.destroy();
  s?.targets.destroy();
}
