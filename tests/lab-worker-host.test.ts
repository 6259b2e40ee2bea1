// The lab's worker host (the engine side of the worker) with fake sessions, and once with the
// real float64 CPU session: load, play, pause, step, divergence, bad specs, analysis, device-loss recovery.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WorkerHost, type LabBackend } from '../src/lab/worker-host';
import { openCpuBackend } from '../src/lab/backends';
import { DivergenceError, type MetricEvent, type Session, type SessionOptions } from '../src/api/session-types';
import type { ResolvedSpec } from '../src/experiment/types';
import type { FromWorker, RunRequest, StaticAnalysis } from '../src/lab/protocol';
import { DEFAULT_DOC, type LabDoc } from '../src/lab/doc/document';
import { expandRuns } from '../src/lab/doc/compare';
import { runRequests } from '../src/lab/store';
import { withDataset } from '../src/lab/params';
import { decodeImageSet, IMAGE_SETS } from '../src/data/images';
import { measureRate, TIMING_BUDGET_MS, WARMUP_LIMIT_MS } from '../src/lab/backend-choice';
import { validateSpec } from '../src/api/validate';

function event(step: number): MetricEvent {
  const m = { loss: 1 / (1 + step), lossTest: 1.2 / (1 + step), accuracy: 0.5, accuracyTest: 0.5, paramDistance: step * 0.01, groupLoss: null };
  return { step, wallTime: step * 1e-3, actual: m, linearized: m, closedForm: null, gap: { train: 0.01 * step, test: null }, alignment: null, spectrum: null, movement: null, grid: null, kernel: null, perExampleLoss: null, infinite: null, gapToInfinite: null };
}

class FakeSession implements Session {
  step = 0;
  disposed = false;
  readonly info;
  constructor(
    readonly spec: ResolvedSpec,
    readonly opts: SessionOptions,
    readonly divergeAt: number | null,
    readonly stepMs = 0,
  ) {
    this.info = { adapter: 'fake', P: 10, n: spec.data.n, nTest: spec.data.nTest, c: spec.data.c, layers: [], groups: [], stableLr: 1, infinite: null, infiniteReason: null, points2d: null };
  }
  async advance(k: number, signal?: AbortSignal) {
    const out: MetricEvent[] = [];
    const total = this.spec.train!.steps;
    for (let i = 0; i < k && this.step < total; i++) {
      if (signal?.aborted) break;
      this.step++;
      if (this.divergeAt !== null && this.step >= this.divergeAt) throw new DivergenceError(this.step, 'actual', 0.5, this.spec.train!.lr);
      if (this.step % (this.opts.metricsEvery ?? 10) === 0 || this.step === total) out.push(event(this.step));
      if (this.stepMs > 0) await new Promise((r) => setTimeout(r, this.stepMs));
      else await Promise.resolve();
    }
    return out;
  }
  async snapshot() {
    return event(this.step);
  }
  learningTimes() {
    return { actual: new Float64Array(this.spec.data.n), linearized: null };
  }
  async curvature() {
    return { step: this.step, layers: [{ index: 0, frobExact: 1, frobErrKfac: 0.3, frobErrEkfac: 0.2, spectra: null }] };
  }
  dispose() {
    this.disposed = true;
  }
}

function fakeBackend(o: { divergeLr?: number; kind?: 'webgpu' | 'cpu'; software?: boolean; stepMs?: number; createMs?: number } = {}) {
  let lose: (reason: string) => void = () => {};
  const sessions: FakeSession[] = [];
  const backend: LabBackend & { sessions: FakeSession[] } = {
    kind: o.kind ?? 'webgpu',
    adapter: o.kind === 'cpu' ? 'fake CPU' : 'fake adapter',
    software: o.software ?? false,
    sessions,
    async createSession(spec, opts) {
      if (o.createMs) await new Promise((r) => setTimeout(r, o.createMs));
      const s = new FakeSession(spec, opts, spec.train!.lr === o.divergeLr ? 7 : null, o.stepMs ?? 0);
      sessions.push(s);
      return s;
    },
    async analyze(spec): Promise<StaticAnalysis> {
      return { ntkTrace: null, eigenvalues: [2, 1], effectiveRank: 1.9, alignment: { ntk_centered: 0.3 }, perLayer: {}, stableLr: 1, n: spec.data.n, P: 10, c: spec.data.c, seconds: 0 };
    },
    lost: new Promise<string>((r) => (lose = r)),
    loseDevice: () => lose('destroyed on purpose'),
    destroy: () => {},
  };
  return backend;
}

/** A host whose WebGPU engine is each of `gpus` in turn (a new one after a device loss; none: no WebGPU) and whose CPU engine is `cpu`. */
function harness(gpus: LabBackend[], cpu: LabBackend = fakeBackend({ kind: 'cpu' })) {
  const messages: FromWorker[] = [];
  let opened = 0;
  const host = new WorkerHost({
    post: (m) => messages.push(m),
    async openGpu() {
      if (!gpus.length) throw new Error('this browser has no navigator.gpu');
      const b = gpus[Math.min(opened, gpus.length - 1)];
      opened++;
      return b;
    },
    openCpu: () => cpu,
    async loadImages(name) {
      return decodeImageSet(name, new Uint8Array(readFileSync(`public/datasets/${IMAGE_SETS[name].file}`)));
    },
  });
  const until = async (pred: () => boolean, what: string, ms = 20_000) => {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; messages: ${JSON.stringify(messages.map((m) => m.type))}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const of = <T extends FromWorker['type']>(t: T) => messages.filter((m): m is Extract<FromWorker, { type: T }> => m.type === t);
  const lastStatus = () => of('status').at(-1);
  return { host, messages, until, of, lastStatus };
}

const small = (patch: Partial<NonNullable<LabDoc['spec']['train']>> = {}): LabDoc => ({
  ...DEFAULT_DOC,
  spec: { ...DEFAULT_DOC.spec, data: { dataset: 'disk', n: 20, n_test: 10, seed: 0 }, train: { optimizer: 'gd', lr: 0.1, steps: 40, ...patch } },
});

describe('worker host', () => {
  it('loads, plays to the end, and reports finite metrics in step order', async () => {
    const b = fakeBackend();
    const h = harness([b]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    await h.until(() => h.of('ready').length === 1, 'ready');
    h.host.handle({ type: 'speed', stepsPerTick: 3 });
    h.host.handle({ type: 'load', runs: runRequests(small()), autoplay: true, loadId: 1 });
    await h.until(() => h.lastStatus()?.status === 'done', 'done');
    expect(h.of('info')).toHaveLength(1);
    const steps = h.of('metrics').flatMap((m) => m.events.map((e) => e.step));
    expect(steps[0]).toBe(0);
    expect(steps.at(-1)).toBe(40);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    expect(h.lastStatus()).toMatchObject({ step: 40, loadId: 1 });
  });

  it('pauses promptly, steps, and resets', async () => {
    const h = harness([fakeBackend()]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    h.host.handle({ type: 'speed', stepsPerTick: 1 });
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 100000 })), autoplay: true, loadId: 1 });
    await h.until(() => h.lastStatus()?.status === 'running', 'running');
    await h.until(() => (h.lastStatus()?.step ?? 0) > 3, 'some steps');
    h.host.handle({ type: 'pause' });
    await new Promise((r) => setTimeout(r, 30));
    const at = h.lastStatus()!.step;
    expect(h.lastStatus()!.status).toBe('paused');
    await new Promise((r) => setTimeout(r, 50));
    expect(h.lastStatus()!.step).toBe(at);
    h.host.handle({ type: 'step', steps: 7 });
    await h.until(() => h.lastStatus()!.step === at + 7, 'step');
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 100000 })), autoplay: false, loadId: 2 });
    await h.until(() => h.lastStatus()!.loadId === 2 && h.lastStatus()!.step === 0 && h.lastStatus()!.status === 'paused', 'reset');
  });

  it('a pause while a load is pending cancels its autoplay; a newer load replaces an older one', async () => {
    const b = fakeBackend();
    const h = harness([b]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    h.host.handle({ type: 'load', runs: runRequests(small()), autoplay: true, loadId: 1 });
    h.host.handle({ type: 'pause' });
    await h.until(() => h.of('info').length === 1, 'info');
    await new Promise((r) => setTimeout(r, 30));
    expect(h.lastStatus()).toMatchObject({ status: 'paused', step: 0 });
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 11 })), autoplay: true, loadId: 2 });
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 12 })), autoplay: true, loadId: 3 });
    await h.until(() => h.lastStatus()?.status === 'done' && h.lastStatus()?.loadId === 3, 'done');
    expect(h.lastStatus()!.step).toBe(12);
    expect(b.sessions.map((s) => s.spec.train!.steps)).toEqual([40, 12]);
  });

  it('reports a divergence for one run and lets the others finish', async () => {
    const b = fakeBackend({ divergeLr: 50 });
    const h = harness([b]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    const doc: LabDoc = { ...small(), compare: { param: 'lr', values: [0.1, 50] } };
    h.host.handle({ type: 'speed', stepsPerTick: 5 });
    h.host.handle({ type: 'load', runs: runRequests(doc), autoplay: true, loadId: 7 });
    await h.until(() => h.lastStatus()?.status === 'done', 'done');
    const errors = h.of('error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ kind: 'divergence', runId: 'run1' });
    expect(errors[0].message).toMatch(/learning rate 50 diverged at step 7.*below 0.5/);
    expect(h.of('metrics').filter((m) => m.runId === 'run0').flatMap((m) => m.events).at(-1)!.step).toBe(40);
  });

  it('rejects a bad spec sent straight to the worker with a spec error', async () => {
    const h = harness([fakeBackend()]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    const bad: RunRequest = { id: 'run0', label: 'x', spec: { ...small().spec, loss: 'hinge' as never }, options: {} };
    h.host.handle({ type: 'load', runs: [bad], autoplay: true, loadId: 8 });
    await h.until(() => h.of('error').length === 1, 'error');
    expect(h.of('error')[0]).toMatchObject({ kind: 'spec', field: 'loss' });
    expect(h.lastStatus()!.status).toBe('error');
  });

  it('answers analyses (image data resolved from the committed files)', async () => {
    const h = harness([fakeBackend()]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    const spec = withDataset(DEFAULT_DOC.spec, 'digits');
    h.host.handle({ type: 'analyze', requestId: 3, spec });
    await h.until(() => h.of('analysis').length === 1, 'analysis');
    expect(h.of('analysis')[0]).toMatchObject({ requestId: 3, result: { c: 10 } });
    h.host.handle({ type: 'analyze', requestId: 4, spec: { ...spec, data: { dataset: 'digits', n: 99999 } } });
    await h.until(() => h.of('error').length === 1, 'error');
    expect(h.of('error')[0]).toMatchObject({ requestId: 4, kind: 'spec', field: 'data.n' });
  });

  it('recovers from a device loss by replaying every run to its last step', async () => {
    const first = fakeBackend();
    const second = fakeBackend();
    const h = harness([first, second]);
    await h.until(() => true, 'nothing');
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    h.host.handle({ type: 'speed', stepsPerTick: 2 });
    h.host.handle({ type: 'load', runs: runRequests({ ...small({ steps: 400 }), compare: { param: 'alpha', values: [1, 100] } }), autoplay: true, loadId: 9 });
    await h.until(() => (h.lastStatus()?.step ?? 0) >= 20, 'steps');
    h.host.handle({ type: 'simulateDeviceLoss' });
    await h.until(() => h.of('recovered').length === 1, 'recovered');
    const rec = h.of('recovered')[0];
    expect(h.of('deviceLost')[0].message).toBe('destroyed on purpose');
    expect(rec.step).toBeGreaterThanOrEqual(20);
    expect(first.sessions.every((s) => s.disposed)).toBe(true);
    expect(second.sessions).toHaveLength(2);
    for (const s of second.sessions) expect(s.step).toBeGreaterThanOrEqual(rec.step);
    // the replay itself posts nothing: every run's steps stay strictly increasing
    for (const id of ['run0', 'run1']) {
      const steps = h.of('metrics').filter((m) => m.runId === id).flatMap((m) => m.events.map((e) => e.step));
      expect(new Set(steps).size).toBe(steps.length);
    }
    await h.until(() => h.lastStatus()?.status === 'done', 'done after recovery', 30_000);
    expect(h.lastStatus()!.step).toBe(400);
    // the header says what happened, not the reason of the choice made before the loss
    expect(h.of('backend').at(-1)!.decision.reason).toBe('the WebGPU device was lost (destroyed on purpose); the runs were replayed on a new WebGPU device (fake adapter)');
  });

  for (const when of ['just after the loss', 'during the replay'] as const) {
    it(`a load sent ${when} runs on the new device, and the lost load is not replayed over it`, async () => {
      const first = fakeBackend();
      // a slow replay, so that a load can arrive while it runs
      const second = fakeBackend({ stepMs: 2 });
      const h = harness([first, second]);
      h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
      h.host.handle({ type: 'speed', stepsPerTick: 10 });
      // runs of a known length, so the replay (2 ms a step) takes a bounded ~0.3 s
      h.host.handle({ type: 'load', runs: runRequests({ ...small({ steps: 60 }), compare: { param: 'alpha', values: [1, 100] } }), autoplay: true, loadId: 1 });
      await h.until(() => h.lastStatus()?.status === 'done', 'first load done');
      h.host.handle({ type: 'simulateDeviceLoss' });
      if (when === 'during the replay') await h.until(() => second.sessions.some((s) => s.step > 0), 'replay started');
      h.host.handle({ type: 'load', runs: runRequests(small({ steps: 30, lr: 0.05 })), autoplay: true, loadId: 2 });
      await h.until(() => h.lastStatus()?.loadId === 2 && h.lastStatus()?.status === 'done', 'new load done');
      const fresh = second.sessions.filter((s) => s.spec.train!.lr === 0.05);
      expect(fresh).toHaveLength(1);
      expect(fresh[0].disposed).toBe(false);
      expect(fresh[0].step).toBe(30);
      // every other session (the lost load's, replayed or not) was freed
      expect([...first.sessions, ...second.sessions].filter((s) => s !== fresh[0]).every((s) => s.disposed)).toBe(true);
      const steps = h.of('metrics').filter((m) => m.loadId === 2).flatMap((m) => m.events.map((e) => e.step));
      expect(steps[0]).toBe(0);
      expect(steps.at(-1)).toBe(30);
    });
  }
});

describe('worker host: loads and backends', () => {
  it('keys every message with its load: once a newer load starts, the older runs post nothing', async () => {
    const b = fakeBackend();
    const h = harness([b]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    h.host.handle({ type: 'speed', stepsPerTick: 3 });
    h.host.handle({ type: 'load', runs: runRequests({ ...small({ steps: 100000 }), compare: { param: 'alpha', values: [1, 100] } }), autoplay: true, loadId: 1 });
    await h.until(() => h.of('metrics').filter((m) => m.loadId === 1).length > 10, 'old runs playing');
    h.host.handle({ type: 'load', runs: runRequests({ ...small({ steps: 30 }), compare: { param: 'lr', values: [0.1, 0.2] } }), autoplay: true, loadId: 2 });
    await h.until(() => h.lastStatus()?.loadId === 2 && h.lastStatus()?.status === 'done', 'new runs done');
    const firstNew = h.messages.findIndex((m) => 'loadId' in m && m.loadId === 2);
    const after = h.messages.slice(firstNew).filter((m) => 'loadId' in m && m.loadId === 1);
    expect(after).toEqual([]);
    for (const id of ['run0', 'run1']) {
      const steps = h.of('metrics').filter((m) => m.loadId === 2 && m.runId === id).flatMap((m) => m.events.map((e) => e.step));
      expect(steps[0]).toBe(0);
      expect(steps.at(-1)).toBe(30);
    }
    expect(b.sessions.slice(0, 2).every((s) => s.disposed)).toBe(true);
  });

  it('status counts the runs still alive: a failed run does not hold the step at 0', async () => {
    const h = harness([fakeBackend({ divergeLr: 50 })]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    h.host.handle({ type: 'speed', stepsPerTick: 5 });
    h.host.handle({ type: 'load', runs: runRequests({ ...small({ steps: 60 }), compare: { param: 'lr', values: [50, 0.1] } }), autoplay: true, loadId: 1 });
    await h.until(() => h.lastStatus()?.status === 'done', 'done');
    expect(h.lastStatus()!.step).toBe(60);
    expect(h.of('status').filter((m) => m.status === 'running').at(-1)!.step).toBeGreaterThan(7);
  });

  it('on a software adapter times both engines on the experiment, once per size, and runs on the faster', async () => {
    const gpu = fakeBackend({ software: true, stepMs: 4 });
    const cpu = fakeBackend({ kind: 'cpu' });
    const h = harness([gpu], cpu);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    await h.until(() => h.of('ready').length === 1, 'ready');
    expect(h.of('ready')[0].decision).toMatchObject({ kind: 'cpu', gpuAdapter: 'fake adapter', gpuSoftware: true });
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 100000 })), autoplay: false, loadId: 1 });
    await h.until(() => h.lastStatus()?.loadId === 1 && h.lastStatus()?.status === 'paused', 'loaded');
    expect(h.of('choosing')).toHaveLength(1);
    const d = h.of('backend').at(-1)!.decision;
    expect(d.kind).toBe('cpu');
    expect(d.rates!.cpu!).toBeGreaterThan(d.rates!.webgpu!);
    expect(d.reason).toMatch(/the CPU is faster here: CPU \S+ vs WebGPU \S+ steps\/s on this experiment; fake adapter is a software adapter/);
    // the runs were created on the CPU; the GPU only ran its timing session
    expect(cpu.sessions.at(-1)!.disposed).toBe(false);
    expect(gpu.sessions.every((s) => s.disposed)).toBe(true);
    // timing sessions skip the infinite-width network's one-off kernels; the runs have it
    expect(gpu.sessions[0].opts.infinite).toBe(false);
    expect(cpu.sessions[0].opts.infinite).toBe(false);
    expect(cpu.sessions.at(-1)!.opts.infinite).toBe(true);
    // a new learning rate is the same size: no second timing
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 100000, lr: 0.05 })), autoplay: false, loadId: 2 });
    await h.until(() => h.lastStatus()?.loadId === 2 && h.lastStatus()?.status === 'paused', 'loaded again');
    expect(h.of('choosing')).toHaveLength(1);
    expect(gpu.sessions).toHaveLength(1);
  });

  it('a timing abandoned (the backend lost the race to its time limit) stops at its next chunk and frees its session', async () => {
    const slow = fakeBackend({ stepMs: 5 });
    const spec = validateSpec(runRequests(small({ steps: 100000 }))[0].spec as never);
    const stop = new AbortController();
    const timing = measureRate(slow, spec, { metricsEvery: 10 }, 60_000, stop.signal);
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    await expect(timing).rejects.toMatchObject({ name: 'AbortError' });
    const [session] = slow.sessions;
    expect(session.disposed).toBe(true);
    const stoppedAt = session.step;
    await new Promise((r) => setTimeout(r, 100));
    expect(session.step).toBe(stoppedAt);
    expect(stoppedAt).toBeLessThan(100);
  });

  it('a software WebGPU that needs longer than the warm-up limit to set up loses, and the header says so', async () => {
    const slowSetup = fakeBackend({ software: true, createMs: WARMUP_LIMIT_MS + 2 * TIMING_BUDGET_MS + 500 });
    const h = harness([slowSetup]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 100000 })), autoplay: false, loadId: 1 });
    await h.until(() => h.lastStatus()?.loadId === 1 && h.lastStatus()?.status === 'paused', 'loaded');
    const d = h.of('backend').at(-1)!.decision;
    expect(d).toMatchObject({ kind: 'cpu', rates: { webgpu: null } });
    expect(d.reason).toMatch(/^the CPU is faster here: CPU \S+ vs WebGPU n\/a steps\/s on this experiment \(WebGPU needed more than 2\.5 s to set it up\); fake adapter is a software adapter$/);
    // the abandoned timing frees its session once it exists
    await h.until(() => slowSetup.sessions.length === 1 && slowSetup.sessions[0].disposed, 'abandoned timing freed', 5000);
  });

  it('a device lost while the runs were on the CPU is reopened for the next timing', async () => {
    const first = fakeBackend({ software: true, stepMs: 4 });
    const second = fakeBackend({ software: true, stepMs: 4 });
    const h = harness([first, second]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 100000 })), autoplay: false, loadId: 1 });
    await h.until(() => h.lastStatus()?.loadId === 1 && h.lastStatus()?.status === 'paused', 'loaded');
    expect(h.of('backend').at(-1)!.decision.kind).toBe('cpu');
    first.loseDevice();
    await new Promise((r) => setTimeout(r, 10));
    // a new size: timed again, on the reopened device
    const bigger = { ...small({ steps: 100000 }), spec: { ...small().spec, data: { dataset: 'disk', n: 30, n_test: 10, seed: 0 } } } as LabDoc;
    h.host.handle({ type: 'load', runs: runRequests(bigger), autoplay: false, loadId: 2 });
    await h.until(() => h.lastStatus()?.loadId === 2 && h.lastStatus()?.status === 'paused', 'loaded again');
    expect(h.of('choosing')).toHaveLength(2);
    expect(second.sessions).toHaveLength(1);
    expect(h.of('backend').at(-1)!.decision).toMatchObject({ kind: 'cpu', gpuAdapter: 'fake adapter', reason: expect.stringMatching(/^the CPU is faster here/) });
  });

  it('picks WebGPU when it is the faster, and a hardware adapter without timing', async () => {
    const slowCpu = fakeBackend({ kind: 'cpu', stepMs: 4 });
    const h = harness([fakeBackend({ software: true })], slowCpu);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    h.host.handle({ type: 'load', runs: runRequests(small({ steps: 100000 })), autoplay: false, loadId: 1 });
    await h.until(() => h.lastStatus()?.loadId === 1 && h.lastStatus()?.status === 'paused', 'loaded');
    expect(h.of('backend').at(-1)!.decision.kind).toBe('webgpu');

    const hw = harness([fakeBackend({ software: false })]);
    hw.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    hw.host.handle({ type: 'load', runs: runRequests(small()), autoplay: false, loadId: 1 });
    await hw.until(() => hw.lastStatus()?.status === 'paused', 'loaded');
    expect(hw.of('ready')[0].decision).toMatchObject({ kind: 'webgpu', reason: 'a hardware WebGPU adapter' });
    expect(hw.of('choosing')).toHaveLength(0);
  });

  it('without WebGPU, or when asked, runs on the CPU; the control switches backends', async () => {
    const none = harness([]);
    none.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    await none.until(() => none.of('ready').length === 1, 'ready');
    expect(none.of('ready')[0].decision).toMatchObject({ kind: 'cpu', gpuAdapter: null, gpuError: 'this browser has no navigator.gpu' });
    expect(none.of('ready')[0].decision.reason).toMatch(/WebGPU is not available \(this browser has no navigator\.gpu\)/);

    const gpu = fakeBackend({ software: true });
    const h = harness([gpu]);
    h.host.handle({ type: 'init', backend: 'cpu', baseUrl: '/' });
    await h.until(() => h.of('ready').length === 1, 'ready');
    expect(h.of('ready')[0].decision).toMatchObject({ kind: 'cpu', reason: 'the CPU engine was requested' });
    h.host.handle({ type: 'load', runs: runRequests(small()), autoplay: false, loadId: 1 });
    await h.until(() => h.lastStatus()?.status === 'paused', 'loaded');
    expect(gpu.sessions).toHaveLength(0);
    h.host.handle({ type: 'setBackend', mode: 'webgpu' });
    h.host.handle({ type: 'load', runs: runRequests(small()), autoplay: true, loadId: 2 });
    await h.until(() => h.lastStatus()?.loadId === 2 && h.lastStatus()?.status === 'done', 'done on WebGPU');
    expect(h.of('backend').at(-1)!.decision).toMatchObject({ kind: 'webgpu', mode: 'webgpu', reason: 'WebGPU was requested' });
    expect(gpu.sessions).toHaveLength(1);
  });

  it('shows a few training images of an image set', async () => {
    const h = harness([fakeBackend()]);
    h.host.handle({ type: 'init', backend: 'auto', baseUrl: '/' });
    const spec = withDataset(DEFAULT_DOC.spec, 'digits');
    h.host.handle({ type: 'load', runs: runRequests({ ...DEFAULT_DOC, spec: { ...spec, data: { ...(spec.data as object), n: 40 } as typeof spec.data } }), autoplay: false, loadId: 1 });
    await h.until(() => h.of('info').length === 1, 'info');
    const facts = h.of('info')[0].facts;
    expect(facts.theta0Norm).toBeGreaterThan(0);
    expect(facts.samples!.shape).toEqual([1, 8, 8]);
    expect(facts.samples!.images.length).toBeGreaterThan(10);
    expect(facts.samples!.images[0].length).toBe(64);
    expect(new Set(facts.samples!.labels).size).toBeGreaterThan(5);
  });
});

describe('worker host with the float64 CPU session', () => {
  it('trains a tiny model and emits finite, comparable metrics', async () => {
    const h = harness([], openCpuBackend());
    h.host.handle({ type: 'init', backend: 'cpu', baseUrl: '/' });
    const doc: LabDoc = {
      ...DEFAULT_DOC,
      spec: {
        ...DEFAULT_DOC.spec,
        model: { input: [2], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1, activation: 'linear' }] },
        data: { dataset: 'disk', n: 24, n_test: 12, seed: 1 },
        train: { optimizer: 'gd', lr: 0.1, steps: 30 },
      },
    };
    expect(expandRuns(doc)).toHaveLength(1);
    h.host.handle({ type: 'analyze', requestId: 1, spec: doc.spec });
    h.host.handle({ type: 'speed', stepsPerTick: 10 });
    h.host.handle({ type: 'load', runs: runRequests(doc), autoplay: true, loadId: 10 });
    await h.until(() => h.lastStatus()?.status === 'done', 'done', 60_000);
    const a = h.of('analysis')[0].result;
    expect(a.stableLr).toBeGreaterThan(0);
    expect(a.ntkTrace!.values.length).toBe(24 * 24);
    const events = h.of('metrics').flatMap((m) => m.events);
    expect(events.at(-1)!.step).toBe(30);
    for (const e of events) {
      expect(Number.isFinite(e.actual.loss)).toBe(true);
      expect(Number.isFinite(e.linearized!.loss)).toBe(true);
    }
    expect(events.at(-1)!.actual.loss).toBeLessThan(events[0].actual.loss);
    h.host.handle({ type: 'curvature' });
    await h.until(() => h.of('curvature').length === 1 || h.of('error').length > 0, 'curvature', 60_000);
    expect(h.of('error')).toEqual([]);
    expect(h.of('info')[0].info.stableLr).toBeGreaterThan(0);
  });
});
