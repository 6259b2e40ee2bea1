/**
 * A training session on the float64 CPU reference: the lab's fallback in browsers without WebGPU
 * (small models only, see CPU_MAX_WORK). Same events and semantics as `createSession`.
 */
import type { ResolvedSpec } from '../../experiment/types';
import type { Session, SessionOptions } from '../session-types';
import { CpuBackend } from '../../dynamics/cpu-backend';
import { SessionImpl } from './session';
import { resolveSessionOptions } from './options';

export async function createCpuSession(spec: ResolvedSpec, opts: SessionOptions = {}): Promise<Session> {
  const o = resolveSessionOptions(opts);
  const backend = new CpuBackend(spec, o.linearized, o.probeExamples);
  return SessionImpl.create(backend, spec, { ...o, closedForm: o.closedForm });
}
