// The infinite-width network in the lab: its columns (series.ts), the third model in the loss
// plot (one grey line when it is the same for every run), the function-space gaps to it, its
// decision map, Θ's spectrum, the Wider-is-lazier figures (distance of the empirical NTK from Θ
// against width and along training), the reason note when there is none, and nothing of it
// when a spec has no infinite-width limit.
import { describe, expect, it } from 'vitest';
import { initialState, reduceMessage, type LabState, type RunState } from '../src/lab/store';
import type { FromWorker, BackendDecision } from '../src/lab/protocol';
import type { MetricEvent, SessionInfo } from '../src/api/session-types';
import { FIGURES, FIGURE_BY_ID, PLOT_MAX, figureNumbers, infiniteNote, sharedRun, type Fig, type Trace } from '../src/lab/plots/figures';
import { logLogSlope } from '../src/math/fit';
import { appendEvents, emptySeries, MODELS, seriesToCsv } from '../src/lab/series';
import { importedRuns, runExport } from '../src/lab/export';
import { PRESETS } from '../src/lab/presets';
import { DEFAULT_DOC, type LabDoc } from '../src/lab/doc/document';
import { sessionOptionsFor } from '../src/lab/doc/session-options';
import { validateLabSpec } from '../src/lab/doc/check';

const WIDER = PRESETS.find((p) => p.id === 'wider-is-lazier')!.doc;
const WIDTHS = [16, 256, 4096];

/** Distance of the empirical NTK from Θ for a width: ~2/√width at θ₀, growing a little in training. */
const distance = (width: number, step: number) => (2 / Math.sqrt(width)) * (1 + step / 1000);

/** A metric event of an NTK run of the given width (or a standard one: no infinite-width network). */
function event(step: number, o: { width?: number; infinite?: boolean; lossScale?: number } = {}): MetricEvent {
  const inf = o.infinite ?? true;
  const w = o.width ?? 256;
  const k = o.lossScale ?? 1;
  const m = (s: number) => ({ loss: (k * s) / (1 + step), lossTest: (1.2 * k * s) / (1 + step), accuracy: 0.6, accuracyTest: 0.5, paramDistance: 0.01 * step, groupLoss: null });
  return {
    step,
    wallTime: step * 0.01,
    actual: m(1 + 1 / w),
    linearized: m(1.1),
    closedForm: m(1.05),
    gap: { train: 0.001 * (step + 1), test: 0.002 * (step + 1) },
    infinite: inf ? { ...m(0.9), paramDistance: null } : null,
    gapToInfinite: inf ? { actual: { train: 0.5 / (1 + step), test: 0.6 / (1 + step) }, linearized: { train: 0.4 / (1 + step), test: 0.45 / (1 + step) } } : null,
    alignment: null,
    spectrum: { eigenvalues: [10 + step, 3, 1, 0.1], effectiveRank: 2.5, traceRatio: { '1': 0.7, '5': 1, '10': 1 }, stableLr: 0.8 },
    movement: { ntkSimilarityToInit: 1 - step * 1e-4, ntkSimilarityToInitCentered: 1 - step * 2e-4, reluSignSimilarity: 0.99, ntkDistanceToInfinite: inf ? distance(w, step) : null },
    grid: {
      size: 4,
      extent: { xMin: -1, xMax: 1, yMin: -1, yMax: 1 },
      actual: Float32Array.from({ length: 16 }, (_, i) => Math.sin(i)),
      linearized: Float32Array.from({ length: 16 }, (_, i) => Math.cos(i)),
      infinite: inf ? Float32Array.from({ length: 16 }, (_, i) => (step === 0 ? 0 : Math.sin(i + 1))) : null,
      deltaLoss: null,
      milestone: null,
    },
    kernel: null,
    perExampleLoss: null,
  };
}

function info(infinite: boolean, reason = 'model.parameterization: expected "ntk" for the infinite-width kernels (key "infinite"), found "standard"'): SessionInfo {
  return {
    adapter: 'fake',
    P: 10,
    n: 4,
    nTest: 2,
    c: 1,
    layers: [{ index: 0, type: 'dense', paramSize: 10 }],
    groups: [],
    stableLr: 0.8,
    infinite: infinite ? { spectrum: [9, 2.5, 0.8, 0.05] } : null,
    infiniteReason: infinite ? null : reason,
    points2d: { x: new Float32Array([0, 1]), y: new Float32Array([1, 0]), label: new Int32Array([0, 1]), testX: new Float32Array(0), testY: new Float32Array(0), testLabel: new Int32Array(0) },
  };
}

const decision: BackendDecision = { kind: 'cpu', adapter: 'fake', mode: 'auto', reason: 'test', rates: null, gpuAdapter: null, gpuSoftware: false, gpuError: null };
const facts = { theta0Norm: 2, samples: null };

/** A state with the runs of `doc`, each fed `events(i)` with `inf(i)` saying whether it has the network. */
function state(doc: LabDoc, labels: string[], events: (i: number) => MetricEvent[], inf: (i: number) => boolean | string = () => true): LabState {
  const runs: RunState[] = labels.map((label, i) => ({ id: `run${i}`, label, spec: doc.spec, info: null, facts: null, series: emptySeries(), curvature: null, error: null }));
  let s: LabState = { ...initialState(doc, { backend: { status: 'ready', decision, choosing: false, error: null } }), status: 'paused', loadedKey: 'k', runs };
  const msgs: FromWorker[] = labels.flatMap((_, i) => {
    const has = inf(i);
    return [
      { type: 'info', loadId: 0, runId: `run${i}`, info: has === true ? info(true) : typeof has === 'string' ? info(false, has) : info(false), facts },
      { type: 'metrics', loadId: 0, runId: `run${i}`, events: events(i) },
    ] as FromWorker[];
  });
  for (const m of msgs) s = { ...s, ...reduceMessage(s, m) };
  return s;
}

const STEPS = [0, 10, 20, 30];
const ntkOne = () => state({ ...WIDER, compare: null }, ['run'], () => STEPS.map((t) => event(t)));
const widths = () => state(WIDER, WIDTHS.map((w) => `width ${w}`), (i) => STEPS.map((t) => event(t, { width: WIDTHS[i] })));
const standard = () => state(DEFAULT_DOC, ['run'], () => STEPS.map((t) => event(t, { infinite: false })), () => false);

const named = (fig: Fig, name: string) => fig.data.filter((t) => t.name === name);
const drawn = (t: Trace) => Array.isArray(t.y) && (t.y as unknown[]).some((v) => v !== null);

/** The lab-store checks every figure must pass: finite values of sane magnitude, a legend entry per line style. */
function checkFigure(id: string, fig: Fig) {
  expect(figureNumbers(fig).length, id).toBeGreaterThan(0);
  const walk = (v: unknown): void => {
    if (typeof v === 'number') expect(Number.isFinite(v) && Math.abs(v) <= PLOT_MAX, `${id}: ${v}`).toBe(true);
    else if (Array.isArray(v)) v.forEach(walk);
  };
  for (const t of fig.data) {
    walk(t.x);
    walk(t.y);
    walk(t.z);
    expect(Object.entries(t).filter(([, v]) => v === undefined).map(([k]) => k), id).toEqual([]);
  }
  expect(JSON.stringify(fig.layout), id).not.toMatch(/NaN|Infinity/);
  if (fig.layout.showlegend === false) return;
  const styleOf = (t: Record<string, any>) => `${t.line?.dash ?? 'solid'}|${t.mode ?? ''}`;
  const keyed = new Set(fig.data.filter((t) => t.type === 'scatter' && t.showlegend !== false).map(styleOf));
  for (const t of fig.data.filter((t) => t.type === 'scatter' && drawn(t))) expect(keyed.has(styleOf(t)), `${id}: style ${styleOf(t)} has no legend entry`).toBe(true);
}

describe('the infinite-width network in the lab', () => {
  it('turns the network on in the sessions the lab creates', () => {
    expect(sessionOptionsFor(validateLabSpec(WIDER.spec), WIDER.metrics).infinite).toBe(true);
    expect(sessionOptionsFor(validateLabSpec(DEFAULT_DOC.spec)).infinite).toBe(true);
  });

  it('is a model of the table: columns, CSV and the run export carry it', () => {
    const m = MODELS.find((x) => x.id === 'infinite')!;
    expect(m).toMatchObject({ label: 'infinite width', loss: 'loss.infinite', lossTest: 'loss.infiniteTest', acc: 'acc.infinite', dist: null });
    // its own line styles, distinct from every other model's
    const styles = MODELS.flatMap((x) => [x.dash, x.testDash]).filter((d) => d !== null);
    expect(new Set(styles).size).toBe(styles.length);
    const s = ntkOne();
    const r = s.runs[0];
    expect(r.series.cols['loss.infinite']).toEqual(STEPS.map((t) => 0.9 / (1 + t)));
    expect(r.series.cols['gapInf.linearizedTest']).toEqual(STEPS.map((t) => 0.45 / (1 + t)));
    expect(r.series.cols.ntkDistInf).toEqual(STEPS.map((t) => distance(256, t)));
    const [header, first] = seriesToCsv([{ label: 'run', series: r.series }]).trim().split('\n').map((l) => l.split(','));
    for (const c of ['loss.infinite', 'loss.infiniteTest', 'acc.infinite', 'acc.infiniteTest', 'gapInf.actual', 'gapInf.actualTest', 'gapInf.linearized', 'gapInf.linearizedTest', 'ntkDistInf']) {
      expect(header, c).toContain(c);
    }
    expect(Number(first[header.indexOf('loss.infinite')])).toBe(0.9);
    expect(Number(first[header.indexOf('ntkDistInf')])).toBe(distance(256, 0));
    // an exported run comes back with its infinite-width curves
    const back = importedRuns(JSON.stringify(runExport(s.doc, s.runs, 'fake')))!;
    expect(back[0].series.cols['loss.infinite']).toEqual(r.series.cols['loss.infinite']);
    expect(back[0].info!.infinite!.spectrum).toEqual([9, 2.5, 0.8, 0.05]);
  });

  it('every figure builds with finite values and a legend entry per line style, one run and three widths', () => {
    for (const s of [ntkOne(), widths()]) {
      for (const f of FIGURES) {
        const fig = f.build(s, 'light');
        if (f.applies && !f.applies(s)) {
          expect(fig, f.id).toBeNull();
          continue;
        }
        if (f.id.startsWith('curvature') || f.id === 'groups' || f.id === 'alignment' || f.id === 'alignment_layers' || f.id === 'ntk_heatmap') continue;
        expect(fig, f.id).not.toBeNull();
        checkFigure(f.id, fig!);
      }
    }
  });

  it('draws the third model in the loss plot with its own line style and legend entry', () => {
    const fig = FIGURE_BY_ID.loss.build(ntkOne(), 'light')!;
    const [train] = named(fig, 'infinite width');
    const [test] = named(fig, 'infinite width (test)');
    const m = MODELS.find((x) => x.id === 'infinite')!;
    expect((train.line as { dash: string }).dash).toBe(m.dash);
    expect((test.line as { dash: string }).dash).toBe(m.testDash);
    expect(train.showlegend).toBe(true);
    expect(train.y).toEqual(STEPS.map((t) => 0.9 / (1 + t)));
    expect(FIGURE_BY_ID.loss.note!(ntkOne())).toBeNull();
  });

  it('draws the infinite-width loss once, in grey, when it is the same for every width (the limit)', () => {
    const s = widths();
    expect(sharedRun(s, 'loss.infinite')).not.toBeNull();
    const fig = FIGURE_BY_ID.loss.build(s, 'light')!;
    const inf = fig.data.filter((t) => drawn(t) && (t.hovertemplate as string).startsWith('infinite width'));
    expect(inf.map((t) => (t.line as { dash: string }).dash).sort()).toEqual(['8px,3px,2px,3px,2px,3px', 'longdash']);
    expect(inf.every((t) => (t.line as { color: string }).color === '#57606a')).toBe(true);
    // one legend entry per run, and a grey key per line style, the infinite-width model's included
    const legend = fig.data.filter((t) => t.showlegend !== false).map((t) => t.name);
    expect(legend).toEqual(expect.arrayContaining(['width 16', 'width 256', 'width 4096', 'actual', 'linearized', 'infinite width']));
    expect(legend.filter((n) => n === 'infinite width')).toHaveLength(1);
    // the actual model's per-width lines are all there
    expect(fig.data.filter((t) => drawn(t) && (t.hovertemplate as string).includes(', actual:'))).toHaveLength(3);
    // runs whose infinite-width networks differ (another learning rate) keep one line each
    const lr = state({ ...WIDER, compare: { param: 'lr', values: [0.1, 0.5] } }, ['lr = 0.1', 'lr = 0.5'], (i) => STEPS.map((t) => event(t, { lossScale: 1 + i })));
    expect(sharedRun(lr, 'loss.infinite')).toBeNull();
    const two = FIGURE_BY_ID.loss.build(lr, 'light')!;
    expect(two.data.filter((t) => drawn(t) && (t.hovertemplate as string).includes('infinite width:'))).toHaveLength(2);
    checkFigure('loss (lr)', two);
  });

  it('plots the function-space gaps to the infinite-width network beside actual vs linearized', () => {
    const fig = FIGURE_BY_ID.gap.build(ntkOne(), 'light')!;
    expect(fig.data.map((t) => t.name)).toEqual(expect.arrayContaining(['actual − linearized', 'actual − linearized (test)', 'actual − infinite width', 'linearized − infinite width']));
    expect(named(fig, 'actual − infinite width')[0].y).toEqual(STEPS.map((t) => 0.5 / (1 + t)));
    expect(named(fig, 'linearized − infinite width')[0].y).toEqual(STEPS.map((t) => 0.4 / (1 + t)));
    const dashes = fig.data.map((t) => (t.line as { dash: string }).dash);
    expect(new Set(dashes).size).toBe(4);
  });

  it('adds the infinite-width decision map as a titled panel and Θ’s spectrum as its own line', () => {
    const d = FIGURE_BY_ID.decision.build(ntkOne(), 'light')!;
    expect((d.layout.xaxis3 as { title: { text: string } }).title.text).toBe('infinite width');
    expect(d.data.filter((t) => t.type === 'heatmap').map((t) => t.name)).toEqual(['actual', 'linearized', 'infinite width']);
    const sp = FIGURE_BY_ID.spectrum.build(ntkOne(), 'light')!;
    const [theta] = named(sp, 'Θ (infinite width)');
    expect(theta.y).toEqual([9, 2.5, 0.8, 0.05]);
    const style = (t: Trace) => `${(t.line as { dash: string }).dash}|${(t.marker as { symbol: string }).symbol}`;
    expect(sp.data.filter((t) => t !== theta).map(style)).not.toContain(style(theta));
  });

  it('plots the distance from Θ against width: at θ₀, at the last probe, and a 1/√width reference through the widest run', () => {
    const fig = FIGURE_BY_ID.ntk_width.build(widths(), 'light')!;
    checkFigure('ntk_width', fig);
    const [init, last, ref] = fig.data;
    expect(init.x).toEqual(WIDTHS);
    expect(init.y).toEqual(WIDTHS.map((w) => distance(w, 0)));
    expect(init.name).toBe('at θ₀ (slope −0.50)');
    expect(last.name).toBe('last probe (step 30)');
    expect(last.y).toEqual(WIDTHS.map((w) => distance(w, 30)));
    expect(ref.name).toBe('∝ 1/√width');
    expect(ref.x).toEqual([16, 4096]);
    expect((ref.y as number[])[1]).toBe(distance(4096, 0));
    expect((ref.y as number[])[0]).toBeCloseTo(distance(4096, 0) * 16, 12);
    expect((ref.line as { dash: string }).dash).toBe('dot');
    expect(fig.layout.xaxis).toMatchObject({ type: 'log', tickvals: WIDTHS, ticktext: ['16', '256', '4096'] });
    expect((fig.layout.yaxis as { type: string }).type).toBe('log');
    expect(logLogSlope([1, 10, 100], [3, 0.3, 0.03])).toBeCloseTo(-1, 12);
    expect(logLogSlope([1], [1])).toBeNull();
    // along training: one line per width
    const along = FIGURE_BY_ID.ntk_infinite.build(widths(), 'light')!;
    expect(along.data.filter(drawn)).toHaveLength(3);
    expect(along.data.find((t) => t.name === 'width 4096')!.y).toEqual(STEPS.map((t) => distance(4096, t)));
    // not a width comparison: the card says how to get one
    const one = ntkOne();
    expect(FIGURE_BY_ID.ntk_width.applies!(one)).toBe(false);
    expect(FIGURE_BY_ID.ntk_width.empty(one)).toMatch(/Compare widths/);
  });

  it('says in one line why there is no infinite-width network, and draws nothing of it', () => {
    const s = standard();
    expect(FIGURE_BY_ID.loss.note!(s)).toBe('No infinite-width network: model.parameterization: expected "ntk" for the infinite-width kernels (key "infinite"), found "standard".');
    const loss = FIGURE_BY_ID.loss.build(s, 'light')!;
    expect(loss.data.some((t) => String(t.name).includes('infinite'))).toBe(false);
    const gap = FIGURE_BY_ID.gap.build(s, 'light')!;
    expect(gap.data.filter(drawn).map((t) => t.name)).toEqual(['actual − linearized', 'actual − linearized (test)']);
    expect(FIGURE_BY_ID.spectrum.build(s, 'light')!.data.some((t) => String(t.name).includes('Θ'))).toBe(false);
    const d = FIGURE_BY_ID.decision.build(s, 'light')!;
    expect(d.data.filter((t) => t.type === 'heatmap').map((t) => t.name)).toEqual(['actual', 'linearized']);
    for (const id of ['ntk_width', 'ntk_infinite']) {
      expect(FIGURE_BY_ID[id].applies!(s), id).toBe(false);
      expect(FIGURE_BY_ID[id].build(s, 'light'), id).toBeNull();
    }
    expect(FIGURE_BY_ID.ntk_infinite.empty(s)).toMatch(/Needs the NTK parameterization/);
    const csv = seriesToCsv([{ label: 'run', series: s.runs[0].series }]).trim().split('\n').map((l) => l.split(','));
    const col = csv[0].indexOf('loss.infinite');
    expect(csv.slice(1).map((row) => row[col])).toEqual(['', '', '', '']);
    // an NTK run without the network (kernels too costly): the reason is the card's message
    const costly = state({ ...WIDER, compare: null }, ['run'], () => STEPS.map((t) => event(t, { infinite: false })), () => 'its kernels are too costly to compute live');
    expect(FIGURE_BY_ID.ntk_infinite.empty(costly)).toBe('No infinite-width network: its kernels are too costly to compute live.');
    // runs that differ: the note names the runs without it
    const mixed = state({ ...WIDER, compare: { param: 'optimizer', values: ['sgd', 'kfac'] } }, ['SGD', 'KFAC'], (i) => STEPS.map((t) => event(t, { infinite: i === 0 })), (i) => (i === 0 ? true : 'train.optimizer: expected "gd" or "sgd"'));
    expect(infiniteNote(mixed)).toBe('No infinite-width network for KFAC (train.optimizer: expected "gd" or "sgd").');
    expect(FIGURE_BY_ID.ntk_infinite.note!(mixed)).toBe(infiniteNote(mixed));
    checkFigure('loss (mixed)', FIGURE_BY_ID.loss.build(mixed, 'light')!);
  });

  it('a network that diverged on its own bound keeps its curve up to then, and the note says why', () => {
    const why = 'it diverged at step 20 (its training loss grew from 0.500 to 1e+7): learning rate 1.2 is above its stability bound 1.00, 2n/lambda_max of the analytic NTK';
    const s = state({ ...WIDER, compare: null }, ['run'], () =>
      STEPS.map((t) => (t < 20 ? event(t) : { ...event(t, { infinite: false }), ...(t === 20 ? { infiniteStopped: why } : {}) })),
    );
    expect(s.runs[0].info).toMatchObject({ infinite: null, infiniteReason: why });
    expect(infiniteNote(s)).toBe(`No infinite-width network: ${why}.`);
    expect(s.runs[0].series.cols['loss.infinite']).toEqual([expect.any(Number), expect.any(Number), null, null]);
    const loss = FIGURE_BY_ID.loss.build(s, 'light')!;
    checkFigure('loss (stopped)', loss);
    expect(named(loss, 'infinite width').some(drawn)).toBe(true);
  });
});
