/**
 * The engine side of the lab, run inside the Web Worker: owns the backend (a GPU device or the
 * CPU reference) and the training sessions, and answers the main thread's messages
 * (protocol.ts). Written against small injected interfaces (`LabBackend`, `HostEnv`) so the
 * tests drive it in Node with fake sessions; engine.worker.ts plugs in the real ones.
 *
 * Every GPU task runs on one serial queue, so a play loop, a step, an analysis and a curvature
 * request never interleave on the device. The play loop advances every run by `stepsPerTick`
 * steps per tick and yields to the message loop between ticks, so pause is prompt.
 * On device loss the host opens a new backend and replays every run to its last step (the runs
 * are deterministic for a given spec), then carries on.
 */
import type { Session } from '../api/session-types';
import type { ExperimentSpec, ResolvedSpec } from '../experiment/types';
import { validateSpec } from '../api/validate';
import { isImageData, resolveImageSpec, checkImageData, type ImageSet } from '../data/images';
import { checkLabLimits, errorMessage } from './doc/check';
import type { BackendKind, FromWorker, LabSessionOptions, RunRequest, RunStatus, StaticAnalysis, ToWorker } from './protocol';
import { errorCode, SpecError } from '../experiment/errors';
import { exportPytorch } from '../export/pytorch';

/** What the host needs from an engine. */
export interface LabBackend {
  readonly kind: BackendKind;
  readonly adapter: string;
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
  /** Open the GPU backend, or the CPU one when forced or when WebGPU is unavailable. */
  openBackend(forceCpu: boolean): Promise<{ backend: LabBackend; reason: string | null }>;
  loadImages(name: string): Promise<ImageSet>;
}

interface Run {
  req: RunRequest;
  spec: ResolvedSpec;
  session: Session | null;
  done: boolean;
  error: string | null;
}

/** Share of a chunk's duration, and its upper bound, that the play loop sleeps after posting events. */
const YIELD_SHARE = 0.3;
const MAX_YIELD_MS = 60;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


export class WorkerHost {
  private backend: LabBackend | null = null;
  private runs: Run[] = [];
  private loadKey: string | null = null;
  private playing = false;
  private looping = false;
  private stepsPerTick = 5;
  private queue: Promise<unknown> = Promise.resolve();
  /** Bumped on device loss: tasks of an older generation stop quietly. */
  private generation = 0;
  private abort: AbortController | null = null;
  private recovering = false;
  private readonly images = new Map<string, Promise<ImageSet>>();
  private forceCpu = false;
  private latestAnalysis = -1;
  /** Whether the user wants the runs to play (a pause while a load is pending cancels its autoplay). */
  private wantPlay = false;

  constructor(private readonly env: HostEnv) {}

  handle(m: ToWorker): void {
    switch (m.type) {
      case 'init':
        this.forceCpu = m.forceCpu;
        void this.enqueue(() => this.open());
        break;
      case 'load':
        this.playing = false;
        this.wantPlay = m.autoplay;
        this.abort?.abort();
        this.loadKey = m.loadKey;
        void this.enqueue(() => this.load(m.runs, m.loadKey));
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
      case 'reset':
        this.playing = false;
        this.wantPlay = false;
        void this.enqueue(() => this.load(this.runs.map((r) => r.req), this.loadKey));
        break;
      case 'curvature':
        void this.enqueue(() => this.curvature());
        break;
      case 'simulateDeviceLoss':
        this.backend?.loseDevice();
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

  private error(e: unknown, runId: string | null, requestId: number | null): void {
    this.env.post({ type: 'error', kind: errorCode(e), message: errorMessage(e), runId, field: e instanceof SpecError ? e.field : null, requestId });
  }

  private status(status: RunStatus): void {
    const step = this.runs.length ? Math.min(...this.runs.map((r) => r.session?.step ?? 0)) : 0;
    this.env.post({ type: 'status', status, step, loadKey: this.loadKey });
  }

  private allDone(): boolean {
    return this.runs.every((r) => r.done);
  }

  private async open(): Promise<void> {
    try {
      const { backend, reason } = await this.env.openBackend(this.forceCpu);
      this.attach(backend);
      this.env.post({ type: 'ready', backend: backend.kind, adapter: backend.adapter, reason });
    } catch (e) {
      this.env.post({ type: 'noBackend', reason: errorMessage(e) });
    }
  }

  private attach(backend: LabBackend): void {
    this.backend = backend;
    void backend.lost.then((reason) => {
      if (this.backend === backend) void this.recover(reason);
    });
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

  private async load(reqs: RunRequest[], key: string | null): Promise<void> {
    const backend = this.backend;
    // A newer load was requested meanwhile (a preset clicked twice, a quick edit): skip this one.
    const stale = () => key !== this.loadKey;
    if (stale()) return;
    if (!backend) throw new Error('no compute backend (WebGPU and the CPU fallback both failed to start)');
    this.disposeRuns();
    this.status('loading');
    const runs: Run[] = [];
    for (const req of reqs) {
      let spec: ResolvedSpec;
      try {
        spec = await this.prepare(req.spec);
      } catch (e) {
        this.error(e, req.id, null);
        this.status('error');
        return;
      }
      runs.push({ req, spec, session: null, done: false, error: null });
    }
    for (const run of runs) {
      if (stale()) {
        for (const r of runs) r.session?.dispose();
        return;
      }
      try {
        run.session = await backend.createSession(run.spec, run.req.options);
        this.env.post({ type: 'info', runId: run.req.id, info: run.session.info });
        const first = await run.session.snapshot();
        this.env.post({ type: 'metrics', runId: run.req.id, events: [first] });
      } catch (e) {
        run.session?.dispose();
        run.session = null;
        run.done = true;
        run.error = errorMessage(e);
        this.error(e, run.req.id, null);
      }
    }
    if (stale()) {
      for (const r of runs) r.session?.dispose();
      return;
    }
    this.runs = runs;
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
        await sleep(0);
      }
    } finally {
      this.looping = false;
    }
  }

  /**
   * Advance every unfinished run by k steps, in chunks of one metric interval taken in turn
   * (round robin), posting each chunk's events at once so the plots move while a tick runs.
   */
  private async tick(k: number, playing: boolean): Promise<void> {
    if (!this.runs.length) return;
    const gen = this.generation;
    this.abort = new AbortController();
    const signal = this.abort.signal;
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
        const chunk = Math.min(rest, Math.max(1, run.req.options.metricsEvery ?? 10));
        try {
          const before = run.session.step;
          const t0 = performance.now();
          const events = await run.session.advance(chunk, signal);
          if (gen !== this.generation) return;
          if (events.length) {
            this.env.post({ type: 'metrics', runId: run.req.id, events });
            // Duty cycle: leave the CPU to the main thread while it draws these events. On a
            // software adapter (SwiftShader) the device competes with the page for the cores;
            // on a real GPU a chunk takes milliseconds and so does this pause.
            await sleep(Math.min(MAX_YIELD_MS, YIELD_SHARE * (performance.now() - t0)));
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
          this.error(e, run.req.id, null);
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
        this.env.post({ type: 'curvature', runId: run.req.id, report });
      } catch (e) {
        this.error(e, run.req.id, null);
      }
    }
  }

  /** Device lost: new backend, sessions recreated and replayed to their last step. */
  private async recover(reason: string): Promise<void> {
    if (this.recovering) return;
    this.recovering = true;
    this.generation++;
    this.queue = Promise.resolve();
    const wasPlaying = this.playing;
    this.playing = false;
    this.env.post({ type: 'deviceLost', message: reason });
    const targets = this.runs.map((r) => ({ req: r.req, spec: r.spec, step: r.session?.step ?? 0, done: r.done, error: r.error }));
    for (const r of this.runs) {
      try {
        r.session?.dispose();
      } catch {
        // the device is gone; nothing to free
      }
    }
    this.runs = [];
    try {
      this.backend?.destroy();
    } catch {
      // already lost
    }
    this.backend = null;
    try {
      const { backend } = await this.env.openBackend(this.forceCpu);
      const runs: Run[] = [];
      for (const t of targets) {
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
        runs.push({ req: t.req, spec: t.spec, session, done: t.done, error: t.error });
      }
      this.runs = runs;
      this.attach(backend);
      this.recovering = false;
      const step = runs.length ? Math.min(...runs.map((r) => r.session?.step ?? 0)) : 0;
      this.env.post({ type: 'recovered', backend: backend.kind, adapter: backend.adapter, step });
      if (runs.length) this.status(this.allDone() ? 'done' : 'paused');
      if (wasPlaying) this.play();
    } catch (e) {
      this.recovering = false;
      this.env.post({ type: 'error', kind: 'runtime', message: `could not recover from the device loss: ${errorMessage(e)}; reload the page`, runId: null, field: null, requestId: null });
      this.status('error');
    }
  }
}
