/**
 * The two engines an application can run experiments on, behind one interface: WebGPU (a
 * GpuContext, the GPU sessions and `analyze`) and the float64 CPU reference (the CPU sessions and
 * `computeReferenceResults`), for browsers without WebGPU or where the CPU is faster. The lab's
 * worker uses these; it never touches the GPU runtime itself.
 */
import { GpuContext } from '../gpu/context';
import { planOf } from '../model/layout';
import { LimitError } from '../experiment/errors';
import type { ResultKey } from '../experiment/keys';
import type { AnalysisResult } from '../experiment/result';
import type { ResolvedSpec } from '../experiment/types';
import { computeReferenceResults } from '../reference/results';
import { analyze } from './analyze';
import { createSession } from './session/session';
import { createCpuSession } from './session/cpu-session';
import type { Session, SessionOptions } from './session-types';

export type EngineKind = 'webgpu' | 'cpu';

export interface Engine {
  readonly kind: EngineKind;
  /** One line naming the adapter (or the CPU). */
  readonly adapter: string;
  /** A software adapter (SwiftShader, llvmpipe, a fallback adapter): the CPU engine may be faster. */
  readonly software: boolean;
  createSession(spec: ResolvedSpec, opts: SessionOptions): Promise<Session>;
  /** The static analysis at theta0 of the given keys. */
  analyze(spec: ResolvedSpec, keys: Iterable<ResultKey>): Promise<AnalysisResult>;
  /** Resolves with a reason when the device is lost (never for the CPU). */
  readonly lost: Promise<string>;
  /** Destroy the device on purpose (to exercise recovery). */
  loseDevice(): void;
  destroy(): void;
}

/** Largest P·(nc)² for which the CPU engine computes the static analysis (a few seconds of f64 work). */
export const CPU_ANALYSIS_WORK = 2e9;

export async function openGpuEngine(gpu: GPU | undefined): Promise<Engine> {
  if (!gpu) throw new Error('this browser has no navigator.gpu');
  const ctx = await GpuContext.create(gpu);
  const lost = ctx.device.lost.then((info) => info.message || info.reason || 'device lost');
  return {
    kind: 'webgpu',
    adapter: ctx.adapter.summary,
    software: ctx.adapter.software,
    createSession: (spec, opts) => createSession(ctx, spec, opts),
    analyze: (spec, keys) => analyze(ctx, spec, { keys }),
    lost: lost.then((m) => (m === '' ? 'device lost' : m)),
    loseDevice: () => ctx.device.destroy(),
    destroy: () => ctx.destroy(),
  };
}

export function openCpuEngine(): Engine {
  return {
    kind: 'cpu',
    adapter: 'CPU (float64 reference)',
    software: false,
    createSession: (spec, opts) => createCpuSession(spec, opts),
    async analyze(spec, keys) {
      const P = planOf(spec).P;
      const N = spec.data.n * spec.data.c;
      if (P * N * N > CPU_ANALYSIS_WORK) {
        throw new LimitError('P·(nc)² on the CPU', P * N * N, CPU_ANALYSIS_WORK, 'the kernel at θ₀ on the CPU engine');
      }
      return computeReferenceResults(spec, keys);
    },
    lost: new Promise<string>(() => {}),
    loseDevice: () => {},
    destroy: () => {},
  };
}
