/**
 * The lab's two backends, the engines of src/api/engines.ts (WebGPU and the float64 CPU
 * reference), with the static analysis converted for the panels. Both present the same
 * `LabBackend` to the worker host.
 */
import { openCpuEngine, openGpuEngine, type Engine } from '../api/engines';
import { planOf } from '../model/layout';
import type { ResolvedSpec } from '../experiment/types';
import { analysisKeys, toStaticAnalysis } from './analysis';
import type { LabBackend } from './worker-host';

const now = () => performance.now();

function labBackend(engine: Engine): LabBackend {
  return {
    kind: engine.kind,
    adapter: engine.adapter,
    software: engine.software,
    createSession: (spec, opts) => engine.createSession(spec, opts),
    async analyze(spec: ResolvedSpec) {
      const t0 = now();
      const res = await engine.analyze(spec, analysisKeys(spec));
      return toStaticAnalysis(res, spec, planOf(spec).P, (now() - t0) / 1000);
    },
    lost: engine.lost,
    loseDevice: () => engine.loseDevice(),
    destroy: () => engine.destroy(),
  };
}

export async function openGpuBackend(gpu: GPU | undefined): Promise<LabBackend> {
  return labBackend(await openGpuEngine(gpu));
}

export function openCpuBackend(): LabBackend {
  return labBackend(openCpuEngine());
}
