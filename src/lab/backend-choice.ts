/**
 * Which engine the lab's runs use. WebGPU on a hardware adapter is the fast path; on a software
 * adapter (SwiftShader, llvmpipe, a fallback adapter) the float64 CPU engine is often faster, so
 * in `auto` mode the worker times both on the current experiment for about a second and runs on
 * the faster. `?backend=webgpu|cpu` (or the header's control) overrides the choice.
 *
 * The reasons are shown in the header as they are written here: one line, no jargon beyond the
 * adapter's name.
 */
import type { ResolvedSpec } from '../experiment/types';
import { planOf } from '../model/layout';
import { errorCode } from '../experiment/errors';
import type { BackendDecision, BackendKind, BackendMode, LabSessionOptions } from './protocol';

/** The part of a backend the choice needs (worker-host.ts's LabBackend has it). */
export interface TimedBackend {
  readonly kind: BackendKind;
  readonly adapter: string;
  readonly software: boolean;
  createSession(spec: ResolvedSpec, opts: LabSessionOptions): Promise<{
    readonly step: number;
    advance(k: number, signal?: AbortSignal): Promise<unknown>;
    dispose(): void;
  }>;
}

/** Engine time spent measuring each backend's steady state (after its warm-up). */
export const TIMING_BUDGET_MS = 500;
/**
 * A backend that needs longer than this to set up the experiment and take one step loses. Every
 * page load on a software adapter waits for it. Measured in Chromium on this machine: SwiftShader's
 * WebGPU needs more than 8 s for even the smallest experiment (pipeline compilation) and then
 * trains 7-35x slower than the CPU engine on every preset, while opening the device takes ~50 ms
 * and timing the CPU ~0.4 s. With the limit at 8 s a load was ready after ~12 s, at 4 s after
 * ~6.5 s; 2.5 s keeps it near 5 s and still times a software adapter that compiles quickly.
 */
export const WARMUP_LIMIT_MS = 2500;

export interface Rate {
  /** Steps per second, metric events included at the session's cadence. */
  stepsPerSecond: number;
  /** Steps timed. */
  steps: number;
}

const now = () => performance.now();

/**
 * Steps per second of `spec` on `backend` as the lab runs it: one warm-up step (pipelines,
 * buffers, the step-0 event), then chunks ending on metric steps (as the play loop advances, so
 * the metric events are included at their cadence) for about `budgetMs`. Without the
 * infinite-width network: its kernels are computed once at creation (not a per-step cost, and the
 * same float64 function-space step on either engine), so timing would only pay for them twice.
 * `signal` abandons the timing (a backend that lost the race to its time limit): it stops at the
 * next chunk, frees its session and rejects with an AbortError.
 */
export async function measureRate(backend: TimedBackend, spec: ResolvedSpec, opts: LabSessionOptions, budgetMs = TIMING_BUDGET_MS, signal?: AbortSignal): Promise<Rate> {
  const session = await backend.createSession(spec, { ...opts, infinite: false });
  const check = () => {
    if (signal?.aborted) throw Object.assign(new Error('timing abandoned'), { name: 'AbortError' });
  };
  try {
    const total = spec.train?.steps ?? 0;
    const every = Math.max(1, opts.metricsEvery ?? 10);
    check();
    await session.advance(1, signal);
    let steps = 0;
    const t0 = now();
    try {
      while ((steps === 0 || now() - t0 < budgetMs) && session.step < total) {
        check();
        const before = session.step;
        await session.advance(every - (session.step % every), signal);
        if (session.step === before) break;
        steps += session.step - before;
      }
    } catch (e) {
      // A run that diverges while timed (too large a learning rate) was timed until then: the
      // speed is what is measured, the divergence is the run's own business.
      if (errorCode(e) !== 'divergence' || steps === 0) throw e;
    }
    const seconds = (now() - t0) / 1000;
    return { stepsPerSecond: seconds > 0 ? steps / seconds : Infinity, steps };
  } finally {
    session.dispose();
  }
}

/** The run that dominates the time of a set of runs (largest P * n). */
export function heaviest<T extends { spec: ResolvedSpec }>(runs: T[]): T {
  const cost = (r: T) => planOf(r.spec).P * Math.max(1, r.spec.data.n);
  return runs.reduce((a, b) => (cost(b) > cost(a) ? b : a));
}

/** What decides a timing: the sizes and the work per step, not the learning rate or the seeds. */
export function costKey(runs: { spec: ResolvedSpec; options: LabSessionOptions }[]): string {
  return JSON.stringify(
    runs.map(({ spec, options }) => {
      const t = spec.train;
      return [spec.model, spec.data.n, spec.data.nTest, spec.data.c, spec.loss, t?.optimizer, t?.batchSize, t?.eigEvery, options];
    }),
  );
}

export interface GpuState {
  adapter: string | null;
  software: boolean;
  error: string | null;
}

const fmtRate = (r: number | null) => (r === null ? 'n/a' : r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toPrecision(2));

/**
 * The backend to use before (or without) timing: `timing` is true when auto mode should time
 * both backends on the experiment (a software adapter).
 */
export function initialDecision(mode: BackendMode, gpu: GpuState, cpuAdapter: string): { decision: BackendDecision; timing: boolean } {
  const base = { mode, rates: null, gpuAdapter: gpu.adapter, gpuSoftware: gpu.software, gpuError: gpu.error };
  const cpu = (reason: string): BackendDecision => ({ ...base, kind: 'cpu', adapter: cpuAdapter, reason });
  const webgpu = (reason: string): BackendDecision => ({ ...base, kind: 'webgpu', adapter: gpu.adapter!, reason });
  if (mode === 'cpu') return { decision: cpu('the CPU engine was requested'), timing: false };
  if (gpu.adapter === null) {
    const why = `WebGPU is not available (${gpu.error ?? 'no adapter'})`;
    return { decision: cpu(mode === 'webgpu' ? `WebGPU was requested, but ${why}` : why), timing: false };
  }
  if (mode === 'webgpu') return { decision: webgpu('WebGPU was requested'), timing: false };
  if (!gpu.software) return { decision: webgpu('a hardware WebGPU adapter'), timing: false };
  return { decision: cpu(`timing WebGPU (${gpu.adapter}, a software adapter) and the CPU on this experiment…`), timing: true };
}

/** The decision after timing both backends on the experiment. */
export function timedDecision(gpu: GpuState, cpuAdapter: string, rates: { webgpu: number | null; cpu: number | null }, gpuNote: string | null = null): BackendDecision {
  const gpuFaster = rates.webgpu !== null && (rates.cpu === null || rates.webgpu > rates.cpu);
  const kind: BackendKind = gpuFaster ? 'webgpu' : 'cpu';
  const measured = `CPU ${fmtRate(rates.cpu)} vs WebGPU ${fmtRate(rates.webgpu)} steps/s on this experiment`;
  const reason = `${kind === 'cpu' ? 'the CPU' : 'WebGPU'} is faster here: ${measured}${gpuNote ? ` (${gpuNote})` : ''}; ${gpu.adapter} is a software adapter`;
  return { kind, adapter: kind === 'cpu' ? cpuAdapter : gpu.adapter!, mode: 'auto', reason, rates, gpuAdapter: gpu.adapter, gpuSoftware: gpu.software, gpuError: gpu.error };
}
