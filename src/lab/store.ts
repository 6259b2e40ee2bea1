/**
 * The lab's state: the document (spec + comparison + view), the backend and run status, the
 * metric series of each run and the user-facing messages. A zustand vanilla store (no React
 * here); the reducers are pure functions of (state, input) so the tests drive them directly.
 * Side effects (posting to the worker) go through the `send` function given at creation.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { CurvatureReport, SessionInfo } from '../api/session-types';
import type { ExperimentSpec } from '../experiment/types';
import { DEFAULT_DOC, type LabDoc } from './doc/document';
import { checkDoc, errorMessage, validateLabSpec } from './doc/check';
import { expandRuns } from './doc/compare';
import { sessionOptionsFor } from './doc/session-options';
import type { BackendKind, FromWorker, PytorchScript, RunRequest, RunStatus, StaticAnalysis, ToWorker } from './protocol';
import { appendEvents, emptySeries, type Series } from './series';

export interface Banner {
  id: string;
  level: 'error' | 'warning' | 'info';
  text: string;
}

export interface RunState {
  id: string;
  label: string;
  spec: ExperimentSpec;
  info: SessionInfo | null;
  series: Series;
  curvature: CurvatureReport | null;
  error: string | null;
}

export interface BackendState {
  status: 'pending' | 'ready' | 'none';
  kind: BackendKind | null;
  adapter: string;
  /** Why the backend is what it is (no WebGPU, forced CPU, ...). */
  reason: string | null;
}

export interface LabState {
  doc: LabDoc;
  /** Canonical JSON of `doc` (what the runs and the analysis are keyed by). */
  docKey: string;
  /** The last rejected edit's message (the previous document is kept). */
  editError: string | null;
  backend: BackendState;
  status: RunStatus;
  step: number;
  /** docKey of the document the current runs were created from. */
  loadedKey: string | null;
  runs: RunState[];
  selected: number;
  analysis: { key: string; result: StaticAnalysis } | null;
  analysisPending: number | null;
  analysisError: string | null;
  banners: Banner[];
  /** Optimizer steps per worker tick. */
  speed: number;
  theme: 'light' | 'dark';
  deviceLost: boolean;
  /** Request id of a PyTorch export in progress, and the last exported script (the UI downloads it). */
  exportPending: number | null;
  pytorchScript: (PytorchScript & { requestId: number }) | null;
}

export const docKeyOf = (doc: LabDoc): string => JSON.stringify(doc);

export function initialState(doc: LabDoc = DEFAULT_DOC, extra: Partial<LabState> = {}): LabState {
  return {
    doc,
    docKey: docKeyOf(doc),
    editError: null,
    backend: { status: 'pending', kind: null, adapter: '', reason: null },
    status: 'idle',
    step: 0,
    loadedKey: null,
    runs: [],
    selected: 0,
    analysis: null,
    analysisPending: null,
    analysisError: null,
    banners: [],
    speed: 5,
    theme: 'light',
    deviceLost: false,
    exportPending: null,
    pytorchScript: null,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// pure reducers

/** Accept a candidate document if it validates; otherwise keep the current one and say why. */
export function reduceEdit(s: LabState, candidate: unknown): Partial<LabState> {
  let doc: LabDoc;
  try {
    doc = checkDoc(candidate);
  } catch (e) {
    return { editError: errorMessage(e) };
  }
  const docKey = docKeyOf(doc);
  if (docKey === s.docKey) return { editError: null };
  // A new experiment: the current runs no longer describe it.
  return { doc, docKey, editError: null, runs: [], status: 'idle', step: 0, loadedKey: null };
}

/** The worker requests for the current document's runs (each spec validated once more). */
export function runRequests(doc: LabDoc): RunRequest[] {
  return expandRuns(doc).map((r) => ({ id: r.id, label: r.label, spec: r.spec, options: sessionOptionsFor(validateLabSpec(r.spec)) }));
}

export function freshRuns(reqs: RunRequest[]): RunState[] {
  return reqs.map((r) => ({ id: r.id, label: r.label, spec: r.spec, info: null, series: emptySeries(), curvature: null, error: null }));
}

let bannerSeq = 0;
export function banner(level: Banner['level'], text: string, id?: string): Banner {
  return { id: id ?? `b${++bannerSeq}`, level, text };
}

function withBanner(s: LabState, b: Banner): Banner[] {
  return [...s.banners.filter((x) => x.id !== b.id && x.text !== b.text), b].slice(-6);
}

function mapRun(s: LabState, runId: string | null, f: (r: RunState) => RunState): RunState[] {
  return s.runs.map((r) => (r.id === runId ? f(r) : r));
}

/** Apply one worker message. */
export function reduceMessage(s: LabState, m: FromWorker): Partial<LabState> {
  switch (m.type) {
    case 'ready': {
      const out: Partial<LabState> = { backend: { status: 'ready', kind: m.backend, adapter: m.adapter, reason: m.reason } };
      if (m.backend === 'cpu') out.banners = withBanner(s, banner('warning', cpuBannerText(m.reason), 'backend'));
      return out;
    }
    case 'noBackend':
      return { backend: { status: 'none', kind: null, adapter: '', reason: m.reason }, banners: withBanner(s, banner('error', m.reason, 'backend')) };
    case 'status':
      if (m.loadKey !== null && m.loadKey !== s.loadedKey) return {};
      return { status: m.status, step: m.step };
    case 'info':
      return { runs: mapRun(s, m.runId, (r) => ({ ...r, info: m.info })) };
    case 'metrics':
      return { runs: mapRun(s, m.runId, (r) => ({ ...r, series: appendEvents(r.series, m.events) })) };
    case 'curvature':
      return { runs: mapRun(s, m.runId, (r) => ({ ...r, curvature: m.report })) };
    case 'analysis':
      if (m.requestId !== s.analysisPending) return {};
      return { analysis: { key: s.docKey, result: m.result }, analysisPending: null, analysisError: null };
    case 'error': {
      if (m.requestId !== null) {
        return m.requestId === s.analysisPending ? { analysisPending: null, analysisError: m.message } : {};
      }
      const out: Partial<LabState> = { banners: withBanner(s, banner('error', m.message)) };
      if (m.runId !== null) out.runs = mapRun(s, m.runId, (r) => ({ ...r, error: m.message }));
      return out;
    }
    case 'deviceLost':
      return {
        deviceLost: true,
        banners: withBanner(s, banner('error', `The GPU device was lost (${m.message}). Recovering from the last state…`, 'device')),
      };
    case 'pytorchScript':
      if (m.requestId !== s.exportPending) return {};
      if ('error' in m.result) return { exportPending: null, banners: withBanner(s, banner('error', `PyTorch export: ${m.result.error}`, 'export')) };
      return { exportPending: null, pytorchScript: { ...m.result, requestId: m.requestId } };
    case 'recovered':
      return {
        deviceLost: false,
        backend: { ...s.backend, kind: m.backend, adapter: m.adapter },
        banners: withBanner(s, banner('info', `Recovered after the device loss: a new ${m.backend === 'webgpu' ? 'GPU device' : 'CPU session'} replayed the run to step ${m.step}.`, 'device')),
      };
  }
}

export function cpuBannerText(reason: string | null): string {
  return (
    `WebGPU is not available${reason ? ` (${reason})` : ''}: the lab runs on the float64 CPU reference, which is fine for small models but slow for larger ones. ` +
    'To enable WebGPU use a recent Chrome or Edge (113+), or in Chromium on Linux start it with --enable-unsafe-webgpu (or enable chrome://flags/#enable-unsafe-webgpu); ' +
    'in Firefox Nightly set dom.webgpu.enabled; in Safari 18+ enable the WebGPU feature flag.'
  );
}

// ---------------------------------------------------------------------------------------------
// the store

export interface LabActions {
  /** Propose a new document (from a control, a preset, an import or a link). Returns the error, if any. */
  edit(candidate: unknown): string | null;
  play(): void;
  pause(): void;
  stepBy(k?: number): void;
  reset(): void;
  setSpeed(stepsPerTick: number): void;
  requestCurvature(): void;
  requestAnalysis(): void;
  /** Ask the worker for the selected run's spec as a PyTorch script (lands in `pytorchScript`). */
  exportPytorch(): void;
  receive(messages: FromWorker[]): void;
  notify(level: Banner['level'], text: string, id?: string): void;
  dismiss(id: string): void;
  select(index: number): void;
  setTheme(t: LabState['theme']): void;
}

export type LabStore = StoreApi<LabState & LabActions>;

let analysisSeq = 0;
let exportSeq = 0;
/** Largest model whose curvature report is computed automatically at the end of a run. */
export const AUTO_CURVATURE_MAX_P = 20_000;

export function createLabStore(send: (m: ToWorker) => void, init: Partial<LabState> = {}): LabStore {
  return createStore<LabState & LabActions>()((set, get) => {
    /** Create the runs of the current document in the worker (fresh series). */
    const load = (autoplay: boolean): boolean => {
      const s = get();
      let reqs: RunRequest[];
      try {
        reqs = runRequests(s.doc);
      } catch (e) {
        set({ banners: withBanner(s, banner('error', errorMessage(e))) });
        return false;
      }
      set({ runs: freshRuns(reqs), loadedKey: s.docKey, status: 'loading', step: 0, selected: Math.min(s.selected, reqs.length - 1) });
      send({ type: 'load', runs: reqs, autoplay, loadKey: s.docKey });
      return true;
    };
    const ready = () => get().backend.status === 'ready';
    return {
      ...initialState(init.doc ?? DEFAULT_DOC, init),
      edit(candidate) {
        const s = get();
        const patch = reduceEdit(s, candidate);
        set(patch);
        if (patch.doc) {
          if (s.status === 'running' || s.status === 'loading') send({ type: 'pause' });
          get().requestAnalysis();
        }
        return patch.editError ?? null;
      },
      play() {
        const s = get();
        if (!ready()) return;
        if (s.loadedKey !== s.docKey || s.runs.length === 0 || s.status === 'done' || s.status === 'error') load(true);
        else {
          set({ status: 'running' });
          send({ type: 'play' });
        }
      },
      pause() {
        send({ type: 'pause' });
      },
      stepBy(k) {
        const s = get();
        if (!ready()) return;
        if (s.loadedKey !== s.docKey || s.runs.length === 0) {
          if (!load(false)) return;
        }
        send({ type: 'step', steps: k ?? s.speed });
      },
      reset() {
        if (!ready()) return;
        send({ type: 'pause' });
        load(false);
      },
      setSpeed(stepsPerTick) {
        const k = Math.max(1, Math.min(1000, Math.round(stepsPerTick)));
        set({ speed: k });
        send({ type: 'speed', stepsPerTick: k });
      },
      requestCurvature() {
        if (get().runs.length) send({ type: 'curvature' });
      },
      requestAnalysis() {
        const s = get();
        if (!ready()) return;
        const id = ++analysisSeq;
        set({ analysisPending: id, analysisError: null });
        send({ type: 'analyze', requestId: id, spec: expandRuns(s.doc)[0].spec });
      },
      exportPytorch() {
        const s = get();
        const runs = expandRuns(s.doc);
        const id = ++exportSeq;
        set({ exportPending: id });
        send({ type: 'exportPytorch', requestId: id, spec: runs[Math.min(s.selected, runs.length - 1)].spec });
      },
      receive(messages) {
        let s = get();
        let patch: Partial<LabState> = {};
        for (const m of messages) {
          const p = reduceMessage(s, m);
          patch = { ...patch, ...p };
          s = { ...s, ...p };
        }
        const before = get().status;
        set(patch);
        if (messages.some((m) => m.type === 'ready')) get().requestAnalysis();
        // A finished run gets its curvature report (KFAC / EKFAC vs exact Fisher) when small.
        const now = get();
        if (before !== 'done' && now.status === 'done' && now.runs.length && now.runs.every((r) => (r.info?.P ?? Infinity) <= AUTO_CURVATURE_MAX_P)) {
          get().requestCurvature();
        }
      },
      notify(level, text, id) {
        set({ banners: withBanner(get(), banner(level, text, id)) });
      },
      dismiss(id) {
        set({ banners: get().banners.filter((b) => b.id !== id) });
      },
      select(index) {
        set({ selected: Math.max(0, Math.min(get().runs.length - 1, index)) });
      },
      setTheme(t) {
        set({ theme: t });
      },
    };
  });
}
