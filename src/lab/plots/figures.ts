/**
 * Every plot of the lab as a pure function of the store's state: plotly `data` + `layout`
 * (plain objects), a one-sentence tooltip with the formula, the message shown while there is
 * nothing to draw, and a `deps` key that changes when the figure must be redrawn. No plotly
 * import here (the tests build figures in Node).
 *
 * Conventions every figure follows: colour = run (or layer / group), line style = quantity, and
 * every line style used has its own legend entry (a grey sample line) when colours already name
 * the runs; values handed to plotly are finite and of sane magnitude (no axis can print NaN or
 * Infinity); log axes label decades only once the data spans one; multi-panel figures stack
 * vertically on narrow screens. The models a figure draws come from series.ts's MODELS table.
 */
import type { LabState, RunState } from '../store';
import type { Column, Series } from '../series';
import { lastValue, lastStep, MODELS } from '../series';
import { dataFacts } from '../doc/data-facts';
import { type AlignmentDef } from '../doc/document';
import { logLogSlope } from '../../math/fit';

export type Theme = 'light' | 'dark';
export type Trace = Record<string, unknown>;
export interface Fig {
  data: Trace[];
  layout: Record<string, unknown>;
  /** Height of the plot in px when it differs from the card's default (stacked panels). */
  height?: number;
}

/** How the figure is shown: narrow screens (<= 480 px) stack multi-panel figures. */
export interface FigureView {
  narrow: boolean;
}

export interface FigureDef {
  id: string;
  title: string;
  tip: string;
  /** Message shown while the figure has nothing to draw (depends on what the lab is doing). */
  empty(s: LabState): string;
  wide?: boolean;
  /** False when the figure cannot apply to the current experiment (the card then shrinks). */
  applies?(s: LabState): boolean;
  deps(s: LabState): string;
  build(s: LabState, theme: Theme, view?: FigureView): Fig | null;
  /** A one-line note shown under the plot (null: none), e.g. why a model is missing. */
  note?(s: LabState): string | null;
}

export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];
const colors = {
  light: { fg: '#1f2328', grid: '#e3e6ea', bg: '#ffffff', key: '#57606a' },
  dark: { fg: '#e6edf3', grid: '#30363d', bg: '#0f141a', key: '#9aa6b2' },
};
const WIDE: FigureView = { narrow: false };

/** Largest magnitude handed to plotly: beyond it a value is a blow-up, not data to draw (no axis of 1e300). */
export const PLOT_MAX = 1e30;

/** A value plotly may draw: finite and of sane magnitude, else null (a gap). */
export const plotValue = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= PLOT_MAX ? v : null);

export function baseLayout(theme: Theme, o: { x?: string; y?: string; ylog?: boolean; xreversed?: boolean; xlog?: boolean; legend?: boolean } = {}): Record<string, unknown> {
  const c = colors[theme];
  const axis = (title: string | undefined, log: boolean | undefined) => ({
    title: title ? { text: title, font: { size: 11 } } : undefined,
    type: log ? 'log' : 'linear',
    gridcolor: c.grid,
    zerolinecolor: c.grid,
    linecolor: c.grid,
    automargin: false,
    exponentformat: 'power',
  });
  return {
    paper_bgcolor: c.bg,
    plot_bgcolor: c.bg,
    font: { color: c.fg, size: 11, family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' },
    margin: { l: 56, r: 12, t: o.legend === false ? 10 : 34, b: 40 },
    xaxis: { ...axis(o.x, o.xlog), autorange: o.xreversed ? 'reversed' : true },
    yaxis: axis(o.y, o.ylog),
    showlegend: o.legend ?? true,
    legend: { orientation: 'h', x: 0, xanchor: 'left', y: 1.01, yanchor: 'bottom', font: { size: 10 }, traceorder: 'normal' },
    uirevision: 'keep',
    hovermode: 'closest',
  };
}

/** Bar charts: a categorical x axis. */
function categoryX(layout: Record<string, unknown>): Record<string, unknown> {
  return { ...layout, xaxis: { ...(layout.xaxis as object), type: 'category' } };
}

/** Eigenvalues above round-off (>= 1e-12 of the largest), for log-scale spectra. */
export function aboveRoundoff(ev: number[]): (number | null)[] {
  const top = Math.max(0, ...ev.filter((v) => Number.isFinite(v)));
  return ev.map((v) => (Number.isFinite(v) && v > 1e-12 * top && v > 0 && v <= PLOT_MAX ? v : null));
}

const runKey = (s: LabState) => `${s.loadId}:${s.status}:` + s.runs.map((r) => `${r.id}:${r.series.version}:${r.info ? 1 : 0}:${r.facts ? 1 : 0}:${r.curvature?.step ?? '-'}`).join('|');

/** Positive plottable values only (log axes), else null. */
const pos = (a: (number | null)[]) => a.map((v) => (v !== null && v > 0 ? plotValue(v) : null));
const sane = (a: (number | null)[]) => a.map(plotValue);

/** Every number of some trace arrays. */
function numbers(traces: Trace[], key: 'x' | 'y'): number[] {
  const out: number[] = [];
  for (const t of traces) for (const v of (t[key] as unknown[]) ?? []) if (typeof v === 'number' && Number.isFinite(v) && v > 0) out.push(v);
  return out;
}

/** Smallest and largest of `values` by a loop (a spread into Math.min overflows the call stack on long series). */
export function extent(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * A log axis labelled at decades only once its data spans one (plotly otherwise prints the 2s
 * and 5s between decades as small numbers); within a decade plotly's own labels are kept.
 * `reversed` gives an explicit reversed range (autorange 'reversed' is not kept by every
 * redraw of a log axis).
 */
export function tidyLog(axis: Record<string, unknown>, values: number[], reversed = false): Record<string, unknown> {
  if (!values.length) return axis;
  const [lo, hi] = extent(values).map(Math.log10);
  const out = { ...axis };
  // A label every decade, or every few decades when many (at most ~6 labels on a small plot).
  if (hi - lo >= 1) out.dtick = Math.max(1, Math.ceil((hi - lo) / 6));
  if (reversed) {
    const pad = Math.max(0.02, 0.04 * (hi - lo));
    out.range = [hi + pad, lo - pad];
    out.autorange = false;
  }
  return out;
}

/** Apply tidyLog to the log axes of a figure (x and y of the main subplot). */
function tidy(fig: Fig, o: { xreversed?: boolean } = {}): Fig {
  const l = fig.layout;
  const layout = { ...l };
  const lines = fig.data.filter((t) => t.type === 'scatter');
  if ((l.yaxis as Record<string, unknown>)?.type === 'log') layout.yaxis = tidyLog(l.yaxis as Record<string, unknown>, numbers(lines, 'y'));
  if ((l.xaxis as Record<string, unknown>)?.type === 'log') layout.xaxis = tidyLog(l.xaxis as Record<string, unknown>, numbers(lines, 'x'), o.xreversed);
  return { ...fig, layout };
}

export interface LineStyle {
  name: string;
  dash: string;
  width?: number;
  symbol?: string;
}

/** Legend entries explaining line styles: grey sample lines without data. */
function styleKey(theme: Theme, styles: LineStyle[]): Trace[] {
  return styles.map((st) => ({
    type: 'scatter',
    mode: st.symbol ? 'lines+markers' : 'lines',
    x: [null],
    y: [null],
    name: st.name,
    legendgroup: `style:${st.name}`,
    line: { color: colors[theme].key, dash: st.dash, width: st.width ?? 2 },
    // (no `marker: undefined`: plotly reads the key's presence)
    ...(st.symbol ? { marker: { symbol: st.symbol, size: 7, color: colors[theme].key } } : {}),
    showlegend: true,
    hoverinfo: 'skip',
  }));
}

function line(
  run: RunState,
  i: number,
  col: Column,
  name: string,
  o: { dash?: string; width?: number; opacity?: number; x?: Column; positive?: boolean; group?: string; showlegend?: boolean; complement?: boolean } = {},
): Trace | null {
  const ys = run.series.cols[col];
  if (!ys.some((v) => v !== null)) return null;
  // 1 − v: a similarity drawn as a distance from θ₀ (log axes then separate 0.99 from 0.9999);
  // below 1e-10 it is round-off of the float64 similarity, not movement.
  const scaled = o.complement ? ys.map((v) => (v === null || 1 - v < 1e-10 ? null : 1 - v)) : ys;
  const y = o.positive ? pos(scaled) : sane(scaled);
  return {
    type: 'scatter',
    // A single point (step 0, before Play) is a dot: a line through one point is invisible.
    mode: y.filter((v) => v !== null).length === 1 ? 'lines+markers' : 'lines',
    x: run.series.cols[o.x ?? 'step'].slice(),
    y,
    name,
    legendgroup: o.group ?? run.id,
    line: { color: PALETTE[i % PALETTE.length], dash: o.dash ?? 'solid', width: o.width ?? 2 },
    opacity: o.opacity ?? 1,
    connectgaps: true,
    showlegend: o.showlegend ?? true,
    hovertemplate: `${name}: %{y:.4g} at %{x}<extra></extra>`,
  };
}

interface Quantity {
  col: Column;
  name: string;
  dash?: string;
  width?: number;
  opacity?: number;
}

/**
 * Traces of several quantities (line styles) for every run (colours). One run: a legend entry
 * per quantity, in the run's colour. Several runs: a legend entry per run plus a grey entry per
 * line style. Lines after the first quantity are drawn wider for earlier runs, so a quantity that
 * coincides across runs (e.g. the linearized model, identical for every α) shows every run's
 * colour as nested stripes instead of one line hiding the other.
 */
function perRun(s: LabState, theme: Theme, specs: Quantity[], o: { positive?: boolean; x?: Column; complement?: boolean; shared?: Column[] } = {}): Trace[] {
  const many = s.runs.length > 1;
  const used = new Set<number>();
  let traces = s.runs.flatMap((r, i) =>
    compact(
      specs.map((q, k) => {
        const stagger = many && k > 0 ? 1.2 * (s.runs.length - 1 - i) : 0;
        const t = line(r, i, q.col, many ? r.label : q.name, {
          dash: q.dash,
          width: (many && k > 0 ? Math.min(q.width ?? 2, 1.5) : (q.width ?? 2)) + stagger,
          opacity: many && k > 0 ? Math.min(q.opacity ?? 1, 0.75) : q.opacity,
          positive: o.positive || o.complement,
          complement: o.complement,
          x: o.x,
          showlegend: true,
        });
        if (t) {
          used.add(k);
          t.quantity = q.col;
          t.hovertemplate = `${many ? `${r.label}, ` : ''}${q.name}: %{y:.4g} at %{x}<extra></extra>`;
        }
        return t;
      }),
    ),
  );
  if (!many) {
    for (const t of traces) delete t.quantity;
    return traces;
  }
  // A shared quantity that is the same in every run (the infinite-width network does not depend
  // on the width or on α) is drawn once, in the grey of its line-style key, not as one stripe per run.
  for (const col of o.shared ?? []) {
    const keep = sharedRun(s, col);
    if (!keep) continue;
    traces = traces.filter((t) => t.quantity !== col || t.legendgroup === keep.id);
    const t = traces.find((x) => x.quantity === col);
    const q = specs.find((x) => x.col === col)!;
    if (!t) continue;
    t.line = { ...(t.line as object), color: colors[theme].key, width: q.width ?? 2 };
    t.opacity = q.opacity ?? 1;
    t.legendgroup = `shared:${col}`;
    t.hovertemplate = `${q.name} (every run): %{y:.4g} at %{x}<extra></extra>`;
  }
  // One legend entry per run (its first quantity), then the line styles in use.
  for (const t of traces) t.showlegend = false;
  const seen = new Set<string>();
  for (const t of traces) {
    if ((t.legendgroup as string).startsWith('shared:')) continue;
    if (!seen.has(t.legendgroup as string)) {
      seen.add(t.legendgroup as string);
      t.showlegend = true;
    }
  }
  const styles = specs.filter((_, k) => used.has(k)).map((q) => ({ name: q.name, dash: q.dash ?? 'solid', width: q.width }));
  // Draw the first quantity (the actual model) last, on top of the others; the legend keeps
  // the runs' order.
  traces.forEach((t, j) => (t.legendrank = 1000 + j));
  const first = new Set(s.runs.map((r) => `${r.id}:${specs[0].col}`));
  const isFirst = (t: Trace) => first.has(`${t.legendgroup}:${t.quantity}`);
  const ordered = [...traces.filter((t) => !isFirst(t)), ...traces.filter(isFirst)];
  for (const t of ordered) delete t.quantity;
  return [...ordered, ...(styles.length > 1 ? styleKey(theme, styles) : []).map((t, j) => ({ ...t, legendrank: 2000 + j }))];
}

/**
 * The run whose `col` stands for every run's, when at least two runs have it and they agree at
 * every step they share (runs advance in turn, so one may be a chunk ahead): the one with the
 * most points. Null when the values differ anywhere, or fewer than two runs have them.
 */
export function sharedRun(s: LabState, col: Column): RunState | null {
  const withData = s.runs.filter((r) => r.series.cols[col].some((v) => v !== null));
  if (withData.length < 2) return null;
  const byStep = (r: RunState) => {
    const m = new Map<number, number>();
    r.series.cols[col].forEach((v, i) => v !== null && m.set(r.series.cols.step[i] as number, v));
    return m;
  };
  const maps = withData.map(byStep);
  for (const m of maps.slice(1)) {
    let common = 0;
    for (const [t, v] of m) {
      const u = maps[0].get(t);
      if (u === undefined) continue;
      common++;
      if (Math.abs(u - v) > 1e-9 * Math.max(Math.abs(u), Math.abs(v), 1e-300)) return null;
    }
    if (common === 0) return null;
  }
  let best = 0;
  maps.forEach((m, i) => (m.size > maps[best].size ? (best = i) : 0));
  return withData[best];
}

const compact = (ts: (Trace | null)[]): Trace[] => ts.filter((t): t is Trace => t !== null);
const selectedRun = (s: LabState): RunState | null => s.runs[s.selected] ?? s.runs[0] ?? null;
const hasData = (s: LabState) => s.runs.some((r) => r.series.length > 0);

const ALIGN_LABEL: Record<AlignmentDef, string> = {
  ntk_centered: 'NTK alignment (centered, full NTK)',
  ntk_uncentered: 'NTK alignment (uncentered, full NTK)',
  centered: 'kernel-target alignment (centered, traced)',
  uncentered: 'kernel-target alignment (uncentered, traced)',
};

/** What the lab is doing, for the empty-plot messages. */
export function activity(s: LabState): 'no-engine' | 'starting' | 'loading' | 'ready' | 'running' | 'done' | 'error' {
  if (s.backend.status === 'none') return 'no-engine';
  if (s.backend.status === 'pending') return 'starting';
  if (s.status === 'loading' || s.status === 'idle') return 'loading';
  if (s.status === 'running') return 'running';
  if (s.status === 'done') return 'done';
  if (s.status === 'error') return 'error';
  return 'ready';
}

/** The generic message of a training curve with nothing to draw yet. */
function trainingEmpty(s: LabState): string {
  switch (activity(s)) {
    case 'no-engine':
      return 'No compute backend: see the message above.';
    case 'starting':
      return 'Starting the engine…';
    case 'loading':
      return 'Setting up the runs…';
    case 'running':
      return 'Training: the first points are on their way…';
    case 'error':
      return 'The runs stopped with an error (see the message above).';
    default:
      return 'Press Play to train.';
  }
}

// -----------------------------------------------------------------------------------------------

const lossStyles = (s: LabState): Quantity[] => [
  ...MODELS.map((m) => ({ col: m.loss, name: m.label, dash: m.dash, width: m.id === 'closedForm' ? 1.5 : 2 })),
  ...MODELS.filter((m) => m.testDash !== null).map((m) => ({ col: m.lossTest, name: `${m.label} (test)`, dash: m.testDash!, width: 1.5, opacity: 0.75 })),
].filter((q) => s.runs.some((r) => r.series.cols[q.col].some((v) => v !== null)));

/**
 * Why runs have no infinite-width network (SessionInfo.infiniteReason), one line: a standard
 * parameterization, a non-linear last layer, an optimizer without a function-space form, or
 * kernels too costly for a live session. Null when every run that reported has one.
 */
export function infiniteNote(s: LabState): string | null {
  const missing = s.runs.filter((r) => r.info && !r.info.infinite && r.info.infiniteReason);
  if (!missing.length) return null;
  const reasons = [...new Set(missing.map((r) => r.info!.infiniteReason!))];
  if (reasons.length === 1 && missing.length === s.runs.length) return `No infinite-width network: ${reasons[0]}.`;
  return `No infinite-width network for ${missing.map((r) => `${r.label} (${r.info!.infiniteReason})`).join('; ')}.`;
}

const loss: FigureDef = {
  id: 'loss',
  title: 'Loss: actual, linearized, closed form, infinite width',
  tip: 'Mean loss L = (1/n) Σᵢ ℓ(h(xᵢ), yᵢ) of the actual network, of its linearization f₀ + J₀(θ − θ₀), (mse) of the closed-form lazy prediction Y + (I − ηK/n)ᵗ(h₀ − Y), and, for an NTK-parameterized network with an infinite-width limit, of the infinite-width network: h trained in function space with the analytic NTK Θ from h = 0, same learning rate, batches and momentum (one grey line when it is the same for every run); thinner lines are test losses.',
  empty: trainingEmpty,
  wide: true,
  deps: (s) => runKey(s),
  note: infiniteNote,
  build(s, theme) {
    if (!hasData(s)) return null;
    const data = perRun(s, theme, lossStyles(s), { positive: true, shared: ['loss.infinite', 'loss.infiniteTest'] });
    if (!data.length) return null;
    return tidy({ data, layout: baseLayout(theme, { x: 'step', y: 'loss', ylog: true }) });
  },
};

const gap: FigureDef = {
  id: 'gap',
  title: 'Function-space gaps',
  tip: 'Distance between two models in function space, RMS over examples and outputs of the difference of their outputs: actual − linearized on the training (solid) and test (dotted) sets; with an infinite-width network, actual − infinite width (dashed) and linearized − infinite width (dash-dot) on the training set (test-set values in the CSV). The infinite-width network starts at h = 0, so its gaps start at the size of the initial outputs.',
  empty: trainingEmpty,
  deps: (s) => runKey(s),
  build(s, theme) {
    if (!hasData(s)) return null;
    const data = perRun(
      s,
      theme,
      [
        { col: 'gap.train', name: 'actual − linearized' },
        { col: 'gap.test', name: 'actual − linearized (test)', dash: 'dot' },
        { col: 'gapInf.actual', name: 'actual − infinite width', dash: 'dash' },
        { col: 'gapInf.linearized', name: 'linearized − infinite width', dash: 'dashdot' },
      ],
      { positive: true },
    );
    if (!data.some((t) => (t.y as unknown[]).some((v) => v !== null))) return null;
    return tidy({ data, layout: baseLayout(theme, { x: 'step', y: 'RMS(h − h′)', ylog: true }) });
  },
};

const kernelEmpty = (s: LabState) => {
  const a = activity(s);
  if (a === 'loading' || a === 'starting') return 'Computing the kernel at θ₀…';
  // A run that stopped before its first probe will not probe: say why, not "yet".
  if (a !== 'error' && s.runs.length && s.runs.every((r) => r.series.length > 0)) return 'No kernel probe yet (probes run every few metric events).';
  return trainingEmpty(s);
};

const alignment: FigureDef = {
  id: 'alignment',
  title: 'NTK alignment with the target',
  tip: 'Centered NTK alignment A = ṽᵀK̃ṽ / (‖K̃‖_F ‖ṽ‖²) of the current tangent kernel with the targets (definition selectable); the linearized model keeps its initial kernel.',
  empty: kernelEmpty,
  deps: (s) => `${runKey(s)}|${s.doc.view.alignment}|${s.analysis?.key ?? ''}`,
  build(s, theme) {
    const def = s.doc.view.alignment;
    const col = `align.${def}` as Column;
    const traces = compact(s.runs.map((r, i) => line(r, i, col, r.label === 'run' ? 'actual' : r.label)));
    if (!traces.length) {
      const a = s.analysis?.key === s.runKey ? plotValue(s.analysis.result.alignment[def]) : null;
      if (a === null) return null;
      traces.push({ type: 'scatter', mode: 'markers', x: [0], y: [a], name: 'at θ₀', marker: { color: PALETTE[0], size: 9 } });
    }
    return { data: traces, layout: baseLayout(theme, { x: 'step', y: ALIGN_LABEL[def] }) };
  },
};

/** Bars with their value written on them (a 0-valued bar still shows "0"). */
function bars(x: string[], y: number[], name: string, color: string, extra: Record<string, unknown> = {}): Trace {
  return {
    type: 'bar',
    x,
    y: sane(y),
    name,
    marker: { color, ...((extra.marker as object) ?? {}) },
    text: y.map((v) => (Number.isFinite(v) ? (v === 0 ? '0' : v.toPrecision(2)) : 'n/a')),
    textposition: 'outside',
    cliponaxis: false,
    textfont: { size: 10 },
    hovertemplate: `${name}: %{y:.4g} (%{x})<extra></extra>`,
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'marker')),
  };
}

const layerAlignment: FigureDef = {
  id: 'alignment_layers',
  title: 'Per-layer alignment',
  tip: 'Alignment of each layer’s own tangent kernel K_l = J_l J_lᵀ with the target (same definition as the alignment plot), for the selected run.',
  empty: kernelEmpty,
  deps: (s) => `${runKey(s)}|${s.selected}|${s.doc.view.alignment}|${s.analysis?.key ?? ''}`,
  build(s, theme) {
    const def = s.doc.view.alignment;
    const r = selectedRun(s);
    const rows = r ? r.series.perLayer[def] : [];
    const steps = r ? r.series.cols.step : [];
    const L = Math.max(0, ...rows.map((v) => v?.length ?? 0));
    const measured = rows.filter((v) => v !== null).length;
    // Before a second measurement a line would be one point: show the values as bars.
    if (L > 0 && measured >= 2) {
      const traces: Trace[] = [];
      for (let l = 0; l < L; l++) {
        traces.push({
          type: 'scatter',
          mode: 'lines',
          x: steps.slice(),
          y: rows.map((v) => (v ? plotValue(v[l]) : null)),
          name: `layer ${l + 1}`,
          line: { color: PALETTE[l % PALETTE.length], width: 2 },
          connectgaps: true,
        });
      }
      return { data: traces, layout: baseLayout(theme, { x: 'step', y: `per-layer alignment${s.runs.length > 1 && r ? ` (${r.label})` : ''}` }) };
    }
    const at0 = rows.find((v) => v !== null) ?? (s.analysis?.key === s.runKey ? s.analysis.result.perLayer[def] : undefined);
    if (!at0) return null;
    const x = at0.map((_, l) => `layer ${l + 1}`);
    return {
      data: [bars(x, at0, 'at θ₀', PALETTE[0])],
      layout: categoryX(baseLayout(theme, { y: 'alignment at θ₀', legend: false })),
    };
  },
};

const spectrum: FigureDef = {
  id: 'spectrum',
  title: 'NTK spectrum: at init vs now',
  tip: 'Leading eigenvalues λ₁ ≥ λ₂ ≥ … of the tangent kernel K = J Jᵀ at θ₀ and at the current step, for the selected run; with an infinite-width network, those of the analytic NTK Θ ⊗ I on the probe examples (dotted, ◇), which the empirical kernel approaches as the width grows.',
  empty: kernelEmpty,
  deps: (s) => `${runKey(s)}|${s.selected}|${s.analysis?.key ?? ''}`,
  build(s, theme) {
    const r = selectedRun(s);
    let init = r?.series.spectrumInit ?? null;
    const now = r?.series.spectrumNow ?? null;
    if (!init && s.analysis?.key === s.runKey) init = s.analysis.result.eigenvalues.slice(0, 60);
    if (!init || !init.length) return null;
    const tr = (ev: number[], name: string, color: string, dash: string, symbol: string): Trace => ({
      type: 'scatter',
      mode: 'lines+markers',
      x: ev.map((_, i) => i + 1),
      y: aboveRoundoff(ev),
      name,
      line: { color, dash, width: 2 },
      marker: { size: 4, color, symbol },
    });
    const data = [tr(init, 'at θ₀', PALETTE[0], 'solid', 'circle')];
    if (now && r && r.series.length > 1 && lastStep(r.series) > 0) data.push(tr(now, `step ${lastValue(r.series, 'step')}`, PALETTE[1], 'dash', 'x'));
    const theta = r?.info?.infinite?.spectrum;
    if (theta?.length) data.push(tr(theta, 'Θ (infinite width)', PALETTE[2], 'dot', 'diamond-open'));
    return tidy({ data, layout: baseLayout(theme, { x: 'index i', y: `eigenvalue λ<sub>i</sub>${s.runs.length > 1 && r ? ` (${r.label})` : ''}`, ylog: true }) });
  },
};

const rank: FigureDef = {
  id: 'rank',
  title: 'Effective rank of the NTK',
  tip: 'Effective rank exp(−Σᵢ pᵢ log pᵢ) with pᵢ = λᵢ / Σⱼ λⱼ: the number of kernel directions that carry its trace.',
  empty: kernelEmpty,
  deps: (s) => runKey(s),
  build(s, theme) {
    const data = compact(s.runs.map((r, i) => line(r, i, 'rank', r.label === 'run' ? 'actual' : r.label)));
    if (!data.length) return null;
    return { data, layout: baseLayout(theme, { x: 'step', y: 'effective rank' }) };
  },
};

const movement: FigureDef = {
  id: 'movement',
  title: 'Kernel movement from init',
  tip: 'How far the tangent kernel moved, as 1 − similarity to θ₀ on a log scale (0 at θ₀; small means lazy): 1 − ⟨K_t, K₀⟩_F / (‖K_t‖_F ‖K₀‖_F) (solid), the same for the centered kernels (dashed), and the share of relu units whose on/off pattern changed (dotted).',
  empty: kernelEmpty,
  deps: (s) => runKey(s),
  build(s, theme) {
    const data = perRun(
      s,
      theme,
      [
        { col: 'sim', name: 'kernel' },
        { col: 'simCentered', name: 'centered kernel', dash: 'dash', width: 1.5 },
        { col: 'relu', name: 'relu patterns', dash: 'dot', width: 1.5 },
      ],
      { complement: true },
    );
    if (!data.some((t) => (t.y as unknown[]).some((v) => v !== null))) return null;
    return tidy({ data, layout: baseLayout(theme, { x: 'step', y: '1 − similarity to θ₀', ylog: true }) });
  },
};

const distance: FigureDef = {
  id: 'distance',
  title: 'Parameter movement (relative)',
  tip: 'Distance travelled relative to the initial parameters, ‖θ_t − θ₀‖ / ‖θ₀‖, by the actual (solid) and the linearized (dashed) model; under the α-scaling it shrinks as 1/α, and it shrinks with width.',
  empty: trainingEmpty,
  deps: (s) => runKey(s),
  build(s, theme) {
    if (!hasData(s)) return null;
    const withNorm = s.runs.every((r) => r.facts && r.facts.theta0Norm > 0);
    const qs: Quantity[] = MODELS.filter((m) => m.dist !== null).map((m) => ({ col: m.dist!, name: m.label, dash: m.dash }));
    let data: Trace[];
    if (withNorm) {
      // Scale each run by its own ||θ₀|| (runs of different widths have different norms).
      data = perRun(s, theme, qs, { positive: true });
      for (const t of data) {
        const r = s.runs.find((x) => x.id === t.legendgroup);
        if (r && Array.isArray(t.y)) t.y = (t.y as (number | null)[]).map((v) => (v === null ? null : plotValue(v / r.facts!.theta0Norm)));
      }
    } else data = perRun(s, theme, qs, { positive: true });
    if (!data.some((t) => (t.y as unknown[]).some((v) => v !== null))) return null;
    return tidy({ data, layout: baseLayout(theme, { x: 'step', y: withNorm ? '‖θ − θ₀‖ / ‖θ₀‖' : '‖θ − θ₀‖', ylog: true }) });
  },
};

// ---- the infinite-width network (NTK parameterization) --------------------------------------

/** The document's network is NTK-parameterized (as validateSpec resolves it). */
const isNtk = (s: LabState) => (s.doc.spec.model.parameterization ?? s.doc.spec.init?.scheme) === 'ntk';

/** Why an infinite-width plot is empty: no NTK parameterization, the runs' reason, or the generic message. */
function infiniteEmpty(s: LabState): string {
  if (!isNtk(s)) return 'Needs the NTK parameterization (Model → Parameterization: NTK): only then does the network have an infinite-width limit.';
  const note = infiniteNote(s);
  if (note && s.runs.length && s.runs.every((r) => r.info && !r.info.infinite)) return note;
  return kernelEmpty(s);
}

/** First and last measured value of a column, with the step of the last. */
function firstLast(r: RunState, col: Column): { first: number; last: number; lastStep: number } | null {
  const ys = r.series.cols[col];
  const idx = ys.flatMap((v, i) => (v !== null && plotValue(v) !== null && v > 0 ? [i] : []));
  if (!idx.length) return null;
  const i = idx[idx.length - 1];
  return { first: ys[idx[0]]!, last: ys[i]!, lastStep: r.series.cols.step[i] as number };
}

const ntkWidth: FigureDef = {
  id: 'ntk_width',
  title: 'Empirical vs analytic NTK, against width',
  tip: 'Relative distance ‖K − Θ ⊗ I‖_F / ‖Θ ⊗ I‖_F of each run’s empirical NTK K on the probe examples from the analytic NTK Θ of the infinite-width limit, against the hidden width (log-log): at θ₀ (solid) and at the last kernel probe (dashed). The dotted line falls as 1/√width through the widest run at θ₀ (the rate at which the kernel at initialization concentrates on Θ); the legend gives the fitted log-log slope at θ₀ (one seed per width).',
  empty: (s) => (s.doc.compare?.param === 'width' ? infiniteEmpty(s) : 'Compare widths (Compare runs → vary width) of an NTK-parameterized network to see its kernel approach the infinite-width one.'),
  applies: (s) => s.doc.compare?.param === 'width' && isNtk(s),
  deps: (s) => runKey(s),
  build(s, theme) {
    const c = s.doc.compare;
    if (c?.param !== 'width' || c.values.length !== s.runs.length) return null;
    const pts = s.runs.flatMap((r, i) => {
      const v = firstLast(r, 'ntkDistInf');
      return v ? [{ width: Number(c.values[i]), ...v }] : [];
    });
    if (!pts.length) return null;
    pts.sort((a, b) => a.width - b.width);
    const x = pts.map((p) => p.width);
    const slope = logLogSlope(x, pts.map((p) => p.first));
    const marker = (color: string, symbol: string) => ({ size: 8, color, symbol });
    const data: Trace[] = [
      {
        type: 'scatter',
        mode: 'lines+markers',
        x,
        y: pts.map((p) => plotValue(p.first)),
        name: `at θ₀${slope !== null ? ` (slope ${slope.toFixed(2).replace('-', '−')})` : ''}`,
        line: { color: PALETTE[0], dash: 'solid', width: 2 },
        marker: marker(PALETTE[0], 'circle'),
        hovertemplate: 'width %{x}, at θ₀: %{y:.3g}<extra></extra>',
      },
    ];
    const lastStep = Math.min(...pts.map((p) => p.lastStep));
    if (lastStep > 0) {
      data.push({
        type: 'scatter',
        mode: 'lines+markers',
        x,
        y: pts.map((p) => plotValue(p.last)),
        name: `last probe (step ${lastStep === Math.max(...pts.map((p) => p.lastStep)) ? lastStep : `≥ ${lastStep}`})`,
        line: { color: PALETTE[1], dash: 'dash', width: 2 },
        marker: marker(PALETTE[1], 'x'),
        hovertemplate: 'width %{x}, last probe: %{y:.3g}<extra></extra>',
      });
    }
    if (pts.length > 1) {
      // 1/√width through the widest run at θ₀ (a straight line of slope −1/2 on log-log axes).
      const w = pts[pts.length - 1];
      data.push({
        type: 'scatter',
        mode: 'lines',
        x: [x[0], w.width],
        y: [plotValue(w.first * Math.sqrt(w.width / x[0])), plotValue(w.first)],
        name: '∝ 1/√width',
        line: { color: colors[theme].key, dash: 'dot', width: 1.5 },
        hoverinfo: 'skip',
      });
    }
    const fig = tidy({ data, layout: baseLayout(theme, { x: 'hidden width', y: '‖K − Θ⊗I‖ / ‖Θ⊗I‖', xlog: true, ylog: true }) });
    // Ticks at the widths themselves (a few values, often a decade or more apart).
    const { dtick: _decades, ...xaxis } = fig.layout.xaxis as Record<string, unknown>;
    fig.layout.xaxis = { ...xaxis, tickmode: 'array', tickvals: x, ticktext: x.map(String) };
    return fig;
  },
};

const ntkInfinite: FigureDef = {
  id: 'ntk_infinite',
  title: 'Distance of the NTK from the infinite-width NTK',
  tip: 'Relative distance ‖K_t − Θ ⊗ I‖_F / ‖Θ ⊗ I‖_F of the actual network’s empirical NTK on the probe examples from the analytic NTK Θ of its infinite-width limit, at every kernel probe from θ₀ on: how far the finite network’s kernel is from its limit, and whether training moves it away or towards it.',
  empty: infiniteEmpty,
  applies: isNtk,
  deps: (s) => runKey(s),
  note: (s) => (s.runs.some((r) => r.info?.infinite) ? infiniteNote(s) : null),
  build(s, theme) {
    if (!hasData(s)) return null;
    const data = perRun(s, theme, [{ col: 'ntkDistInf', name: 'actual' }], { positive: true });
    if (!data.length) return null;
    return tidy({ data, layout: baseLayout(theme, { x: 'step', y: '‖K − Θ⊗I‖ / ‖Θ⊗I‖', ylog: true }) });
  },
};

/** Permutation sorting examples by class (stable). */
export function classOrder(labels: Int32Array | null, n: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (labels) idx.sort((a, b) => labels[a] - labels[b] || a - b);
  return idx;
}

/** Class labels of a run's first k training examples (from the analysis, else the 2-D points). */
function probeLabels(s: LabState, r: RunState | null, k: number): Int32Array | null {
  const a = s.analysis?.key === s.runKey ? s.analysis.result.ntkTrace?.labels : null;
  if (a && a.length >= k) return a.subarray(0, k);
  const p = r?.info?.points2d?.label;
  return p && p.length >= k ? p.subarray(0, k) : null;
}

const heatmap: FigureDef = {
  id: 'ntk_heatmap',
  title: 'NTK heatmap (sorted by class)',
  tip: 'The output-traced tangent kernel K(xᵢ, xⱼ) = Σ_k ∇_θ f_k(xᵢ) · ∇_θ f_k(xⱼ), examples sorted by class: at θ₀ and, once training started, at the current step on the probe examples; an aligned kernel is block-diagonal.',
  empty: kernelEmpty,
  deps: (s) => `${s.analysis?.key ?? ''}|${s.runKey}|${runKey(s)}|${s.selected}`,
  build(s, theme, view = WIDE) {
    const r = selectedRun(s);
    const a = s.analysis?.key === s.runKey ? s.analysis.result.ntkTrace : null;
    // θ₀: the analysis' kernel (up to 200 examples), else the run's first probe kernel.
    const init = a ? { n: a.n, values: a.values, labels: a.labels, total: s.analysis!.result.n } : r?.series.kernelInit ? { n: r.series.kernelInit.n, values: r.series.kernelInit.traced, labels: probeLabels(s, r, r.series.kernelInit.n), total: r.info?.n ?? r.series.kernelInit.n } : null;
    if (!init) return null;
    const order = classOrder(init.labels, init.n);
    const z = order.map((i) => order.map((j) => plotValue(init.values[i * init.n + j])));
    const first = init.total > init.n ? ` (first ${init.n} of ${init.n > 0 ? init.total : 0})` : '';
    const layout = baseLayout(theme, { x: `example, sorted by class${first}`, y: 'example', legend: false });
    (layout.yaxis as Record<string, unknown>).autorange = 'reversed';
    (layout.yaxis as Record<string, unknown>).scaleanchor = 'x';
    const colorbar = { thickness: 10, title: { text: 'K(xᵢ, xⱼ)', side: 'right', font: { size: 10 } } };
    const data: Trace[] = [{ type: 'heatmap', z, colorscale: 'Viridis', colorbar: { ...colorbar, x: 1.02 }, hovertemplate: 'θ₀: K[%{y}, %{x}] = %{z:.3g}<extra></extra>' }];
    const now = r?.series.kernelNow;
    if (!now || now.step === 0) return { data, layout };
    const labels = probeLabels(s, r, now.n);
    const o2 = classOrder(labels, now.n);
    data[0].name = 'θ₀';
    data[0].showscale = false;
    data.push({
      type: 'heatmap',
      z: o2.map((i) => o2.map((j) => plotValue(now.traced[i * now.n + j]))),
      colorscale: 'Viridis',
      colorbar: { ...colorbar, x: 1.02 },
      xaxis: 'x2',
      yaxis: 'y2',
      hovertemplate: `step ${now.step}: K[%{y}, %{x}] = %{z:.3g}<extra></extra>`,
    });
    const base = { ...(layout.xaxis as object) };
    if (view.narrow) {
      layout.xaxis = { ...base, domain: [0, 1], anchor: 'y', title: { text: `θ₀${first}` } };
      layout.yaxis = { ...(layout.yaxis as object), domain: [0.54, 1], anchor: 'x' };
      layout.xaxis2 = { ...base, domain: [0, 1], anchor: 'y2', title: { text: `step ${now.step} (first ${now.n} examples)` } };
      layout.yaxis2 = { ...(layout.yaxis as object), domain: [0, 0.44], anchor: 'x2', autorange: 'reversed', scaleanchor: 'x2', title: undefined };
      return { data, layout: { ...layout, margin: { l: 40, r: 40, t: 10, b: 40 } }, height: 560 };
    }
    layout.xaxis = { ...base, domain: [0, 0.44], title: { text: `θ₀${first}` } };
    layout.xaxis2 = { ...base, domain: [0.53, 0.97], title: { text: `step ${now.step} (first ${now.n} examples)` }, anchor: 'y2' };
    layout.yaxis2 = { anchor: 'x2', autorange: 'reversed', scaleanchor: 'x2', showticklabels: false };
    return { data, layout };
  },
};

/** A stepwise colour scale for argmax maps of c classes: light tints of the class colours. */
function classScale(c: number): [number, string][] {
  const tint = (hex: string) => {
    const n = parseInt(hex.slice(1), 16);
    const mix = (v: number) => Math.round(v + (255 - v) * 0.6);
    return `rgb(${mix(n >> 16)}, ${mix((n >> 8) & 255)}, ${mix(n & 255)})`;
  };
  const out: [number, string][] = [];
  for (let k = 0; k < c; k++) {
    const col = tint(PALETTE[k % PALETTE.length]);
    out.push([k / c, col], [(k + 1) / c, col]);
  }
  return out;
}

function gridAxis(min: number, max: number, size: number): number[] {
  return Array.from({ length: size }, (_, i) => min + ((max - min) * i) / (size - 1));
}

function toRows(v: Float32Array, size: number): (number | null)[][] {
  const out: (number | null)[][] = [];
  for (let y = 0; y < size; y++) out.push(Array.from(v.subarray(y * size, (y + 1) * size), (x) => plotValue(x)));
  return out;
}

const decision: FigureDef = {
  id: 'decision',
  title: 'Data and decision maps of each model, and Δloss',
  tip: 'The training points over the model outputs on a grid of the input plane, for the actual and the linearized model (identical at step 0) and, for an NTK-parameterized network with an infinite-width limit, the infinite-width network (flat at step 0: it starts from h = 0); then Δloss = ℓ_actual − ℓ_linearized at matched mean training loss (red: the actual model is worse there).',
  empty: (s) => {
    if (!dataFacts(s.doc.spec).is2d) return `Decision maps need 2-D inputs; this data has ${dataFacts(s.doc.spec).input.join('×')} inputs.`;
    const a = activity(s);
    return a === 'loading' || a === 'starting' ? 'Drawing the data and the initial output map…' : trainingEmpty(s);
  },
  wide: true,
  applies: (s) => dataFacts(s.doc.spec).is2d,
  deps: (s) => `${runKey(s)}|${s.selected}`,
  build(s, theme, view = WIDE) {
    const r = selectedRun(s);
    const g = r?.series.grid;
    if (!r || !g) return null;
    const xs = gridAxis(g.extent.xMin, g.extent.xMax, g.size);
    const ys = gridAxis(g.extent.yMin, g.extent.yMax, g.size);
    const c = r.info?.c ?? 1;
    const isProb = c === 2;
    const isClass = c > 2;
    const common = { type: 'heatmap', x: xs, y: ys, showscale: false, hovertemplate: '(%{x:.2f}, %{y:.2f}): %{z:.3g}<extra></extra>' };
    const scale = isClass ? classScale(c) : 'RdBu';
    const zr = isProb ? { zmin: 0, zmax: 1 } : isClass ? { zmin: -0.5, zmax: c - 0.5 } : { zmid: 0 };
    // One panel per model map the session sent (actual, linearized, and any further model such
    // as the infinite-width network), then the Δloss map.
    const maps: { label: string; z: Float32Array }[] = [{ label: 'actual', z: g.actual }];
    if (g.linearized) maps.push({ label: 'linearized', z: g.linearized });
    if (g.infinite) maps.push({ label: 'infinite width', z: g.infinite });
    const k = maps.length + 1;
    const data: Trace[] = maps.map((m, i) => ({ ...common, z: toRows(m.z, g.size), colorscale: scale, reversescale: !isClass, ...zr, xaxis: `x${i ? i + 1 : ''}`, yaxis: `y${i ? i + 1 : ''}`, name: m.label }));
    const dl = `${k}`;
    if (g.deltaLoss) {
      let m = 0;
      for (const v of g.deltaLoss) if (plotValue(v) !== null) m = Math.max(m, Math.abs(v));
      data.push({ ...common, z: toRows(g.deltaLoss, g.size), colorscale: 'RdBu', reversescale: false, zmin: -m || -1, zmax: m || 1, showscale: true, colorbar: { thickness: 8, x: 1.0, len: view.narrow ? 1 / k - 0.03 : 1, y: view.narrow ? 0.5 / k : 0.5, title: { text: 'Δloss', side: 'right', font: { size: 10 } } }, xaxis: `x${dl}`, yaxis: `y${dl}`, name: 'Δloss' });
    }
    const p = r.info?.points2d;
    if (p) {
      const pointColor = (l: number) => (c <= 2 ? (l === 1 ? '#0072b2' : '#d55e00') : PALETTE[l % PALETTE.length]);
      const marker = { size: view.narrow ? 5 : 6, color: Array.from(p.label, pointColor), line: { width: 1, color: '#ffffff' } };
      maps.forEach((_, i) => data.push({ type: 'scatter', mode: 'markers', x: Array.from(p.x), y: Array.from(p.y), marker, xaxis: `x${i ? i + 1 : ''}`, yaxis: `y${i ? i + 1 : ''}`, showlegend: false, hoverinfo: 'skip' }));
    }
    const base = baseLayout(theme, { legend: false });
    const step = r.series.gridStep;
    const regression = dataFacts(r.spec).task === 'regression';
    const note = regression ? 'Δloss maps need class labels<br>(classification data)' : 'Δloss appears once both models<br>reach the same training loss';
    const milestone = g.milestone !== null && g.milestone !== undefined ? ` (at train loss ${g.milestone.toPrecision(2)})` : '';
    const titles = [...maps.map((m, i) => (i === 0 ? `${m.label}${step !== null ? `, step ${step}` : ''}` : m.label)), `Δloss${milestone}`];
    // k panels side by side, or stacked on narrow screens (each keeps its aspect ratio).
    const gap = 0.05;
    const span = (1 - gap * (k - 1)) / k;
    const panels: [number, number][] = Array.from({ length: k }, (_, i) => {
      const a = i * (span + gap);
      return view.narrow ? [1 - a - span, 1 - a] : [a, Math.min(0.98, a + span)];
    });
    const axes: Record<string, unknown> = {};
    panels.forEach((dom, i) => {
      const sfx = i ? `${i + 1}` : '';
      axes[`xaxis${sfx}`] = { ...(base.xaxis as object), domain: view.narrow ? [0, 1] : dom, anchor: `y${sfx}`, title: { text: titles[i], font: { size: 11 }, standoff: 2 }, autorange: true };
      axes[`yaxis${sfx}`] = { ...(base.yaxis as object), anchor: `x${sfx}`, scaleanchor: `x${sfx}`, autorange: true, ...(view.narrow ? { domain: dom } : {}) };
    });
    const last = panels[k - 1];
    const noteAt = view.narrow ? { x: 0.5, y: (last[0] + last[1]) / 2 } : { x: (last[0] + last[1]) / 2, y: 0.5 };
    const annotations = g.deltaLoss ? [] : [{ xref: 'paper', yref: 'paper', ...noteAt, showarrow: false, text: note, font: { size: 11 } }];
    return {
      data,
      layout: {
        ...base,
        margin: { l: 40, r: 40, t: 8, b: 40 },
        ...axes,
        annotations,
      },
      height: view.narrow ? 300 * k : undefined,
    };
  },
};

/** Indices where a loss series reaches a new minimum (by at least 0.5 %): a monotone path. */
export function descentPoints(loss: (number | null)[]): number[] {
  const out: number[] = [];
  let best = Infinity;
  loss.forEach((v, i) => {
    if (v !== null && Number.isFinite(v) && v < best * 0.995) {
      best = v;
      out.push(i);
    }
  });
  return out;
}

function commonPrefix(names: string[]): string {
  if (names.length < 2) return '';
  let p = names[0];
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  const cut = p.lastIndexOf(':');
  return cut >= 0 ? p.slice(0, cut + 1) + ' ' : '';
}

/**
 * The per-group comparison is at equal mean training loss: show the range of mean losses that
 * both models reached (a network far ahead of its linearization would otherwise squeeze the
 * linearized curves into a sliver at the left), with the y axis fitted to the points in it.
 */
function focusShared(fig: Fig, traces: Trace[]): Fig {
  const lines = traces.filter((t) => Array.isArray(t.x) && (t.x as unknown[]).some((v) => v !== null));
  const lowest = (dash: string) => {
    const xs = lines.filter((t) => (t.line as { dash?: string })?.dash === dash).flatMap((t) => (t.x as (number | null)[]).filter((v): v is number => v !== null && v > 0));
    return xs.length ? extent(xs)[0] : null;
  };
  const a = lowest('solid');
  const l = lowest('dash');
  if (a === null || l === null) return fig;
  const xs = lines.flatMap((t) => (t.x as (number | null)[]).filter((v): v is number => v !== null && v > 0));
  const hiX = extent(xs)[1];
  const loX = Math.max(a, l);
  if (!(hiX > loX)) return fig;
  const ys: number[] = [];
  for (const t of lines) {
    (t.x as (number | null)[]).forEach((x, i) => {
      const y = (t.y as (number | null)[])[i];
      if (x !== null && y !== null && y > 0 && x >= loX * 0.999) ys.push(y);
    });
  }
  const pad = 0.04 * Math.log10(hiX / loX) + 0.01;
  // Ticks for the focused ranges (the full data's decade ticks may fall outside them).
  const fresh = (axis: unknown) => {
    const { dtick: _d, ...rest } = axis as Record<string, unknown>;
    return rest;
  };
  const xaxis = { ...tidyLog(fresh(fig.layout.xaxis), [hiX, loX]), range: [Math.log10(hiX) + pad, Math.log10(loX) - pad], autorange: false };
  const yaxis = ys.length ? tidyLog({ ...fresh(fig.layout.yaxis), autorange: true }, ys) : fig.layout.yaxis;
  if (ys.length) {
    const [lo, hi] = extent(ys).map(Math.log10);
    const py = 0.05 * (hi - lo) + 0.02;
    Object.assign(yaxis as object, { range: [lo - py, hi + py], autorange: false });
  }
  return { ...fig, layout: { ...fig.layout, xaxis, yaxis } };
}

const groups: FigureDef = {
  id: 'groups',
  title: 'Per-group loss vs mean training loss',
  tip: 'Loss of each difficulty group against the mean training loss, a point each time the mean loss reaches a new low; the x axis runs from high to low loss, so training goes left to right. Solid: the actual network; dashed: its linearization. At equal mean loss, a group below its dashed twin is learned faster by the network than by the linearized model.',
  empty: (s) => {
    const r = selectedRun(s);
    if (r?.info && !r.info.groups.length) return 'This data has no difficulty groups (they need 2-D class data or label noise).';
    return trainingEmpty(s);
  },
  deps: (s) => `${runKey(s)}|${s.selected}`,
  build(s, theme) {
    const r = selectedRun(s);
    const names = r?.info?.groups ?? [];
    if (!r || !names.length || r.series.length < 2) return null;
    const data: Trace[] = [];
    const mean = (k: 'actual' | 'linearized') => r.series.cols[k === 'actual' ? 'loss.actual' : 'loss.linearized'];
    const prefix = commonPrefix(names.map((g) => g.name));
    names.forEach((g, gi) => {
      for (const k of ['actual', 'linearized'] as const) {
        const rows = r.series.groupLoss[k];
        if (!rows.some((v) => v)) continue;
        // As in Lazy vs Hasty: a point each time the mean training loss reaches a new low.
        const keep = descentPoints(mean(k));
        data.push({
          type: 'scatter',
          mode: 'lines',
          x: keep.map((i) => plotValue(mean(k)[i])),
          y: keep.map((i) => (rows[i] ? pos([rows[i]![gi]])[0] : null)),
          name: g.name.slice(prefix.length) || g.name,
          legendgroup: g.name,
          showlegend: k === 'actual',
          hovertemplate: `${g.name} (${k}): %{y:.3g} at mean loss %{x:.3g}<extra></extra>`,
          line: { color: PALETTE[gi % PALETTE.length], dash: k === 'actual' ? 'solid' : 'dash', width: k === 'actual' ? 2.5 : 2 },
          connectgaps: true,
        });
      }
    });
    if (!data.length) return null;
    data.push(...styleKey(theme, [{ name: 'actual', dash: 'solid', width: 2.5 }, { name: 'linearized', dash: 'dash' }]));
    const what = prefix.replace(/[:\s]+$/, '');
    const run = s.runs.length > 1 ? ` · ${r.label}` : '';
    const fig = tidy({ data, layout: baseLayout(theme, { x: `mean training loss (high → low)${run}`, y: `group loss${what ? ` (${what})` : ''}`, xlog: true, ylog: true }) }, { xreversed: true });
    return focusShared(fig, data);
  },
};

const curvatureEmpty = (s: LabState) => {
  if (s.imported) return 'Curvature reports are not part of this imported run.';
  const a = activity(s);
  if (a === 'running') return 'Pause (or wait for the end of the run) and press “Measure curvature”.';
  if (a === 'done') return 'Measuring the curvature at the last step…';
  if (a === 'ready') return 'Press “Measure curvature” (at any step).';
  return trainingEmpty(s);
};

/** KFAC and EKFAC: distinct colours, and EKFAC's bars hatched / its lines dotted with markers. */
const CURV = {
  kfac: { name: 'KFAC', color: PALETTE[1], dash: 'dash', symbol: 'x', pattern: '' },
  ekfac: { name: 'EKFAC', color: PALETTE[2], dash: 'dot', symbol: 'circle-open', pattern: '/' },
};

const curvatureErr: FigureDef = {
  id: 'curvature_err',
  title: 'KFAC / EKFAC vs exact Fisher (per layer)',
  tip: 'Relative Frobenius error ‖F̂_l − F_l‖_F / ‖F_l‖_F of each layer’s KFAC (G ⊗ A) and EKFAC (KFAC’s eigenbasis, exact second moments in it) block against the exact Fisher block F_l = (1/n) Σᵢ J_lᵢᵀ Mᵢ J_lᵢ; EKFAC is never worse than KFAC.',
  empty: curvatureEmpty,
  deps: (s) => `${runKey(s)}|${s.selected}`,
  build(s, theme) {
    const r = selectedRun(s);
    const c = r?.curvature;
    if (!c || !c.layers.length) return null;
    const x = c.layers.map((_, i) => `layer ${i + 1}`);
    const rel = (v: number, l: { frobExact: number }) => (l.frobExact > 0 ? v / l.frobExact : v);
    return {
      data: [
        bars(x, c.layers.map((l) => rel(l.frobErrKfac, l)), CURV.kfac.name, CURV.kfac.color),
        bars(x, c.layers.map((l) => rel(l.frobErrEkfac, l)), CURV.ekfac.name, CURV.ekfac.color, { marker: { pattern: { shape: CURV.ekfac.pattern, bgcolor: CURV.ekfac.color, fgcolor: '#ffffff', size: 6, solidity: 0.25 } } }),
      ],
      layout: { ...categoryX(baseLayout(theme, { y: `relative Frobenius error (step ${c.step}${s.runs.length > 1 && r ? `, ${r.label}` : ''})` })), barmode: 'group' },
    };
  },
};

const curvatureSpectra: FigureDef = {
  id: 'curvature_spectra',
  title: 'Fisher block spectra: exact, KFAC, EKFAC',
  tip: 'Eigenvalues of each layer’s exact Fisher block (solid) and of its KFAC (λ_G ⊗ λ_A, dashed, ×) and EKFAC (second moments in the Kronecker eigenbasis, dotted, ○) approximations; colour = layer.',
  empty: curvatureEmpty,
  deps: (s) => `${runKey(s)}|${s.selected}`,
  build(s, theme) {
    const r = selectedRun(s);
    const c = r?.curvature;
    if (!c) return null;
    const data: Trace[] = [];
    const kinds = [
      { key: 'exact' as const, name: 'exact', dash: 'solid', symbol: undefined as string | undefined },
      { key: 'kfac' as const, name: 'KFAC', dash: CURV.kfac.dash, symbol: CURV.kfac.symbol },
      { key: 'ekfac' as const, name: 'EKFAC', dash: CURV.ekfac.dash, symbol: CURV.ekfac.symbol },
    ];
    c.layers.forEach((l, li) => {
      if (!l.spectra) return;
      for (const k of kinds) {
        const ev = l.spectra[k.key];
        // Markers on a sample of the points keep dense spectra readable.
        const every = Math.max(1, Math.ceil(ev.length / 12));
        data.push({
          type: 'scatter',
          mode: k.symbol ? 'lines+markers' : 'lines',
          x: ev.map((_, i) => i + 1),
          y: aboveRoundoff(ev),
          name: `layer ${li + 1}`,
          legendgroup: `l${li}`,
          showlegend: k.key === 'exact',
          hovertemplate: `layer ${li + 1} ${k.name}: λ<sub>%{x}</sub> = %{y:.3g}<extra></extra>`,
          line: { color: PALETTE[li % PALETTE.length], dash: k.dash, width: 1.5 },
          ...(k.symbol ? { marker: { symbol: k.symbol, size: 6, color: PALETTE[li % PALETTE.length], maxdisplayed: Math.ceil(ev.length / every) } } : {}),
        });
      }
    });
    if (!data.length) return null;
    data.push(...styleKey(theme, kinds.map((k) => ({ name: k.name, dash: k.dash, symbol: k.symbol, width: 1.5 }))));
    return tidy({ data, layout: baseLayout(theme, { x: `index${s.runs.length > 1 && r ? ` (${r.label})` : ''}`, y: 'eigenvalue', ylog: true }) });
  },
};

const race: FigureDef = {
  id: 'race',
  title: 'Optimizer race (loss vs engine time)',
  tip: 'Training loss of every run against the engine’s wall-clock seconds: what each optimizer (GD, SGD, momentum, KFAC, EKFAC) buys per second of compute.',
  empty: (s) => (s.doc.compare?.param === 'optimizer' ? trainingEmpty(s) : 'Compare optimizers (Compare runs → vary optimizer) to race them.'),
  applies: (s) => s.doc.compare?.param === 'optimizer',
  deps: (s) => runKey(s),
  build(s, theme) {
    if (s.doc.compare?.param !== 'optimizer' || !hasData(s)) return null;
    const data = compact(s.runs.map((r, i) => line(r, i, 'loss.actual', r.label, { x: 'wallTime', positive: true })));
    if (!data.length) return null;
    return tidy({ data, layout: baseLayout(theme, { x: 'engine seconds', y: 'training loss', ylog: true }) });
  },
};

export const FIGURES: FigureDef[] = [decision, loss, alignment, groups, distance, movement, gap, ntkWidth, ntkInfinite, layerAlignment, spectrum, rank, heatmap, curvatureErr, curvatureSpectra, race];
export const FIGURE_BY_ID: Record<string, FigureDef> = Object.fromEntries(FIGURES.map((f) => [f.id, f]));

/** Every finite number of a figure's traces (for tests and sanity checks). */
export function figureNumbers(fig: Fig): number[] {
  const out: number[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'number') {
      if (Number.isFinite(v)) out.push(v);
    } else if (Array.isArray(v)) v.forEach(walk);
  };
  for (const t of fig.data) {
    walk(t.y);
    walk(t.z);
  }
  return out;
}

export type { Series };
