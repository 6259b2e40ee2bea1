// The lab store: reducers (edits keep the previous document when rejected, worker messages),
// the actions' messages to the worker, and every figure built from the resulting state.
import { describe, expect, it, vi } from 'vitest';
import { createLabStore, initialState, reduceEdit, reduceMessage, RESTART_DEBOUNCE_MS, type LabState } from '../src/lab/store';
import { DEFAULT_DOC, type LabDoc } from '../src/lab/doc/document';
import type { FromWorker, ToWorker } from '../src/lab/protocol';
import type { MetricEvent } from '../src/api/session-types';
import { FIGURES, FIGURE_BY_ID, PLOT_MAX, figureNumbers } from '../src/lab/plots/figures';
import { withDataset } from '../src/lab/params';

const withDatasetSpec = (name: string) => withDataset(DEFAULT_DOC.spec, name);
import { appendEvents, emptySeries, seriesToCsv } from '../src/lab/series';
import { expandRuns } from '../src/lab/doc/compare';
import { importedRuns, parseImport, runCsv, runExport } from '../src/lab/export';
import type { BackendDecision } from '../src/lab/protocol';
import { PRESETS } from '../src/lab/presets';

function event(step: number, withKernel = true): MetricEvent {
  const m = (s: number) => ({ loss: s / (1 + step), lossTest: (1.2 * s) / (1 + step), accuracy: 0.6, accuracyTest: 0.5, paramDistance: 0.01 * step, groupLoss: [0.5 / (1 + step), 1 / (1 + step)] });
  const per = [0.2 + step * 1e-3, 0.3];
  return {
    step,
    wallTime: step * 0.01,
    actual: m(1),
    linearized: m(1.1),
    closedForm: m(1.05),
    gap: { train: 0.001 * (step + 1), test: 0.002 * (step + 1) },
    alignment: withKernel
      ? { uncentered: 0.5, centered: 0.2, ntk_uncentered: 0.45, ntk_centered: 0.1 + step * 1e-3, per_layer_uncentered: per, per_layer_centered: per, per_layer_ntk_uncentered: per, per_layer_ntk_centered: per }
      : null,
    spectrum: withKernel ? { eigenvalues: [10 + step, 3, 1, 0.1], effectiveRank: 2.5, traceRatio: { '1': 0.7, '5': 1, '10': 1 }, stableLr: 0.8 } : null,
    movement: withKernel ? { ntkSimilarityToInit: 1 - step * 1e-3, ntkSimilarityToInitCentered: 1 - step * 2e-3, reluSignSimilarity: 0.99, ntkDistanceToInfinite: null } : null,
    grid: {
      size: 4,
      extent: { xMin: -1, xMax: 1, yMin: -1, yMax: 1 },
      actual: Float32Array.from({ length: 16 }, (_, i) => Math.sin(i)),
      linearized: Float32Array.from({ length: 16 }, (_, i) => Math.cos(i)),
      deltaLoss: Float32Array.from({ length: 16 }, (_, i) => (i - 8) / 8),
      milestone: 0.3,
      infinite: null,
    },
    kernel: null,
    perExampleLoss: null,
    infinite: null,
    gapToInfinite: null,
  };
}

const info = { adapter: 'fake', P: 10, n: 4, nTest: 2, c: 1, layers: [{ index: 0, type: 'dense', paramSize: 10 }], groups: [{ name: 'easy', size: 2 }, { name: 'hard', size: 2 }], stableLr: 0.8, infinite: null, infiniteReason: 'standard parameterization', points2d: { x: new Float32Array([0, 1]), y: new Float32Array([1, 0]), label: new Int32Array([0, 1]), testX: new Float32Array(0), testY: new Float32Array(0), testLabel: new Int32Array(0) } };

const facts = { theta0Norm: 2, samples: null };
const decision = (o: Partial<BackendDecision> = {}): BackendDecision => ({ kind: 'webgpu', adapter: 'fake', mode: 'auto', reason: 'a hardware WebGPU adapter', rates: null, gpuAdapter: 'fake', gpuSoftware: false, gpuError: null, ...o });
const run0 = () => ({ id: 'run0', label: 'run', spec: DEFAULT_DOC.spec, info: null, facts: null, series: emptySeries(), curvature: null, error: null });

function apply(s: LabState, msgs: FromWorker[]): LabState {
  for (const m of msgs) s = { ...s, ...reduceMessage(s, m) };
  return s;
}

describe('store reducers', () => {
  it('accepts valid edits and keeps the previous document on invalid ones', () => {
    const s = initialState();
    const next: LabDoc = { ...DEFAULT_DOC, spec: { ...DEFAULT_DOC.spec, train: { optimizer: 'gd', lr: 0.05, steps: 100 } } };
    const ok = reduceEdit(s, next);
    expect(ok.doc).toEqual(next);
    expect(ok.editError).toBeNull();
    const s2 = { ...s, ...ok };
    const bad = reduceEdit(s2, { ...next, spec: { ...next.spec, train: { optimizer: 'gd', lr: -1, steps: 100 } } });
    expect(bad.doc).toBeUndefined();
    expect(bad.editError).toMatch(/train\.lr: expected a positive learning rate/);
    expect(reduceEdit(s2, 'alert(1)').editError).toMatch(/expected a JSON object/);
  });

  it('appends metric events in step order and ignores stale status', () => {
    let s: LabState = { ...initialState(), loadId: 3, loadedKey: 'k', runs: [run0()] };
    s = apply(s, [
      { type: 'info', loadId: 3, runId: 'run0', info, facts },
      { type: 'metrics', loadId: 3, runId: 'run0', events: [event(0), event(10)] },
      { type: 'metrics', loadId: 3, runId: 'run0', events: [event(10), event(20, false)] },
      { type: 'status', status: 'running', step: 20, loadId: 3 },
      { type: 'status', status: 'done', step: 99, loadId: 2 },
    ]);
    const r = s.runs[0];
    expect(r.series.cols.step).toEqual([0, 10, 20]);
    expect(r.series.cols['align.ntk_centered'][2]).toBeNull();
    expect(r.series.spectrumInit![0]).toBe(10);
    expect(r.series.spectrumNow![0]).toBe(20);
    expect(s.status).toBe('running');
    expect(s.step).toBe(20);
  });

  it('keeps no row of an older load: a late message of the previous runs is dropped, the new runs start at step 0', () => {
    // The runs of load 1 (e.g. Lazy vs Hasty at step 1010) were replaced by load 2 (a preset
    // click) before the worker's last messages of load 1 arrived.
    let s: LabState = { ...initialState(), loadId: 2, loadedKey: 'k', runs: [run0()] };
    s = apply(s, [
      { type: 'metrics', loadId: 1, runId: 'run0', events: [event(1010)] },
      { type: 'info', loadId: 1, runId: 'run0', info, facts },
      { type: 'status', status: 'running', step: 1010, loadId: 1 },
      { type: 'error', kind: 'divergence', message: 'old', loadId: 1, runId: 'run0', field: null, requestId: null },
      { type: 'info', loadId: 2, runId: 'run0', info, facts },
      { type: 'metrics', loadId: 2, runId: 'run0', events: [event(0), event(10)] },
    ]);
    expect(s.runs[0].series.cols.step).toEqual([0, 10]);
    expect(s.runs[0].error).toBeNull();
    expect(s.banners).toEqual([]);
    expect(s.step).toBe(0);
  });

  it('turns errors, device loss and a missing WebGPU into banners (an explicit CPU choice is no warning)', () => {
    expect(apply(initialState(), [{ type: 'ready', decision: decision({ kind: 'cpu', mode: 'cpu', reason: 'the CPU engine was requested' }) }]).banners).toEqual([]);
    let s = apply(initialState(), [
      { type: 'ready', decision: decision({ kind: 'cpu', gpuAdapter: null, gpuError: 'no navigator.gpu', reason: 'WebGPU is not available (no navigator.gpu)' }) },
      { type: 'error', kind: 'divergence', message: 'learning rate 50 diverged at step 12', loadId: 0, runId: null, field: null, requestId: null },
      { type: 'deviceLost', message: 'destroyed' },
    ]);
    expect(s.banners.map((b) => b.level)).toEqual(['warning', 'error', 'error']);
    expect(s.banners[0].text).toMatch(/^WebGPU is not available \(no navigator\.gpu\).*enable-unsafe-webgpu\.$/);
    expect(s.deviceLost).toBe(true);
    s = apply(s, [{ type: 'recovered', backend: 'webgpu', adapter: 'x', step: 40 }]);
    expect(s.deviceLost).toBe(false);
    expect(s.banners.at(-1)!.text).toMatch(/step 40/);
  });
});

describe('store actions', () => {
  it('creates the runs as soon as the engine is ready, plays them, and matches analysis answers', () => {
    const sent: ToWorker[] = [];
    const store = createLabStore((m) => sent.push(m), { doc: PRESETS[0].doc });
    store.getState().receive([{ type: 'ready', decision: decision() }]);
    // before Play: the runs are created (paused at step 0) and the kernel at θ₀ is analysed
    const first = sent.find((m) => m.type === 'load') as Extract<ToWorker, { type: 'load' }>;
    expect(first.autoplay).toBe(false);
    const analyze = sent.find((m) => m.type === 'analyze') as Extract<ToWorker, { type: 'analyze' }>;
    expect(analyze).toBeTruthy();
    expect(first.runs.map((r) => r.label)).toEqual(['α = 1', 'α = 100']);
    expect(first.runs[1].spec.train!.alpha).toBe(100);
    expect(store.getState().runs).toHaveLength(2);
    store.getState().receive([{ type: 'status', status: 'paused', step: 0, loadId: first.loadId }]);
    store.getState().play();
    expect(sent.at(-1)).toEqual({ type: 'play' });
    store.getState().receive([{ type: 'status', status: 'running', step: 0, loadId: first.loadId }]);
    expect(store.getState().edit({ ...PRESETS[0].doc, compare: null })).toBeNull();
    expect(sent.at(-1)!.type).toBe('pause');
    expect(store.getState().runs).toHaveLength(0);
    // an answer to an older analysis request is ignored
    store.getState().receive([{ type: 'analysis', requestId: analyze.requestId, result: { ntkTrace: null, eigenvalues: [], effectiveRank: 1, alignment: {}, perLayer: {}, stableLr: 1, n: 1, P: 1, c: 1, seconds: 0 } }]);
    expect(store.getState().analysis).toBeNull();
    expect(store.getState().edit({ v: 1, spec: { model: 'x' } })).toMatch(/loss|model/);
    expect(store.getState().doc.compare).toBeNull();
  });
});

describe('store: restarts, imports, banners', () => {
  const ready = (store: ReturnType<typeof createLabStore>) => store.getState().receive([{ type: 'ready', decision: decision() }]);
  const loads = (sent: ToWorker[]) => sent.filter((m): m is Extract<ToWorker, { type: 'load' }> => m.type === 'load');

  it('a change while playing restarts the runs (debounced) and keeps playing; while paused it re-creates them paused', () => {
    vi.useFakeTimers();
    try {
      const sent: ToWorker[] = [];
      const store = createLabStore((m) => sent.push(m), { doc: DEFAULT_DOC });
      ready(store);
      store.getState().play();
      const id = store.getState().loadId;
      store.getState().receive([{ type: 'status', status: 'running', step: 40, loadId: id }]);
      const lr = (v: number) => ({ ...DEFAULT_DOC, spec: { ...DEFAULT_DOC.spec, train: { ...DEFAULT_DOC.spec.train!, lr: v } } });
      // a slider drag: three edits in a row
      store.getState().edit(lr(0.1));
      expect(sent.at(-1)!.type).toBe('pause');
      expect(store.getState().runs).toEqual([]);
      store.getState().edit(lr(0.11));
      store.getState().edit(lr(0.12));
      const before = loads(sent).length;
      vi.advanceTimersByTime(RESTART_DEBOUNCE_MS - 10);
      expect(loads(sent).length).toBe(before);
      // the old runs' messages are void from the first edit on
      store.getState().receive([{ type: 'metrics', loadId: id, runId: 'run0', events: [event(50)] }]);
      vi.advanceTimersByTime(20);
      expect(loads(sent).length).toBe(before + 1);
      const restart = loads(sent).at(-1)!;
      expect(restart.autoplay).toBe(true);
      expect(restart.runs[0].spec.train!.lr).toBe(0.12);
      expect(store.getState().runs[0].series.length).toBe(0);
      expect(sent.at(-1)!.type).toBe('analyze');
      // paused: an edit re-creates the runs at step 0 without playing
      store.getState().receive([{ type: 'status', status: 'paused', step: 10, loadId: restart.loadId }]);
      store.getState().edit(lr(0.2));
      vi.advanceTimersByTime(RESTART_DEBOUNCE_MS + 10);
      expect(loads(sent).at(-1)!.autoplay).toBe(false);
      // the alignment definition is a view: the runs stay
      const n = loads(sent).length;
      store.getState().receive([{ type: 'status', status: 'paused', step: 0, loadId: store.getState().loadId }]);
      expect(store.getState().edit({ ...store.getState().doc, view: { alignment: 'centered' } })).toBeNull();
      vi.advanceTimersByTime(RESTART_DEBOUNCE_MS + 10);
      expect(loads(sent).length).toBe(n);
      expect(store.getState().runs.length).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a preset click plays at once; a divergence banner clears on the next load', () => {
    const sent: ToWorker[] = [];
    const store = createLabStore((m) => sent.push(m), { doc: DEFAULT_DOC });
    ready(store);
    const id = store.getState().loadId;
    store.getState().receive([{ type: 'error', kind: 'divergence', message: 'learning rate 3 diverged at step 30', loadId: id, runId: 'run0', field: null, requestId: null }]);
    expect(store.getState().banners.map((b) => b.text)).toEqual(['learning rate 3 diverged at step 30']);
    expect(store.getState().loadPreset(PRESETS[0].id)).toBeNull();
    const l = sent.filter((m) => m.type === 'load').at(-1) as Extract<ToWorker, { type: 'load' }>;
    expect(l.autoplay).toBe(true);
    expect(l.runs.map((r) => r.label)).toEqual(['α = 1', 'α = 100']);
    expect(store.getState().preset).toBe(PRESETS[0].id);
    expect(store.getState().banners).toEqual([]);
  });

  it('imports an exported run with its curves; Play then retrains it', () => {
    const sent: ToWorker[] = [];
    const store = createLabStore((m) => sent.push(m), { doc: DEFAULT_DOC });
    ready(store);
    const runs = [{ ...run0(), facts, series: appendEvents(emptySeries(), [0, 10, 20].map((t) => event(t))) }];
    const text = JSON.stringify(runExport(DEFAULT_DOC, runs, 'fake'));
    const back = importedRuns(text)!;
    expect(back[0].series.cols.step).toEqual([0, 10, 20]);
    expect(back[0].series.cols['loss.actual']).toEqual(runs[0].series.cols['loss.actual']);
    expect(back[0].series.groupLoss.actual[2]).toEqual(runs[0].series.groupLoss.actual[2]);
    expect(back[0].facts!.theta0Norm).toBe(2);
    // a hand-edited file: malformed facts are dropped field by field, runs must match the document
    const edited = JSON.parse(text);
    edited.runs[0].info = { P: 10, n: 20, nTest: 10, c: 2, layers: 'three', groups: [{ name: 'all', size: 20 }], stableLr: null, infinite: { spectrum: [3, 'x'] } };
    edited.runs[0].curvature = { step: 20, layers: [{ index: 0, frobExact: 1, frobErrKfac: 'big', frobErrEkfac: 0.1, spectra: null }] };
    const [e0] = importedRuns(JSON.stringify(edited))!;
    expect(e0.info).toMatchObject({ P: 10, layers: [], groups: [{ name: 'all', size: 20 }], stableLr: Infinity, infinite: null, points2d: null });
    expect(e0.curvature).toBeNull();
    expect(e0.spec).toEqual(expandRuns(DEFAULT_DOC)[0].spec);
    expect(() => importedRuns(JSON.stringify({ ...edited, runs: [edited.runs[0], edited.runs[0]] }))).toThrow('runs: expected the 1 run its document describes, found 2');
    store.getState().importRuns(parseImport(text), back);
    expect(store.getState()).toMatchObject({ imported: true, status: 'done', step: 20 });
    expect(FIGURE_BY_ID.loss.build(store.getState(), 'light')).not.toBeNull();
    const n = sent.filter((m) => m.type === 'load').length;
    store.getState().play();
    expect(sent.filter((m) => m.type === 'load').length).toBe(n + 1);
    expect(store.getState().imported).toBe(false);
  });
});

describe('figures and exports', () => {
  const base = (): LabState => {
    let s: LabState = { ...initialState(DEFAULT_DOC, { backend: { status: 'ready', decision: decision(), choosing: false, error: null } }), status: 'paused', loadedKey: 'k', runs: [run0()] };
    s = apply(s, [
      { type: 'info', loadId: 0, runId: 'run0', info, facts },
      { type: 'metrics', loadId: 0, runId: 'run0', events: [0, 10, 20, 30].map((t) => event(t)) },
      { type: 'curvature', loadId: 0, runId: 'run0', report: { step: 30, layers: [{ index: 0, frobExact: 2, frobErrKfac: 0.5, frobErrEkfac: 0.3, spectra: { exact: [3, 1], kfac: [2.5, 1.2], ekfac: [2.9, 1] } }] } },
    ]);
    return {
      ...s,
      analysis: {
        key: s.runKey,
        result: { ntkTrace: { n: 3, values: Float32Array.from([3, 1, 0, 1, 2, 0.5, 0, 0.5, 1]), labels: Int32Array.from([1, 0, 1]) }, eigenvalues: [4, 1.5, 0.5], effectiveRank: 2.1, alignment: { ntk_centered: 0.2 }, perLayer: { ntk_centered: [0.1, 0.3] }, stableLr: 0.7, n: 3, P: 10, c: 1, seconds: 0.1 },
      },
    };
  };

  it('every figure builds with finite values from a run (and nothing without one)', () => {
    const s = base();
    for (const f of FIGURES) {
      if (f.applies && !f.applies(s)) {
        expect(f.build(s, 'light'), f.id).toBeNull();
        continue;
      }
      for (const theme of ['light', 'dark'] as const) {
        const fig = f.build(s, theme);
        expect(fig, f.id).not.toBeNull();
        const nums = figureNumbers(fig!);
        expect(nums.length, f.id).toBeGreaterThan(0);
        expect(JSON.stringify(fig!.layout)).not.toMatch(/NaN/);
      }
      expect(typeof f.tip).toBe('string');
      expect(f.tip.length).toBeGreaterThan(30);
    }
    const empty = initialState();
    for (const f of FIGURES) expect(f.build(empty, 'light'), f.id).toBeNull();
  });

  /** Two runs (as Lazy vs Hasty), one of which blew up to 1e300 and then NaN. */
  const twoRuns = (): LabState => {
    const s = base();
    const second = { ...run0(), id: 'run1', label: 'α = 100' };
    const bad = [0, 10, 20, 30].map((t) => event(t));
    bad[2] = { ...bad[2], actual: { ...bad[2].actual, loss: 1e300, paramDistance: Infinity }, gap: { train: NaN, test: 1e200 } };
    bad[3] = { ...bad[3], actual: { ...bad[3].actual, loss: NaN } };
    const t = apply({ ...s, runs: [{ ...s.runs[0], label: 'α = 1' }, second] }, [
      { type: 'info', loadId: 0, runId: 'run1', info, facts },
      { type: 'metrics', loadId: 0, runId: 'run1', events: bad },
    ]);
    return { ...t, doc: { ...t.doc, compare: { param: 'optimizer', values: ['sgd', 'ekfac'] } } };
  };

  it('every line style drawn has a legend entry; several runs get one per run', () => {
    const s = twoRuns();
    for (const f of FIGURES) {
      const fig = f.build(s, 'light');
      if (!fig || fig.layout.showlegend === false) continue;
      const styleOf = (t: Record<string, any>) => `${t.line?.dash ?? 'solid'}|${t.mode ?? ''}`;
      const drawn = new Set(fig.data.filter((t) => t.type === 'scatter' && Array.isArray(t.y) && (t.y as unknown[]).some((v) => v !== null)).map(styleOf));
      const keyed = new Set(fig.data.filter((t) => t.type === 'scatter' && t.showlegend !== false).map(styleOf));
      for (const st of drawn) expect(keyed.has(st), `${f.id}: style ${st} has no legend entry`).toBe(true);
    }
    const loss = FIGURE_BY_ID.loss.build(s, 'light')!;
    const legend = loss.data.filter((t) => t.showlegend !== false).map((t) => t.name);
    expect(legend).toEqual(expect.arrayContaining(['α = 1', 'α = 100', 'actual', 'linearized']));
  });

  it('hands plotly no NaN, no Infinity and no blow-up magnitudes (no axis can print them)', () => {
    const s = twoRuns();
    for (const f of FIGURES) {
      const fig = f.build(s, 'light');
      if (!fig) continue;
      const walk = (v: unknown): void => {
        if (typeof v === 'number') expect(Number.isFinite(v) && Math.abs(v) <= PLOT_MAX, `${f.id}: ${v}`).toBe(true);
        else if (Array.isArray(v)) v.forEach(walk);
      };
      for (const t of fig.data) {
        walk(t.x);
        walk(t.y);
        walk(t.z);
        // plotly reads a key's presence: `marker: undefined` breaks its data cleaning
        expect(Object.entries(t).filter(([, v]) => v === undefined).map(([k]) => k), f.id).toEqual([]);
      }
      expect(JSON.stringify(fig.layout), f.id).not.toMatch(/NaN|Infinity|null,null/);
    }
  });

  it('titles and axes print no raw underscores; log axes show decades; the group axis runs high to low', () => {
    const s = twoRuns();
    for (const f of FIGURES) {
      expect(f.title, f.id).not.toMatch(/_/);
      const fig = f.build(s, 'light');
      if (!fig) continue;
      for (const [k, ax] of Object.entries(fig.layout)) {
        const title = (ax as { title?: { text?: string } })?.title?.text;
        if (k.startsWith('xaxis') || k.startsWith('yaxis')) expect(title ?? '', `${f.id} ${k}`).not.toMatch(/_/);
      }
      const ytype = (fig.layout.yaxis as { type?: string })?.type;
      if (ytype === 'log') {
        const ys = fig.data.flatMap((t) => ((t.y as unknown[]) ?? []).filter((v): v is number => typeof v === 'number' && v > 0));
        if (ys.length && Math.log10(Math.max(...ys) / Math.min(...ys)) >= 1) expect((fig.layout.yaxis as { dtick?: number }).dtick, f.id).toBeGreaterThanOrEqual(1);
      }
    }
    const g = FIGURE_BY_ID.groups.build(base(), 'light')!;
    const range = (g.layout.xaxis as { range: number[] }).range;
    expect(range[0]).toBeGreaterThan(range[1]);
  });

  it('stacks multi-panel figures on narrow screens', () => {
    const s = base();
    const wide = FIGURE_BY_ID.decision.build(s, 'light', { narrow: false })!;
    const narrow = FIGURE_BY_ID.decision.build(s, 'light', { narrow: true })!;
    const dom = (fig: typeof wide, k: string) => (fig.layout[k] as { domain?: number[] }).domain;
    expect(dom(wide, 'xaxis2')![0]).toBeCloseTo(0.35, 9);
    expect(dom(wide, 'xaxis2')![1]).toBeCloseTo(0.65, 9);
    // a further model's map (the infinite-width network) is one more panel
    const withInf = { ...s, runs: s.runs.map((r) => ({ ...r, series: { ...r.series, grid: { ...r.series.grid!, infinite: r.series.grid!.actual } } })) };
    const four = FIGURE_BY_ID.decision.build(withInf, 'light', { narrow: false })!;
    expect(four.layout.xaxis4).toBeDefined();
    expect((four.layout.xaxis3 as { title: { text: string } }).title.text).toBe('infinite width');
    expect(dom(narrow, 'xaxis')).toEqual([0, 1]);
    expect(dom(narrow, 'xaxis2')).toEqual([0, 1]);
    expect(dom(narrow, 'yaxis')![0]).toBeGreaterThan(dom(narrow, 'yaxis2')![1]);
    expect(narrow.height).toBeGreaterThan(600);
  });

  it('empty plots say what the lab is doing', () => {
    const s = base();
    const loading = { ...s, runs: [run0()], status: 'loading' as const };
    expect(FIGURE_BY_ID.loss.empty(loading)).toMatch(/Setting up/);
    expect(FIGURE_BY_ID.loss.empty({ ...loading, status: 'running' })).toMatch(/Training/);
    expect(FIGURE_BY_ID.decision.empty(loading)).toMatch(/data and the initial output map/);
    expect(FIGURE_BY_ID.decision.empty({ ...loading, doc: { ...s.doc, spec: withDatasetSpec('digits') } })).toMatch(/need 2-D inputs/);
    expect(FIGURE_BY_ID.curvature_err.empty({ ...s, status: 'running' })).toMatch(/Pause/);
    expect(FIGURE_BY_ID.curvature_err.empty({ ...s, status: 'paused' })).toMatch(/Press “Measure curvature”/);
    expect(FIGURE_BY_ID.race.empty(s)).toMatch(/Compare optimizers/);
    // runs with points but no probe: "not yet" while they go on, the error once they stopped
    const withPoints = { ...s, runs: [{ ...run0(), series: appendEvents(emptySeries(), [event(0, false)]) }] };
    expect(FIGURE_BY_ID.alignment.empty({ ...withPoints, status: 'running' })).toMatch(/No kernel probe yet/);
    expect(FIGURE_BY_ID.alignment.empty({ ...withPoints, status: 'error' })).toMatch(/stopped with an error/);
  });

  it('exports the run as JSON and CSV, and imports its document back', () => {
    const s = base();
    const json = runExport(s.doc, s.runs, 'fake');
    const text = JSON.stringify(json);
    expect(parseImport(text)).toEqual(s.doc);
    expect(parseImport(JSON.stringify(s.doc.spec))).toEqual({ ...s.doc, compare: null });
    const csv = runCsv(s.runs).trim().split('\n');
    expect(csv).toHaveLength(5);
    expect(csv[0].split(',')[0]).toBe('run');
    expect(csv[1].split(',').length).toBe(csv[0].split(',').length);
    expect(() => parseImport('{"v":1,')).toThrow(/not JSON/);
    expect(() => parseImport('[1,2]')).toThrow(/JSON object/);
    expect(seriesToCsv([{ label: 'a,"b"', series: appendEvents(emptySeries(), [event(0)]) }])).toMatch(/^run,.*\n"a,""b""",0,/);
  });
});
