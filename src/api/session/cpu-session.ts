/**
 * A training session on the float64 CPU engine (src/dynamics/cpu-backend.ts): for browsers
 * without WebGPU, and where it is faster than a software WebGPU adapter (the lab times both).
 * Same events and semantics as `createSession`, KFAC and EKFAC included.
 */
import type { ResolvedSpec } from '../../experiment/types';
import type { Session, SessionOptions } from '../session-types';
import { CpuBackend } from '../../dynamics/cpu-backend';
import { SessionImpl } from './session';
import { resolveSessionOptions } from './options';

export async function createCpuSession(spec: ResolvedSpec, opts: SessionOptions = {}): Promise<Session> {
  const o = resolveSessionOptions(opts, spec);
  const backend = new CpuBackend(spec, o.linearized, o.probeExamples);
  return SessionImpl.create(backend, spec, o);
}
