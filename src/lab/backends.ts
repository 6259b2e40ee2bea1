/**
 * The two engines the worker can run: WebGPU (GpuContext + createSession + analyze) and the
 * float64 CPU reference (createCpuSession + computeReferenceResults) for browsers without
 * WebGPU. Both present the same `LabBackend` to the worker host.
 */
import { GpuContext } from '../gpu/context';
import { analyze } from '../api/analyze';
import { createSession } from '../api/session/session';
import { createCpuSession } from '../api/session/cpu-session';
import { computeReferenceResults } from '../reference/results';
import { planOf } from '../model/layout';
import type { ResolvedSpec } from '../experiment/types';
import { analysisKeys, toStaticAnalysis } from './analysis';
import type { LabBackend } from './worker-host';

const now = () => performance.now();

/** Largest P·(nc)² for which the CPU fallback computes the static analysis (a few seconds of f64 work). */
export const CPU_ANALYSIS_WORK = 2e9;

export async function openGpuBackend(gpu: GPU | undefined): Promise<LabBackend> {
  if (!gpu) throw new Error('this browser has no navigator.gpu');
  const ctx = await GpuContext.create(gpu);
  const lost = ctx.device.lost.then((info) => info.message || info.reason || 'device lost');
  return {
    kind: 'webgpu',
    adapter: ctx.adapter.summary,
    createSession: (spec, opts) => createSession(ctx, spec, opts),
    async analyze(spec: ResolvedSpec) {
      const t0 = now();
      const res = await analyze(ctx, spec, { keys: analysisKeys(spec) });
      return toStaticAnalysis(res, spec, planOf(spec).P, (now() - t0) / 1000);
    },
    lost: lost.then((m) => (m === '' ? 'device lost' : m)),
    loseDevice: () => ctx.device.destroy(),
    destroy: () => ctx.destroy(),
  };
}

export function openCpuBackend(): LabBackend {
  return {
    kind: 'cpu',
    adapter: 'CPU (float64 reference)',
    createSession: (spec, opts) => createCpuSession(spec, opts),
    async analyze(spec: ResolvedSpec) {
      const t0 = now();
      const P = planOf(spec).P;
      const N = spec.data.n * spec.data.c;
      if (P * N * N > CPU_ANALYSIS_WORK) {
        throw new Error(`the kernel at θ₀ is not computed on the CPU fallback for this size (P·(nc)² = ${(P * N * N).toExponential(1)} > ${CPU_ANALYSIS_WORK.toExponential(0)}); training still works for small models`);
      }
      const res = computeReferenceResults(spec, analysisKeys(spec));
      return toStaticAnalysis(res, spec, planOf(spec).P, (now() - t0) / 1000);
    },
    lost: new Promise<string>(() => {}),
    loseDevice: () => {},
    destroy: () => {},
  };
}
