/**
 * The engine side of the lab, run inside the Web Worker: owns the engines (a WebGPU device and
 * the float64 CPU engine) and the training sessions, and answers the main thread's messages
 * (protocol.ts). Written against small injected interfaces (`LabBackend`, `HostEnv`) so the
 * tests drive it in Node with fake sessions; engine.worker.ts plugs in the real ones.
 *
 * - Backend: `auto` mode runs on WebGPU when the adapter is a hardware one, on the CPU when there
 *   is no WebGPU, and on a software adapter times both on the experiment being loaded and keeps
 *   the faster (backend-choice.ts; one timing per experiment size).
 * - Every task runs on one serial queue, so a play loop, a step, an analysis and a curvature
 *   request never interleave on an engine. The play loop advances every run by `stepsPerTick`
 *   steps per tick and yields to the message loop between chunks, so pause is prompt.
 * - Every message about a run carries its load's id; a new load (preset, reset, edit) makes every
 *   older message void for the store.
 * - On device loss the host opens a new device and replays every run to its last step (the runs
 *   are deterministic for a given spec), then carries on.
 */
import type { Session } from '../api/session-types';
import type { ExperimentSpec, ResolvedSpec } from '../experiment/types';
import { validateSpec } from '../api/validate';
import { isImageData, resolveImageSpec, checkImageData, IMAGE_SETS, type ImageSet } from '../data/images';
import { splitClasses } from '../math/training';
import { dot } from '../math/linalg';
import { checkLabLimits, errorMessage } from './doc/check';
import type { BackendDecision, BackendKind, BackendMode, FromWorker, ImageSamples, LabSessionOptions, RunFacts, RunRequest, RunStatus, StaticAnalysis, ToWorker } from './protocol';
import { errorCode, SpecError } from '../experiment/errors';
import { costKey, heaviest, initialDecision, measureRate, timedDecision, TIMING_BUDGET_MS, WARMUP_LIMIT_MS, type GpuState } from './backend-choice';
import { exportPytorch } from '../export/pytorch';

/** What the host needs from an engine. */
export interface LabBackend {
  readonly kind: BackendKind;
  readonly adapter: string;
  /** A software adapter (SwiftShader, llvmpipe, fallback): the CPU engine may be faster. */
  readonly software: boolean;
  createSession(spec: ResolvedSpec, opts: LabSessionOptions): Promise<Session>;
  analyze(spec: ResolvedSpec): Promise<StaticAnalysis>;
  /** Resolves with a reason when the device is lost (never for the CPU). */
  readonly lost: Promise<string>;
  /** Destroy the device on purpose (to exercise recovery). */
  loseDevice(): void;
  destroy(): void;
}

export interface HostEnv {
  post(m: FromWorker): void;
  /** Open the WebGPU engine; throws (with a reason) when the browser has none. */
  openGpu(): Promise<LabBackend>;
  /** The float64 CPU engine. */
  openCpu(): LabBackend;
  loadImages(name: string): Promise<ImageSet>;
}

interface Run {
  req: RunRequest;
  spec: ResolvedSpec;
  loadId: number;
  session: Session | null;
  done: boolean;
  error: string | null;
}

/** A run to recreate after a device loss, and the step to replay it to. */
type ReplayTarget = Omit<Run, 'session'> & { step: number };

/**
 * Share of a chunk's duration (and its upper bound) that the play loop sleeps after posting
 * events, so the page can draw them. On a software WebGPU adapter the device computes on the same
 * cores as the page; the CPU engine computes in this worker's own thread and needs little.
 */
const YIELD_SHARE: Record<BackendKind, number> = { webgpu: 0.3, cpu: 0.05 };
const MAX_YIELD_MS = 60;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Yield to the message loop without setTimeout's 4 ms clamp. */
function yieldNow(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return sleep(0);
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(0);
  });
}

/** Up to `perClass` training images of each class (image data only), for the data card. */
export function imageSamples(spec: ResolvedSpec, perClass = 2, max = 20): ImageSamples | null {
  const name = spec.data.meta.dataset;
  if (!name || !(name in IMAGE_SETS)) return null;
  const meta = IMAGE_SETS[name];
  const d = meta.shape[0] * meta.shape[1] * meta.shape[2];
  const labels = splitClasses(spec.data.labels, spec.data.y, spec.data.n, spec.data.c);
  const count = new Map<number, number>();
  const picked: number[] = [];
  for (let i = 0; i < spec.data.n && picked.length < max; i++) {
    const l = labels ? labels[i] : 0;
    if ((count.get(l) ?? 0) >= perClass) continue;
    count.set(l, (count.get(l) ?? 0) + 1);
    picked.push(i);
  }
  // In class order, as a legend of the classes.
  const label = (i: number) => (labels ? labels[i] : 0);
  picked.sort((a, b) => label(a) - label(b) || a - b);
  return { shape: meta.shape, images: picked.map((i) => Float32Array.from(spec.data.x.subarray(i * d, (i + 1) * d))), labels: picked.map(label), classNames: meta.classNames };
}

export class WorkerHost {
  private mode: BackendMode = 'auto';
  private gpu: LabBackend | null = null;
  private gpuError: string | null = null;
  private gpuTried = false;
  private cpu: LabBackend | null = null;
  /** The engine the runs use. */
  private backend: LabBackend | null = null;
  private decision: BackendDecision | null = null;
  /** Auto mode on a software adapter: the timed decision of each experiment size. */
  private readonly timed = new Map<string, BackendDecision>();
  private runs: Run[] = [];
  private loadId = 0;
  /** The latest load asked for, and the id of the load `runs` hold (a device loss may drop the queued one). */
  private lastLoad: { reqs: RunRequest[]; loadId: number } | null = null;
  private loadedId = -1;
  private playing = false;
  private looping = false;
  private stepsPerTick = 5;
  private queue: Promise<unknown> = Promise.resolve();
  /** Bumped on device loss: tasks of an older generation stop quietly. */
  private generation = 0;
  private abort: AbortController | null = null;
  private recovering = false;
  private readonly images = new Map<string, Promise<ImageSet>>();
  private latestAnalysis = -1;
  /** Whether the user wants the runs to play (a pause while a load is pending cancels its autoplay). */
  private wantPlay = false;

  constructor(private readonly env: HostEnv) {}

  handle(m: ToWorker): void {
    switch (m.type) {
      case 'init':
        this.mode = m.backend;
        void this.enqueue(() => this.open());
        break;
      case 'setBackend':
        this.mode = m.mode;
        this.playing = false;
        this.abort?.abort();
        void this.enqueue(() => this.applyMode());
        break;
      case 'load':
        this.playing = false;
        this.wantPlay = m.autoplay;
        this.abort?.abort();
        this.loadId = m.loadId;
        this.lastLoad = { reqs: m.runs, loadId: m.loadId };
        void this.enqueue(() => this.load(m.runs, m.loadId));
        break;
      case 'analyze':
        // Slider drags send many; only the latest one is computed.
        this.latestAnalysis = m.requestId;
        void this.enqueue(() => this.analyze(m.requestId, m.spec));
        break;
      case 'play':
        this.wantPlay = true;
        this.play();
        break;
      case 'pause':
        this.playing = false;
        this.wantPlay = false;
        this.abort?.abort();
        if (this.runs.length) this.status(this.allDone() ? 'done' : 'paused');
        break;
      case 'step':
        this.playing = false;
        this.wantPlay = false;
        void this.enqueue(() => this.tick(m.steps, false));
        break;
      case 'speed':
        this.stepsPerTick = Math.max(1, Math.min(1000, Math.round(m.stepsPerTick)));
        break;
      case 'curvature':
        void this.enqueue(() => this.curvature());
        break;
      case 'simulateDeviceLoss':
        this.gpu?.loseDevice();
        break;
      case 'exportPytorch':
        // Text generation only (no device work), so not on the GPU queue.
        void this.exportPytorch(m.requestId, m.spec);
        break;
    }
  }

  /** Run `task` after every queued task (errors are reported, never thrown). */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const gen = this.generation;
    const run = this.queue.then(async () => {
      if (gen !== this.generation) return;
      try {
        await task();
      } catch (e) {
        if (gen !== this.generation || this.recovering) return;
        this.error(e, null, null);
      }
    });
    this.queue = run;
    return run;
  }

  private error(e: unknown, run: Run | null, requestId: number | null): void {
    this.env.post({
      type: 'error',
      kind: errorCode(e),
      message: errorMessage(e),
      loadId: run ? run.loadId : requestId === null ? this.loadId : null,
      runId: run ? run.req.id : null,
      field: e instanceof SpecError ? e.field : null,
      requestId,
    });
  }

  /** The step the runs have reached together: the least of the runs still alive (failed runs do not hold it back). */
  private progress(): number {
    const live = this.runs.filter((r) => r.session && !r.error);
    const pool = live.length ? live : this.runs;
    return pool.length ? Math.min(...pool.map((r) => r.session?.step ?? 0)) : 0;
  }

  private status(status: RunStatus): void {
    this.env.post({ type: 'status', status, step: this.progress(), loadId: this.loadId });
  }

  private allDone(): boolean {
    return this.runs.every((r) => r.done);
  }

  private gpuState(): GpuState {
    return { adapter: this.gpu?.adapter ?? null, software: this.gpu?.software ?? false, error: this.gpu ? null : this.gpuError };
  }

  /** Open the WebGPU engine once (its failure is remembered as the reason for the CPU). */
  private async ensureGpu(): Promise<void> {
    if (this.gpu || this.gpuTried) return;
    this.gpuTried = true;
    try {
      this.attach(await this.env.openGpu());
    } catch (e) {
      this.gpuError = errorMessage(e);
    }
  }

  private attach(gpu: LabBackend): void {
    this.gpu = gpu;
    this.gpuError = null;
    void gpu.lost.then((reason) => {
      if (this.gpu !== gpu) return;
      if (this.backend === gpu) void this.recover(reason);
      else {
        // A device nobody runs on (e.g. only timed): forget it; it reopens when needed.
        this.gpu = null;
        this.gpuTried = false;
      }
    });
  }

  private setDecision(decision: BackendDecision, first = false): void {
    this.decision = decision;
    this.backend = decision.kind === 'webgpu' ? this.gpu : this.cpu;
    this.env.post(first ? { type: 'ready', decision } : { type: 'backend', decision });
  }

  private async open(): Promise<void> {
    try {
      this.cpu = this.env.openCpu();
    } catch (e) {
      this.env.post({ type: 'noBackend', reason: errorMessage(e) });
      return;
    }
    if (this.mode !== 'cpu') await this.ensureGpu();
    this.setDecision(initialDecision(this.mode, this.gpuState(), this.cpu.adapter).decision, true);
  }

  private async applyMode(): Promise<void> {
    if (!this.cpu) return;
    if (this.mode !== 'cpu') await this.ensureGpu();
    this.setDecision(initialDecision(this.mode, this.gpuState(), this.cpu.adapter).decision);
  }

  /**
   * Auto mode on a software adapter: time both engines on the heaviest run of this load (once
   * per experiment size) and use the faster.
   */
  private async choose(runs: { spec: ResolvedSpec; options: LabSessionOptions }[], loadId: number): Promise<void> {
    if (!this.cpu) return;
    // A device that was lost while nobody ran on it was forgotten (attach): reopen it here, or the
    // decision would say that WebGPU is not available.
    if (this.mode !== 'cpu') await this.ensureGpu();
    const { decision, timing } = initialDecision(this.mode, this.gpuState(), this.cpu.adapter);
    if (!timing || !this.gpu || runs.length === 0) {
      if (decision.kind !== this.decision?.kind || decision.reason !== this.decision?.reason) this.setDecision(decision);
      return;
    }
    const key = costKey(runs);
    const known = this.timed.get(key);
    if (known) {
      if (known !== this.decision) this.setDecision(known);
      return;
    }
    this.env.post({ type: 'choosing', loadId });
    const run = heaviest(runs);
    const rates: { webgpu: number | null; cpu: number | null } = { webgpu: null, cpu: null };
    let note: string | null = null;
    try {
      rates.cpu = (await measureRate(this.cpu, run.spec, run.options)).stepsPerSecond;
    } catch (e) {
      note = `the CPU engine cannot run it: ${errorMessage(e)}`;
    }
    const gpu = this.gpu;
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<null>((r) => (timer = setTimeout(() => r(null), WARMUP_LIMIT_MS + 2 * TIMING_BUDGET_MS)));
      // A timing that loses the race is abandoned, not left computing beside the runs: it stops
      // at its next chunk (or as soon as its session exists) and frees its session.
      const stop = new AbortController();
      const timing = measureRate(gpu, run.spec, run.options, TIMING_BUDGET_MS, stop.signal);
      timing.catch(() => {});
      const measured = await Promise.race([timing, limit]);
      clearTimeout(timer);
      if (measured) rates.webgpu = measured.stepsPerSecond;
      else {
        stop.abort();
        note = `WebGPU needed more than ${WARMUP_LIMIT_MS / 1000} s to set it up`;
      }
    } catch (e) {
      note = `WebGPU failed on it: ${errorMessage(e)}`;
    }
    // Neither could be timed (e.g. the run diverges at once): keep the default choice; the
    // runs themselves will report what is wrong.
    if (rates.cpu === null && rates.webgpu === null) {
      this.setDecision(decision);
      return;
    }
    const d = timedDecision(this.gpuState(), this.cpu.adapter, rates, note);
    this.timed.set(key, d);
    this.setDecision(d);
  }

  /** Validate a spec (resolving image data) into the engine's input. */
  async prepare(raw: ExperimentSpec): Promise<ResolvedSpec> {
    if (isImageData(raw.data)) {
      const opts = checkImageData(raw.data as Record<string, unknown>);
      let p = this.images.get(opts.dataset);
      if (!p) {
        p = this.env.loadImages(opts.dataset);
        this.images.set(opts.dataset, p);
        p.catch(() => this.images.delete(opts.dataset));
      }
      const set = await p;
      const { spec, flipped } = resolveImageSpec(raw, set);
      const resolved = validateSpec(spec);
      resolved.data.meta = { dataset: opts.dataset, flipped: flipped.some(Boolean) ? Uint8Array.from(flipped, Number) : null };
      checkLabLimits(resolved);
      return resolved;
    }
    const resolved = validateSpec(raw);
    checkLabLimits(resolved);
    return resolved;
  }

  private disposeRuns(): void {
    for (const r of this.runs) r.session?.dispose();
    this.runs = [];
  }

  private async load(reqs: RunRequest[], loadId: number): Promise<void> {
    // A newer load was requested meanwhile (a preset clicked twice, a quick edit): skip this one.
    const stale = () => loadId !== this.loadId;
    // Stale, or already loaded by a device-loss recovery that found it pending.
    if (stale() || loadId === this.loadedId) return;
    this.disposeRuns();
    if (!this.cpu) throw new Error('no compute backend (WebGPU and the CPU engine both failed to start)');
    this.status('loading');
    const runs: Run[] = [];
    for (const req of reqs) {
      const run: Run = { req, spec: null as unknown as ResolvedSpec, loadId, session: null, done: false, error: null };
      try {
        run.spec = await this.prepare(req.spec);
      } catch (e) {
        this.error(e, run, null);
        this.status('error');
        return;
      }
      runs.push(run);
    }
    if (stale()) return;
    await this.choose(
      runs.map((r) => ({ spec: r.spec, options: r.req.options })),
      loadId,
    );
    const backend = this.backend;
    if (stale() || !backend) return;
    for (const run of runs) {
      if (stale()) {
        for (const r of runs) r.session?.dispose();
        return;
      }
      try {
        run.session = await backend.createSession(run.spec, run.req.options);
        const facts: RunFacts = { theta0Norm: Math.sqrt(dot(run.spec.theta, run.spec.theta)), samples: imageSamples(run.spec) };
        this.env.post({ type: 'info', loadId, runId: run.req.id, info: run.session.info, facts });
        const first = await run.session.snapshot();
        this.env.post({ type: 'metrics', loadId, runId: run.req.id, events: [first] });
      } catch (e) {
        run.session?.dispose();
        run.session = null;
        run.done = true;
        run.error = errorMessage(e);
        this.error(e, run, null);
      }
    }
    if (stale()) {
      for (const r of runs) r.session?.dispose();
      return;
    }
    this.runs = runs;
    this.loadedId = loadId;
    if (runs.every((r) => r.session === null)) {
      this.status('error');
      return;
    }
    this.status('paused');
    if (this.wantPlay) this.play();
  }

  private play(): void {
    if (!this.runs.length || this.allDone()) {
      if (this.runs.length) this.status('done');
      return;
    }
    this.playing = true;
    this.status('running');
    if (!this.looping) void this.loop();
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (this.playing && !this.recovering) {
        await this.enqueue(() => this.tick(this.stepsPerTick, true));
        if (this.allDone()) {
          this.playing = false;
          break;
        }
        await yieldNow();
      }
    } finally {
      this.looping = false;
    }
  }

  /**
   * Advance every unfinished run by k steps (while playing: at least k, to a metric step), in
   * chunks of one metric interval taken in turn (round robin), posting each chunk's events at
   * once so the plots move while a tick runs.
   */
  private async tick(k: number, playing: boolean): Promise<void> {
    if (!this.runs.length) return;
    const gen = this.generation;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const share = YIELD_SHARE[this.backend?.kind ?? 'webgpu'];
    const left = new Map(this.runs.map((r) => [r, k]));
    let active = true;
    while (active) {
      active = false;
      for (const run of this.runs) {
        const rest = left.get(run) ?? 0;
        if (run.done || !run.session || rest <= 0) continue;
        if ((playing && !this.playing) || signal.aborted) {
          active = false;
          break;
        }
        // Chunks end on metric steps (a session emits an event at the end of every advance, so
        // a chunk ending elsewhere would cost an extra event); while playing, a tick may run past
        // k to the next metric step. An explicit step is exact.
        const every = Math.max(1, run.req.options.metricsEvery ?? 10);
        const toEvent = every - (run.session.step % every);
        const chunk = playing ? toEvent : Math.min(rest, toEvent);
        try {
          const before = run.session.step;
          const t0 = performance.now();
          const events = await run.session.advance(chunk, signal);
          if (gen !== this.generation) return;
          if (events.length) {
            this.env.post({ type: 'metrics', loadId: run.loadId, runId: run.req.id, events });
            // Duty cycle: leave the CPU to the main thread while it draws these events.
            const pause = Math.min(MAX_YIELD_MS, share * (performance.now() - t0));
            if (pause >= 1) await sleep(pause);
            else await yieldNow();
          }
          const moved = run.session.step - before;
          left.set(run, moved > 0 ? rest - moved : 0);
          if (run.session.step >= (run.spec.train?.steps ?? 0)) run.done = true;
          else active = true;
        } catch (e) {
          if (gen !== this.generation || this.recovering) return;
          if (e instanceof Error && e.name === 'AbortError') break;
          run.done = true;
          run.error = errorMessage(e);
          this.error(e, run, null);
        }
      }
      if (active) this.status(playing && this.playing ? 'running' : 'paused');
    }
    if (gen !== this.generation) return;
    if (this.allDone()) this.status(this.runs.every((r) => r.error) ? 'error' : 'done');
    else this.status(this.playing ? 'running' : 'paused');
  }

  private async analyze(requestId: number, raw: ExperimentSpec): Promise<void> {
    if (!this.backend || requestId !== this.latestAnalysis) return;
    try {
      const spec = await this.prepare(raw);
      const result = await this.backend.analyze(spec);
      this.env.post({ type: 'analysis', requestId, result });
    } catch (e) {
      this.error(e, null, requestId);
    }
  }

  /** The PyTorch script of a spec, with image sets resolved to their pixels (as for a run). */
  async exportPytorch(requestId: number, raw: ExperimentSpec): Promise<void> {
    try {
      const { script, filename } = exportPytorch(await this.prepare(raw));
      this.env.post({ type: 'pytorchScript', requestId, result: { script, filename } });
    } catch (e) {
      this.env.post({ type: 'pytorchScript', requestId, result: { error: errorMessage(e) } });
    }
  }

  private async curvature(): Promise<void> {
    for (const run of this.runs) {
      if (!run.session) continue;
      try {
        const report = await run.session.curvature();
        this.env.post({ type: 'curvature', loadId: run.loadId, runId: run.req.id, report });
      } catch (e) {
        this.error(e, run, null);
      }
    }
  }

  /** Device lost: a new device (else the CPU), sessions recreated and replayed to their last step. */
  private async recover(reason: string): Promise<void> {
    if (this.recovering) return;
    this.recovering = true;
    this.generation++;
    this.queue = Promise.resolve();
    const wasPlaying = this.playing;
    this.playing = false;
    this.env.post({ type: 'deviceLost', message: reason });
    const targets: ReplayTarget[] = this.runs.map((r) => ({ req: r.req, spec: r.spec, loadId: r.loadId, step: r.session?.step ?? 0, done: r.done, error: r.error }));
    for (const r of this.runs) {
      try {
        r.session?.dispose();
      } catch {
        // the device is gone; nothing to free
      }
    }
    this.runs = [];
    try {
      this.gpu?.destroy();
    } catch {
      // already lost
    }
    this.gpu = null;
    this.gpuTried = false;
    // The rebuild is a task of the (fresh) queue, so a load, step or analysis that arrives
    // meanwhile waits for it instead of creating sessions beside it (the replayed runs would then
    // overwrite the new load's).
    void this.enqueue(() => this.rebuild(reason, targets, wasPlaying));
  }

  private async rebuild(reason: string, targets: ReplayTarget[], wasPlaying: boolean): Promise<void> {
    try {
      await this.ensureGpu();
      const backend = this.gpu ?? this.cpu!;
      if (this.decision) {
        const how = backend.kind === 'webgpu' ? `on a new WebGPU device (${backend.adapter})` : 'on the CPU engine (WebGPU could not be reopened)';
        this.setDecision({ ...this.decision, kind: backend.kind, adapter: backend.adapter, reason: `the WebGPU device was lost (${reason}); the runs were replayed ${how}` });
      }
      this.backend = backend;
      const runs: Run[] = [];
      // Runs of a load that a newer one replaced meanwhile are not replayed.
      for (const t of targets.filter((x) => x.loadId === this.loadId)) {
        const session = t.error ? null : await backend.createSession(t.spec, t.req.options);
        if (session) {
          let left = t.step;
          while (left > 0) {
            const before = session.step;
            await session.advance(Math.min(left, 500));
            left -= session.step - before;
            if (session.step === before) break;
          }
        }
        runs.push({ req: t.req, spec: t.spec, loadId: t.loadId, session, done: t.done, error: t.error });
      }
      this.runs = runs;
      this.recovering = false;
      this.env.post({ type: 'recovered', backend: backend.kind, adapter: backend.adapter, step: this.progress() });
      const pending = this.lastLoad;
      if (pending && pending.loadId === this.loadId && this.loadedId !== pending.loadId) {
        // A load asked for just before (or during) the loss: its queued task was dropped with
        // the old queue, or waits behind this one and will find it done.
        await this.load(pending.reqs, pending.loadId);
        return;
      }
      if (runs.length) this.status(this.allDone() ? 'done' : 'paused');
      // Unless a pause (or a step) came while recovering.
      if (wasPlaying && this.wantPlay) this.play();
    } catch (e) {
      this.recovering = false;
      this.env.post({ type: 'error', kind: 'runtime', message: `could not recover from the device loss: ${errorMessage(e)}; reload the page`, loadId: null, runId: null, field: null, requestId: null });
      this.status('error');
    }
  }
}
