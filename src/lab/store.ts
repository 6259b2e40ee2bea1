/**
 * The lab's state: the document (spec + comparison + view), the backend and run status, the
 * metric series of each run and the user-facing messages. A zustand vanilla store (no React
 * here); the reducers are pure functions of (state, input) so the tests drive them directly.
 * Side effects (posting to the worker, the restart debounce) live in `createLabStore`.
 *
 * Run lifecycle (as TF Playground): the runs of the current document are created in the worker
 * as soon as the engine is ready and after every change (debounced), so the data, the initial
 * output map and the step-0 metrics show before Play; a change while playing restarts the runs
 * and keeps playing. Each creation is a *load* with a fresh id; the store keeps only messages of
 * its current load (protocol.ts), so no row of an older run can enter the new series.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { CurvatureReport, MetricEvent, SessionInfo } from '../api/session-types';
import type { ExperimentSpec } from '../experiment/types';
import { DEFAULT_DOC, type LabDoc } from './doc/document';
import { checkDoc, errorMessage, validateLabSpec } from './doc/check';
import { expandRuns } from './doc/compare';
import { sessionOptionsFor } from './doc/session-options';
import type { BackendDecision, BackendMode, FromWorker, PytorchScript, RunFacts, RunRequest, RunStatus, StaticAnalysis, ToWorker } from './protocol';
import { appendEvents, emptySeries, type Series } from './series';
import { PRESETS } from './presets';

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
  facts: RunFacts | null;
  series: Series;
  curvature: CurvatureReport | null;
  error: string | null;
}

export interface BackendState {
  status: 'pending' | 'ready' | 'none';
  /** The backend the runs use and why (null until the worker is ready). */
  decision: BackendDecision | null;
  /** The worker is timing both backends on the experiment. */
  choosing: boolean;
  /** Why there is no backend at all (status 'none'). */
  error: string | null;
}

export interface LabState {
  doc: LabDoc;
  /** Canonical JSON of `doc`. */
  docKey: string;
  /** Canonical JSON of what the runs depend on (the spec and the comparison, not the view). */
  runKey: string;
  /** The last rejected edit's message (the previous document is kept). */
  editError: string | null;
  backend: BackendState;
  /** What the user asked for (`?backend=` or the header's control). */
  backendMode: BackendMode;
  status: RunStatus;
  step: number;
  /** Id of the current load; messages of other loads are ignored. */
  loadId: number;
  /** runKey of the document the current runs were created from (null: none yet, or a restart is pending). */
  loadedKey: string | null;
  /** The runs come from an imported file (their curves, no session behind them). */
  imported: boolean;
  runs: RunState[];
  selected: number;
  analysis: { key: string; result: StaticAnalysis } | null;
  analysisPending: number | null;
  analysisError: string | null;
  /** The analysis was refused as too large for the engine (the plots then use the runs' probe kernels). */
  analysisTooLarge: boolean;
  banners: Banner[];
  /** Optimizer steps per worker tick. */
  speed: number;
  theme: 'light' | 'dark';
  deviceLost: boolean;
  /** The runs being set up will play (Play pressed, or a change while playing). */
  playIntent: boolean;
  /** The preset loaded last (its note stays above the plots, marked once the settings differ). */
  preset: string | null;
  /** Request id of a PyTorch export in progress, and the last exported script (the UI downloads it). */
  exportPending: number | null;
  pytorchScript: (PytorchScript & { requestId: number }) | null;
}

export const docKeyOf = (doc: LabDoc): string => JSON.stringify(doc);
export const runKeyOf = (doc: LabDoc): string => JSON.stringify({ spec: doc.spec, compare: doc.compare, metrics: doc.metrics ?? null });

export function initialState(doc: LabDoc = DEFAULT_DOC, extra: Partial<LabState> = {}): LabState {
  return {
    doc,
    docKey: docKeyOf(doc),
    runKey: runKeyOf(doc),
    editError: null,
    backend: { status: 'pending', decision: null, choosing: false, error: null },
    backendMode: 'auto',
    status: 'idle',
    step: 0,
    loadId: 0,
    loadedKey: null,
    imported: false,
    runs: [],
    selected: 0,
    analysis: null,
    analysisPending: null,
    analysisError: null,
    analysisTooLarge: false,
    banners: [],
    speed: 20,
    theme: 'light',
    deviceLost: false,
    preset: null,
    playIntent: false,
    exportPending: null,
    pytorchScript: null,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// pure reducers

/**
 * Accept a candidate document if it validates; otherwise keep the current one and say why.
 * A change of what the runs depend on clears the runs (they no longer describe the experiment);
 * a change of the view only (the alignment definition) keeps them.
 */
export function reduceEdit(s: LabState, candidate: unknown): Partial<LabState> {
  let doc: LabDoc;
  try {
    doc = checkDoc(candidate);
  } catch (e) {
    return { editError: errorMessage(e) };
  }
  const docKey = docKeyOf(doc);
  if (docKey === s.docKey) return { editError: null };
  const runKey = runKeyOf(doc);
  if (runKey === s.runKey) return { doc, docKey, editError: null };
  // An analysis still in flight is of the previous experiment: its answer will be dropped.
  return { doc, docKey, runKey, editError: null, runs: [], status: 'idle', step: 0, loadedKey: null, imported: false, analysisPending: null };
}

/** The worker requests for the current document's runs (each spec validated once more). */
export function runRequests(doc: LabDoc): RunRequest[] {
  return expandRuns(doc).map((r) => ({ id: r.id, label: r.label, spec: r.spec, options: sessionOptionsFor(validateLabSpec(r.spec), doc.metrics) }));
}

export function freshRuns(reqs: RunRequest[]): RunState[] {
  return reqs.map((r) => ({ id: r.id, label: r.label, spec: r.spec, info: null, facts: null, series: emptySeries(), curvature: null, error: null }));
}

let bannerSeq = 0;
export function banner(level: Banner['level'], text: string, id?: string): Banner {
  return { id: id ?? `b${++bannerSeq}`, level, text };
}

function withBanner(s: LabState, b: Banner): Banner[] {
  return [...s.banners.filter((x) => x.id !== b.id && x.text !== b.text), b].slice(-6);
}

/** Banners about runs (errors, divergence) have ids starting with this; a new load clears them. */
export const RUN_BANNER = 'run:';
const withoutRunBanners = (banners: Banner[]) => banners.filter((b) => !b.id.startsWith(RUN_BANNER));

function mapRun(s: LabState, runId: string | null, f: (r: RunState) => RunState): RunState[] {
  return s.runs.map((r) => (r.id === runId ? f(r) : r));
}

/** One line for a browser without WebGPU: what is missing and how to get it. */
export function noWebGpuText(reason: string | null): string {
  return `WebGPU is not available${reason ? ` (${reason})` : ''}: the lab runs on the float64 CPU engine. For WebGPU use Chrome or Edge 113+, or start Chromium with --enable-unsafe-webgpu.`;
}

function backendBanners(s: LabState, d: BackendDecision): Banner[] {
  const rest = s.banners.filter((b) => b.id !== 'backend');
  // Only a browser without WebGPU gets a banner; an explicit or a timed choice is explained in the header.
  if (d.gpuAdapter === null && d.mode !== 'cpu') return withBanner({ ...s, banners: rest }, banner('warning', noWebGpuText(d.gpuError), 'backend'));
  return rest;
}

/** The session's facts once its infinite-width network stopped (MetricEvent.infiniteStopped), as the session's own. */
function withInfiniteStopped(info: RunState['info'], events: MetricEvent[]): RunState['info'] {
  const stopped = events.find((e) => e.infiniteStopped)?.infiniteStopped;
  return info && stopped ? { ...info, infinite: null, infiniteReason: stopped } : info;
}

/** Apply one worker message. */
export function reduceMessage(s: LabState, m: FromWorker): Partial<LabState> {
  const current = (loadId: number | null) => loadId === s.loadId;
  switch (m.type) {
    case 'ready':
    case 'backend':
      return { backend: { status: 'ready', decision: m.decision, choosing: false, error: null }, banners: backendBanners(s, m.decision) };
    case 'choosing':
      return current(m.loadId) ? { backend: { ...s.backend, choosing: true } } : {};
    case 'noBackend':
      return { backend: { status: 'none', decision: null, choosing: false, error: m.reason }, banners: withBanner(s, banner('error', m.reason, 'backend')) };
    case 'status':
      if (!current(m.loadId)) return {};
      return { status: m.status, step: m.step };
    case 'info':
      return current(m.loadId) ? { runs: mapRun(s, m.runId, (r) => ({ ...r, info: m.info, facts: m.facts })) } : {};
    case 'metrics':
      return current(m.loadId) ? { runs: mapRun(s, m.runId, (r) => ({ ...r, info: withInfiniteStopped(r.info, m.events), series: appendEvents(r.series, m.events) })) } : {};
    case 'curvature':
      return current(m.loadId) ? { runs: mapRun(s, m.runId, (r) => ({ ...r, curvature: m.report })) } : {};
    case 'analysis':
      if (m.requestId !== s.analysisPending) return {};
      return { analysis: { key: s.runKey, result: m.result }, analysisPending: null, analysisError: null, analysisTooLarge: false };
    case 'error': {
      if (m.requestId !== null) {
        return m.requestId === s.analysisPending ? { analysisPending: null, analysisError: m.message, analysisTooLarge: m.kind === 'limit' } : {};
      }
      if (m.loadId !== null && !current(m.loadId)) return {};
      const run = m.runId !== null ? s.runs.find((r) => r.id === m.runId) : undefined;
      const text = run && s.runs.length > 1 ? `${run.label}: ${m.message}` : m.message;
      const out: Partial<LabState> = { banners: withBanner(s, banner('error', text, m.loadId !== null ? `${RUN_BANNER}${m.runId ?? 'all'}` : undefined)) };
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
        banners: withBanner(s, banner('info', `Recovered after the device loss: a new ${m.backend === 'webgpu' ? 'GPU device' : 'CPU session'} replayed the run to step ${m.step}.`, 'device')),
      };
  }
}

// ---------------------------------------------------------------------------------------------
// the store

export interface LabActions {
  /** Propose a new document (from a control, a preset, an import or a link). Returns the error, if any. */
  edit(candidate: unknown): string | null;
  /** Load a preset (presets.ts) and play it at once. */
  loadPreset(id: string): string | null;
  play(): void;
  pause(): void;
  stepBy(k?: number): void;
  reset(): void;
  setSpeed(stepsPerTick: number): void;
  setBackendMode(mode: BackendMode): void;
  requestCurvature(): void;
  requestAnalysis(): void;
  /** Show the curves of an exported run (no session behind them: Play retrains). */
  importRuns(doc: LabDoc, runs: RunState[]): void;
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
/** Quiet time after the last change before the runs are recreated (a slider drag is one change). */
export const RESTART_DEBOUNCE_MS = 350;

export interface StoreOptions {
  debounceMs?: number;
}

export function createLabStore(send: (m: ToWorker) => void, init: Partial<LabState> = {}, opts: StoreOptions = {}): LabStore {
  const debounceMs = opts.debounceMs ?? RESTART_DEBOUNCE_MS;
  let loadSeq = 0;
  let restartTimer: ReturnType<typeof setTimeout> | null = null;
  /** Whether the pending restart should play (the runs were playing when the first change came). */
  let restartPlays = false;

  return createStore<LabState & LabActions>()((set, get) => {
    const cancelRestart = () => {
      if (restartTimer !== null) clearTimeout(restartTimer);
      restartTimer = null;
      restartPlays = false;
    };
    /** Create the runs of the current document in the worker (fresh series, a new load id). */
    const load = (autoplay: boolean): boolean => {
      cancelRestart();
      const s = get();
      let reqs: RunRequest[];
      try {
        reqs = runRequests(s.doc);
      } catch (e) {
        set({ banners: withBanner(s, banner('error', errorMessage(e))) });
        return false;
      }
      const loadId = ++loadSeq;
      set({
        playIntent: autoplay,
        runs: freshRuns(reqs),
        loadId,
        loadedKey: s.runKey,
        imported: false,
        status: 'loading',
        step: 0,
        selected: Math.min(s.selected, reqs.length - 1),
        banners: withoutRunBanners(s.banners),
      });
      send({ type: 'load', runs: reqs, autoplay, loadId });
      return true;
    };
    const ready = () => get().backend.status === 'ready';
    const busy = (s: LabState) => s.status === 'running' || (s.status === 'loading' && s.playIntent);
    /** Recreate the runs after the changes settle; keep playing if they were playing. */
    const scheduleRestart = (plays: boolean) => {
      restartPlays = restartPlays || plays;
      if (restartTimer !== null) clearTimeout(restartTimer);
      restartTimer = setTimeout(() => {
        const autoplay = restartPlays;
        restartTimer = null;
        restartPlays = false;
        if (!ready()) return;
        load(autoplay);
        get().requestAnalysis();
      }, debounceMs);
    };
    return {
      ...initialState(init.doc ?? DEFAULT_DOC, init),
      edit(candidate) {
        const s = get();
        const patch = reduceEdit(s, candidate);
        if (patch.runKey !== undefined) {
          const wasPlaying = busy(s) || restartPlays;
          if (s.status === 'running' || s.status === 'loading') send({ type: 'pause' });
          // The old runs are void from now on: a new load id (no message of theirs is kept).
          set({ ...patch, loadId: ++loadSeq, status: 'loading', playIntent: wasPlaying, banners: withoutRunBanners(s.banners) });
          scheduleRestart(wasPlaying);
        } else set(patch);
        return patch.editError ?? null;
      },
      loadPreset(id) {
        const p = PRESETS.find((x) => x.id === id);
        if (!p) return `no preset "${id}"`;
        const err = get().edit(p.doc);
        if (err) return err;
        set({ preset: p.id });
        get().play();
        return null;
      },
      play() {
        const s = get();
        if (!ready()) return;
        if (restartTimer !== null || s.loadedKey !== s.runKey || s.imported || s.runs.length === 0 || s.status === 'done' || s.status === 'error') {
          load(true);
          if (s.analysis?.key !== s.runKey) get().requestAnalysis();
        } else {
          set({ status: s.status === 'loading' ? 'loading' : 'running', playIntent: true });
          send({ type: 'play' });
        }
      },
      pause() {
        if (restartTimer !== null) restartPlays = false;
        set({ playIntent: false });
        send({ type: 'pause' });
      },
      stepBy(k) {
        const s = get();
        if (!ready()) return;
        if (restartTimer !== null || s.loadedKey !== s.runKey || s.imported || s.runs.length === 0) {
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
      setBackendMode(mode) {
        const s = get();
        if (mode === s.backendMode) return;
        const wasPlaying = busy(s);
        set({ backendMode: mode });
        send({ type: 'pause' });
        send({ type: 'setBackend', mode });
        if (ready()) {
          load(wasPlaying);
          get().requestAnalysis();
        }
      },
      requestCurvature() {
        if (get().runs.length && !get().imported) send({ type: 'curvature' });
      },
      requestAnalysis() {
        const s = get();
        if (!ready()) return;
        const id = ++analysisSeq;
        set({ analysisPending: id, analysisError: null });
        send({ type: 'analyze', requestId: id, spec: expandRuns(s.doc)[0].spec });
      },
      importRuns(doc, runs) {
        cancelRestart();
        const s = get();
        if (s.status === 'running' || s.status === 'loading') send({ type: 'pause' });
        const step = Math.max(0, ...runs.map((r) => (r.series.length ? (r.series.cols.step[r.series.length - 1] as number) : 0)));
        set({
          doc,
          docKey: docKeyOf(doc),
          runKey: runKeyOf(doc),
          editError: null,
          runs,
          loadId: ++loadSeq,
          loadedKey: runKeyOf(doc),
          imported: true,
          status: 'done',
          step,
          selected: 0,
          banners: withoutRunBanners(s.banners),
        });
        get().requestAnalysis();
      },
      exportPytorch() {
        const s = get();
        // The selected run's spec (the one whose curves are highlighted); before any run exists,
        // the document's first.
        const spec = s.runs[s.selected]?.spec ?? expandRuns(s.doc)[0].spec;
        const id = ++exportSeq;
        set({ exportPending: id });
        send({ type: 'exportPytorch', requestId: id, spec });
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
        // The engine is up: create the current document's runs (paused at step 0) and analyse it.
        if (messages.some((m) => m.type === 'ready')) {
          const now = get();
          if (!now.imported) load(false);
          get().requestAnalysis();
        }
        // A finished run gets its curvature report (KFAC / EKFAC vs exact Fisher) when small.
        const now = get();
        if (before !== 'done' && now.status === 'done' && !now.imported && now.runs.length && now.runs.every((r) => (r.info?.P ?? Infinity) <= AUTO_CURVATURE_MAX_P)) {
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
