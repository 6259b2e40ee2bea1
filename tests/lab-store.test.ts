// The lab store: reducers (edits keep the previous document when rejected, worker messages),
// the actions' messages to the worker, and every figure built from the resulting state.
import { describe, expect, it } from 'vitest';
import { createLabStore, initialState, reduceEdit, reduceMessage, type LabState } from '../src/lab/store';
import { DEFAULT_DOC, type LabDoc } from '../src/lab/doc/document';
import type { FromWorker, ToWorker } from '../src/lab/protocol';
import type { MetricEvent } from '../src/api/session-types';
import { FIGURES, figureNumbers } from '../src/lab/plots/figures';
import { appendEvents, emptySeries, seriesToCsv } from '../src/lab/series';
import { parseImport, runCsv, runExport } from '../src/lab/export';
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
    let s: LabState = { ...initialState(), loadedKey: 'k', runs: [{ id: 'run0', label: 'run', spec: DEFAULT_DOC.spec, info: null, series: emptySeries(), curvature: null, error: null }] };
    s = apply(s, [
      { type: 'info', runId: 'run0', info },
      { type: 'metrics', runId: 'run0', events: [event(0), event(10)] },
      { type: 'metrics', runId: 'run0', events: [event(10), event(20, false)] },
      { type: 'status', status: 'running', step: 20, loadKey: 'k' },
      { type: 'status', status: 'done', step: 99, loadKey: 'old' },
    ]);
    const r = s.runs[0];
    expect(r.series.cols.step).toEqual([0, 10, 20]);
    expect(r.series.cols['align.ntk_centered'][2]).toBeNull();
    expect(r.series.spectrumInit![0]).toBe(10);
    expect(r.series.spectrumNow![0]).toBe(20);
    expect(s.status).toBe('running');
    expect(s.step).toBe(20);
  });

  it('turns errors, device loss and the CPU fallback into banners', () => {
    let s = apply(initialState(), [
      { type: 'ready', backend: 'cpu', adapter: 'CPU', reason: 'no navigator.gpu' },
      { type: 'error', kind: 'divergence', message: 'learning rate 50 diverged at step 12', runId: null, field: null, requestId: null },
      { type: 'deviceLost', message: 'destroyed' },
    ]);
    expect(s.banners.map((b) => b.level)).toEqual(['warning', 'error', 'error']);
    expect(s.banners[0].text).toMatch(/WebGPU is not available \(no navigator\.gpu\).*enable-unsafe-webgpu/);
    expect(s.deviceLost).toBe(true);
    s = apply(s, [{ type: 'recovered', backend: 'webgpu', adapter: 'x', step: 40 }]);
    expect(s.deviceLost).toBe(false);
    expect(s.banners.at(-1)!.text).toMatch(/step 40/);
  });
});

describe('store actions', () => {
  it('play creates the runs in the worker, edits pause them, analysis answers are matched', () => {
    const sent: ToWorker[] = [];
    const store = createLabStore((m) => sent.push(m), { doc: PRESETS[0].doc });
    store.getState().receive([{ type: 'ready', backend: 'webgpu', adapter: 'fake', reason: null }]);
    const analyze = sent.find((m) => m.type === 'analyze') as Extract<ToWorker, { type: 'analyze' }>;
    expect(analyze).toBeTruthy();
    store.getState().play();
    const load = sent.find((m) => m.type === 'load') as Extract<ToWorker, { type: 'load' }>;
    expect(load.runs.map((r) => r.label)).toEqual(['α = 1', 'α = 100']);
    expect(load.runs[1].spec.train!.alpha).toBe(100);
    expect(store.getState().runs).toHaveLength(2);
    store.getState().receive([{ type: 'status', status: 'running', step: 0, loadKey: load.loadKey }]);
    expect(store.getState().edit({ ...PRESETS[0].doc, compare: null })).toBeNull();
    expect(sent.at(-2)!.type).toBe('pause');
    expect(store.getState().runs).toHaveLength(0);
    // an answer to an older analysis request is ignored
    store.getState().receive([{ type: 'analysis', requestId: analyze.requestId, result: { ntkTrace: null, eigenvalues: [], effectiveRank: 1, alignment: {}, perLayer: {}, stableLr: 1, n: 1, P: 1, c: 1, seconds: 0 } }]);
    expect(store.getState().analysis).toBeNull();
    expect(store.getState().edit({ v: 1, spec: { model: 'x' } })).toMatch(/loss|model/);
    expect(store.getState().doc.compare).toBeNull();
  });
});

describe('figures and exports', () => {
  const base = (): LabState => {
    let s: LabState = { ...initialState(), loadedKey: 'k', runs: [{ id: 'run0', label: 'run', spec: DEFAULT_DOC.spec, info: null, series: emptySeries(), curvature: null, error: null }] };
    s = apply(s, [{ type: 'info', runId: 'run0', info }, { type: 'metrics', runId: 'run0', events: [0, 10, 20, 30].map((t) => event(t)) }, { type: 'curvature', runId: 'run0', report: { step: 30, layers: [{ index: 0, frobExact: 2, frobErrKfac: 0.5, frobErrEkfac: 0.3, spectra: { exact: [3, 1], kfac: [2.5, 1.2], ekfac: [2.9, 1] } }] } }]);
    return {
      ...s,
      analysis: {
        key: s.docKey,
        result: { ntkTrace: { n: 3, values: Float32Array.from([3, 1, 0, 1, 2, 0.5, 0, 0.5, 1]), labels: Int32Array.from([1, 0, 1]) }, eigenvalues: [4, 1.5, 0.5], effectiveRank: 2.1, alignment: { ntk_centered: 0.2 }, perLayer: { ntk_centered: [0.1, 0.3] }, stableLr: 0.7, n: 3, P: 10, c: 1, seconds: 0.1 },
      },
    };
  };

  it('every figure builds with finite values from a run (and nothing without one)', () => {
    const s = base();
    for (const f of FIGURES) {
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
