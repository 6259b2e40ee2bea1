/**
 * Every plot of the lab as a pure function of the store's state: plotly `data` + `layout`
 * (plain objects), a one-sentence tooltip with the formula, and a `deps` key that changes when
 * the figure must be redrawn. No plotly import here (the tests build figures in Node).
 */
import type { LabState, RunState } from '../store';
import type { Column, Series } from '../series';
import { lastValue } from '../series';
import { dataFacts } from '../doc/data-facts';
import { type AlignmentDef } from '../doc/document';

export type Theme = 'light' | 'dark';
export type Trace = Record<string, unknown>;
export interface Fig {
  data: Trace[];
  layout: Record<string, unknown>;
}

export interface FigureDef {
  id: string;
  title: string;
  tip: string;
  /** Message shown while the figure has nothing to draw. */
  empty: string;
  wide?: boolean;
  /** False when the figure cannot apply to the current experiment (the card then shrinks). */
  applies?(s: LabState): boolean;
  deps(s: LabState): string;
  build(s: LabState, theme: Theme): Fig | null;
}

export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];
const colors = {
  light: { fg: '#1f2328', grid: '#e3e6ea', bg: '#ffffff' },
  dark: { fg: '#e6edf3', grid: '#30363d', bg: '#0f141a' },
};

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
  return ev.map((v) => (Number.isFinite(v) && v > 1e-12 * top && v > 0 ? v : null));
}

const runKey = (s: LabState) => s.runs.map((r) => `${r.id}:${r.series.version}:${r.info ? 1 : 0}:${r.curvature?.step ?? '-'}`).join('|');

/** Positive finite values only (log axes), else null. */
const pos = (a: (number | null)[]) => a.map((v) => (v !== null && v > 0 && Number.isFinite(v) ? v : null));

function line(
  run: RunState,
  i: number,
  col: Column,
  name: string,
  o: { dash?: string; width?: number; opacity?: number; x?: Column; positive?: boolean; group?: string; showlegend?: boolean } = {},
): Trace | null {
  const ys = run.series.cols[col];
  if (!ys.some((v) => v !== null)) return null;
  return {
    type: 'scatter',
    mode: 'lines',
    x: run.series.cols[o.x ?? 'step'].slice(),
    y: o.positive ? pos(ys) : ys.slice(),
    name,
    legendgroup: o.group ?? run.id,
    line: { color: PALETTE[i % PALETTE.length], dash: o.dash ?? 'solid', width: o.width ?? 2 },
    opacity: o.opacity ?? 1,
    connectgaps: true,
    showlegend: o.showlegend ?? true,
    hovertemplate: `${name}: %{y:.4g} at %{x}<extra></extra>`,
  };
}

/**
 * Traces of several quantities (line styles) for every run (colours). One run: a legend entry
 * per quantity. Several runs: a legend entry per run, the styles named in `styleNote`.
 */
function perRun(s: LabState, specs: { col: Column; name: string; dash?: string; width?: number; opacity?: number }[], o: { positive?: boolean; x?: Column } = {}): Trace[] {
  const many = s.runs.length > 1;
  return s.runs.flatMap((r, i) =>
    compact(
      specs.map((q, k) =>
        line(r, i, q.col, many ? (k === 0 ? r.label : `${r.label}: ${q.name}`) : q.name, { dash: q.dash, width: q.width, opacity: q.opacity, positive: o.positive, x: o.x, showlegend: !many || k === 0 }),
      ),
    ),
  );
}

const styleNote = (s: LabState, note: string) => (s.runs.length > 1 ? ` · ${note}` : '');

const compact = (ts: (Trace | null)[]): Trace[] => ts.filter((t): t is Trace => t !== null);
const selectedRun = (s: LabState): RunState | null => s.runs[s.selected] ?? s.runs[0] ?? null;
const hasData = (s: LabState) => s.runs.some((r) => r.series.length > 0);

const ALIGN_LABEL: Record<AlignmentDef, string> = {
  ntk_centered: 'NTK alignment (centered, full NTK)',
  ntk_uncentered: 'NTK alignment (uncentered, full NTK)',
  centered: 'kernel-target alignment (centered, traced)',
  uncentered: 'kernel-target alignment (uncentered, traced)',
};

// -----------------------------------------------------------------------------------------------

const loss: FigureDef = {
  id: 'loss',
  title: 'Loss: actual, linearized, closed form',
  tip: 'Mean loss L = (1/n) Σ ℓ(h(x_i), y_i) of the actual network, of its linearization f₀ + J₀(θ − θ₀), and of the closed-form lazy prediction Y + (I − ηK/n)ᵗ(h₀ − Y) (mse); dotted lines are test losses.',
  empty: 'Press Play to train.',
  wide: true,
  deps: (s) => runKey(s),
  build(s, theme) {
    if (!hasData(s)) return null;
    const data = perRun(
      s,
      [
        { col: 'loss.actual', name: 'actual' },
        { col: 'loss.linearized', name: 'linearized', dash: 'dash' },
        { col: 'loss.closedForm', name: 'closed form', dash: 'dashdot', width: 1.5 },
        { col: 'loss.actualTest', name: 'actual (test)', dash: 'dot', width: 1.5, opacity: 0.75 },
        { col: 'loss.linearizedTest', name: 'linearized (test)', dash: 'dot', width: 1, opacity: 0.5 },
      ],
      { positive: true },
    );
    return { data, layout: baseLayout(theme, { x: `step${styleNote(s, 'solid actual, dashed linearized, dash-dot closed form, dotted test')}`, y: 'loss', ylog: true }) };
  },
};

const gap: FigureDef = {
  id: 'gap',
  title: 'Function-space gap',
  tip: 'Distance between the actual and the linearized model in function space: RMS over examples and outputs of h(x) − h_lin(x), on the training and test sets.',
  empty: 'Press Play to train.',
  deps: (s) => runKey(s),
  build(s, theme) {
    if (!hasData(s)) return null;
    const data = perRun(s, [{ col: 'gap.train', name: 'train' }, { col: 'gap.test', name: 'test', dash: 'dot' }], { positive: true });
    if (!data.length) return null;
    return { data, layout: baseLayout(theme, { x: `step${styleNote(s, 'solid train, dotted test')}`, y: 'RMS(h − h_lin)', ylog: true }) };
  },
};

const alignment: FigureDef = {
  id: 'alignment',
  title: 'NTK alignment with the target',
  tip: 'Centered NTK alignment A = ṽᵀK̃ṽ / (‖K̃‖_F ‖ṽ‖²) of the current tangent kernel with the targets (definition selectable); the linearized model keeps its initial kernel.',
  empty: 'Waiting for the kernel at θ₀…',
  deps: (s) => `${runKey(s)}|${s.doc.view.alignment}|${s.analysis?.key ?? ''}`,
  build(s, theme) {
    const def = s.doc.view.alignment;
    const col = `align.${def}` as Column;
    const data = s.runs.map((r, i) => line(r, i, col, r.label === 'run' ? 'actual' : r.label));
    const traces = compact(data);
    if (!traces.length) {
      const a = s.analysis?.result.alignment[def];
      if (a === undefined || s.analysis?.key !== s.docKey) return null;
      traces.push({ type: 'scatter', mode: 'markers', x: [0], y: [a], name: 'at θ₀', marker: { color: PALETTE[0], size: 9 } });
    }
    return { data: traces, layout: baseLayout(theme, { x: 'step', y: ALIGN_LABEL[def] }) };
  },
};

const layerAlignment: FigureDef = {
  id: 'alignment_layers',
  title: 'Per-layer alignment',
  tip: 'Alignment of each layer’s own tangent kernel K_l = J_l J_lᵀ with the target (same definition as the alignment plot), for the selected run.',
  empty: 'Waiting for the kernel at θ₀…',
  deps: (s) => `${runKey(s)}|${s.selected}|${s.doc.view.alignment}|${s.analysis?.key ?? ''}`,
  build(s, theme) {
    const def = s.doc.view.alignment;
    const r = selectedRun(s);
    const rows = r ? r.series.perLayer[def] : [];
    const steps = r ? r.series.cols.step : [];
    const L = Math.max(0, ...rows.map((v) => v?.length ?? 0));
    const traces: Trace[] = [];
    for (let l = 0; l < L; l++) {
      traces.push({
        type: 'scatter',
        mode: 'lines',
        x: steps.slice(),
        y: rows.map((v) => (v && Number.isFinite(v[l]) ? v[l] : null)),
        name: `layer ${l + 1}`,
        line: { color: PALETTE[l % PALETTE.length], width: 2 },
        connectgaps: true,
      });
    }
    if (!traces.length) {
      const a = s.analysis?.key === s.docKey ? s.analysis.result.perLayer[def] : undefined;
      if (!a) return null;
      return {
        data: [{ type: 'bar', x: a.map((_, l) => `layer ${l + 1}`), y: a, marker: { color: PALETTE[0] }, name: 'at θ₀' }],
        layout: categoryX(baseLayout(theme, { y: 'alignment at θ₀', legend: false })),
      };
    }
    return { data: traces, layout: baseLayout(theme, { x: 'step', y: 'per-layer alignment' }) };
  },
};

const spectrum: FigureDef = {
  id: 'spectrum',
  title: 'NTK spectrum: at init vs now',
  tip: 'Leading eigenvalues λ_1 ≥ λ_2 ≥ … of the tangent kernel K = J Jᵀ at θ₀ and at the current step; training concentrates the spectrum (top eigenvalues grow, effective rank falls).',
  empty: 'Waiting for the kernel at θ₀…',
  deps: (s) => `${runKey(s)}|${s.selected}|${s.analysis?.key ?? ''}`,
  build(s, theme) {
    const r = selectedRun(s);
    let init = r?.series.spectrumInit ?? null;
    const now = r?.series.spectrumNow ?? null;
    if (!init && s.analysis?.key === s.docKey) init = s.analysis.result.eigenvalues.slice(0, 60);
    if (!init) return null;
    const tr = (ev: number[], name: string, color: string, dash: string): Trace => ({
      type: 'scatter',
      mode: 'lines+markers',
      x: ev.map((_, i) => i + 1),
      y: aboveRoundoff(ev),
      name,
      line: { color, dash, width: 2 },
      marker: { size: 4, color },
    });
    const data = [tr(init, 'at θ₀', PALETTE[0], 'solid')];
    if (now && r && r.series.length > 1) data.push(tr(now, `now (step ${lastValue(r.series, 'step')})`, PALETTE[1], 'dash'));
    return { data, layout: baseLayout(theme, { x: 'index i', y: 'eigenvalue λ_i', ylog: true }) };
  },
};

const rank: FigureDef = {
  id: 'rank',
  title: 'Effective rank of the NTK',
  tip: 'Effective rank exp(−Σ p_i log p_i) with p_i = λ_i / Σ_j λ_j: the number of kernel directions that matter; it falls as the kernel compresses onto the task.',
  empty: 'Press Play to train.',
  deps: (s) => runKey(s),
  build(s, theme) {
    const data = compact(s.runs.map((r, i) => line(r, i, 'rank', r.label === 'run' ? 'actual' : r.label)));
    if (!data.length) return null;
    return { data, layout: baseLayout(theme, { x: 'step', y: 'effective rank' }) };
  },
};

const movement: FigureDef = {
  id: 'movement',
  title: 'Kernel similarity to init',
  tip: 'How far the tangent kernel moved: ⟨K_t, K₀⟩_F / (‖K_t‖_F ‖K₀‖_F) (solid), centered version (dashed), and the share of relu units whose sign pattern is unchanged (dotted); 1 means lazy.',
  empty: 'Press Play to train.',
  deps: (s) => runKey(s),
  build(s, theme) {
    const data = perRun(s, [
      { col: 'sim', name: 'kernel similarity' },
      { col: 'simCentered', name: 'centered', dash: 'dash', width: 1.5 },
      { col: 'relu', name: 'relu sign similarity', dash: 'dot', width: 1.5 },
    ]);
    if (!data.length) return null;
    return { data, layout: baseLayout(theme, { x: `step${styleNote(s, 'solid kernel, dashed centered, dotted relu signs')}`, y: 'similarity to θ₀' }) };
  },
};

const distance: FigureDef = {
  id: 'distance',
  title: 'Parameter movement',
  tip: 'Distance ‖θ_t − θ₀‖₂ travelled by the actual (solid) and the linearized (dashed) model; under the α-scaling it shrinks as 1/α.',
  empty: 'Press Play to train.',
  deps: (s) => runKey(s),
  build(s, theme) {
    const data = perRun(s, [{ col: 'dist.actual', name: 'actual' }, { col: 'dist.linearized', name: 'linearized', dash: 'dash' }], { positive: true });
    if (!data.length) return null;
    return { data, layout: baseLayout(theme, { x: `step${styleNote(s, 'solid actual, dashed linearized')}`, y: '‖θ − θ₀‖', ylog: true }) };
  },
};

/** Permutation sorting examples by class (stable). */
export function classOrder(labels: Int32Array | null, n: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (labels) idx.sort((a, b) => labels[a] - labels[b] || a - b);
  return idx;
}

const heatmap: FigureDef = {
  id: 'ntk_heatmap',
  title: 'NTK heatmap (sorted by class)',
  tip: 'The output-traced tangent kernel K(x_i, x_j) = Σ_k ∇_θ f_k(x_i) · ∇_θ f_k(x_j), examples sorted by class: at θ₀ and, while training, on the probe examples at the current step; an aligned kernel is block-diagonal.',
  empty: 'Waiting for the kernel at θ₀…',
  deps: (s) => `${s.analysis?.key ?? ''}|${s.docKey}|${runKey(s)}|${s.selected}`,
  build(s, theme) {
    const a = s.analysis?.key === s.docKey ? s.analysis.result.ntkTrace : null;
    if (!a) return null;
    const order = classOrder(a.labels, a.n);
    const z = order.map((i) => order.map((j) => a.values[i * a.n + j]));
    const first = s.analysis!.result.n > a.n ? ` (first ${a.n} of ${s.analysis!.result.n})` : '';
    const layout = baseLayout(theme, { x: `example, sorted by class${first}`, y: 'example', legend: false });
    (layout.yaxis as Record<string, unknown>).autorange = 'reversed';
    (layout.yaxis as Record<string, unknown>).scaleanchor = 'x';
    const data: Record<string, unknown>[] = [
      { type: 'heatmap', z, colorscale: 'Viridis', colorbar: { thickness: 10, x: 1.02 }, hovertemplate: 'θ₀: K[%{y}, %{x}] = %{z:.3g}<extra></extra>' },
    ];
    // The current kernel of the selected run, on its probe examples (the first k training examples).
    const now = selectedRun(s)?.series.kernelNow;
    if (now && now.step > 0) {
      const labels = a.labels && a.labels.length >= now.n ? a.labels.subarray(0, now.n) : null;
      const o2 = classOrder(labels, now.n);
      data[0].xaxis = 'x';
      data[0].name = 'θ₀';
      data.push({
        type: 'heatmap',
        z: o2.map((i) => o2.map((j) => now.traced[i * now.n + j])),
        colorscale: 'Viridis',
        showscale: false,
        xaxis: 'x2',
        yaxis: 'y2',
        hovertemplate: `step ${now.step}: K[%{y}, %{x}] = %{z:.3g}<extra></extra>`,
      });
      (layout.xaxis as Record<string, unknown>).domain = [0, 0.47];
      (layout.xaxis as Record<string, unknown>).title = { text: 'θ₀' };
      layout.xaxis2 = { domain: [0.53, 1], title: { text: `step ${now.step} (first ${now.n} examples)` }, anchor: 'y2' };
      layout.yaxis2 = { anchor: 'x2', autorange: 'reversed', scaleanchor: 'x2', showticklabels: false };
    }
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

function toRows(v: Float32Array, size: number): number[][] {
  const out: number[][] = [];
  for (let y = 0; y < size; y++) out.push(Array.from(v.subarray(y * size, (y + 1) * size), (x) => (Number.isFinite(x) ? x : NaN)));
  return out;
}

const decision: FigureDef = {
  id: 'decision',
  title: 'Decision maps: actual | linearized | Δloss',
  tip: 'Model outputs on a grid over the input plane for the actual and the linearized model, and Δloss = ℓ_actual − ℓ_linearized at matched mean training loss (red: the actual model is worse there).',
  empty: '2-D datasets only; press Play to train.',
  wide: true,
  applies: (s) => dataFacts(s.doc.spec).is2d,
  deps: (s) => `${runKey(s)}|${s.selected}`,
  build(s, theme) {
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
    const data: Trace[] = [{ ...common, z: toRows(g.actual, g.size), colorscale: scale, reversescale: !isClass, ...zr, xaxis: 'x', yaxis: 'y', name: 'actual' }];
    if (g.linearized) data.push({ ...common, z: toRows(g.linearized, g.size), colorscale: scale, reversescale: !isClass, ...zr, xaxis: 'x2', yaxis: 'y2', name: 'linearized' });
    if (g.deltaLoss) {
      let m = 0;
      for (const v of g.deltaLoss) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
      data.push({ ...common, z: toRows(g.deltaLoss, g.size), colorscale: 'RdBu', reversescale: false, zmin: -m || -1, zmax: m || 1, showscale: true, colorbar: { thickness: 8, x: 1.0 }, xaxis: 'x3', yaxis: 'y3', name: 'Δloss' });
    }
    const p = r.info?.points2d;
    if (p) {
      const pointColor = (l: number) => (c <= 2 ? (l === 1 ? '#0072b2' : '#d55e00') : PALETTE[l % PALETTE.length]);
      const marker = { size: 6, color: Array.from(p.label, pointColor), line: { width: 1, color: '#ffffff' } };
      for (const axis of ['', '2']) data.push({ type: 'scatter', mode: 'markers', x: Array.from(p.x), y: Array.from(p.y), marker, xaxis: `x${axis}`, yaxis: `y${axis}`, showlegend: false, hoverinfo: 'skip' });
    }
    const base = baseLayout(theme, { legend: false });
    const ax = (domain: [number, number], anchor: string, title: string) => ({ ...(base.xaxis as object), domain, anchor, title: { text: title, font: { size: 11 } }, autorange: true });
    const ay = (anchor: string) => ({ ...(base.yaxis as object), anchor, scaleanchor: anchor, autorange: true });
    const step = g && r ? lastStepWithGrid(r) : null;
    const regression = dataFacts(r.spec).task === 'regression';
    const note = regression ? 'Δloss maps need class labels<br>(classification data)' : 'Δloss appears once both models<br>reach the same training loss';
    const annotations = g.deltaLoss ? [] : [{ xref: 'paper', yref: 'paper', x: 0.84, y: 0.5, showarrow: false, text: note, font: { size: 11 } }];
    const milestone = g.milestone !== null && g.milestone !== undefined ? ` (Δloss at train loss ${g.milestone.toPrecision(2)})` : ' (Δloss once both reach a milestone)';
    return {
      data,
      layout: {
        ...base,
        margin: { l: 40, r: 40, t: 8, b: 40 },
        xaxis: ax([0, 0.3], 'y', `actual${step !== null ? `, step ${step}` : ''}`),
        yaxis: ay('x'),
        xaxis2: ax([0.35, 0.65], 'y2', 'linearized'),
        yaxis2: ay('x2'),
        xaxis3: ax([0.7, 0.98], 'y3', `Δloss${milestone}`),
        yaxis3: ay('x3'),
        annotations,
      },
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

function lastStepWithGrid(r: RunState): number | null {
  return r.series.gridStep;
}

const groups: FigureDef = {
  id: 'groups',
  title: 'Per-group loss vs mean training loss',
  tip: 'Loss of each difficulty group against the mean training loss, recorded each time the mean loss reaches a new low (x reversed, so training goes left to right): actual training (solid) learns easy groups first, the linearized model (dashed) spreads progress evenly.',
  empty: 'Needs difficulty groups (2-D classification or label noise); press Play.',
  wide: false,
  deps: (s) => `${runKey(s)}|${s.selected}`,
  build(s, theme) {
    const r = selectedRun(s);
    const names = r?.info?.groups ?? [];
    if (!r || !names.length || r.series.length < 1) return null;
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
          x: keep.map((i) => mean(k)[i]),
          y: keep.map((i) => (rows[i] && Number.isFinite(rows[i]![gi]) ? rows[i]![gi] : null)),
          name: g.name.slice(prefix.length) || g.name,
          legendgroup: g.name,
          showlegend: k === 'actual',
          hovertemplate: `${g.name} (${k}): %{y:.3g} at mean loss %{x:.3g}<extra></extra>`,
          line: { color: PALETTE[gi % PALETTE.length], dash: k === 'actual' ? 'solid' : 'dash', width: k === 'actual' ? 2 : 1.5 },
          connectgaps: true,
        });
      }
    });
    if (!data.length) return null;
    const what = prefix.replace(/[:\s]+$/, '');
    return { data, layout: baseLayout(theme, { x: 'mean training loss (reversed) · solid actual, dashed linearized', y: `group loss${what ? ` (${what})` : ''}`, xreversed: true, xlog: true, ylog: true }) };
  },
};

const curvatureErr: FigureDef = {
  id: 'curvature_err',
  title: 'KFAC / EKFAC vs exact Fisher (per layer)',
  tip: 'Relative Frobenius error ‖F̂_l − F_l‖_F / ‖F_l‖_F of each layer’s KFAC (G ⊗ A) and EKFAC (KFAC basis, exact diagonal) block against the exact Fisher block F_l = (1/n) Σ J_lᵀ M J_l.',
  empty: 'Press “Measure curvature” (at any step).',
  deps: (s) => `${runKey(s)}|${s.selected}`,
  build(s, theme) {
    const r = selectedRun(s);
    const c = r?.curvature;
    if (!c || !c.layers.length) return null;
    const x = c.layers.map((l, i) => `layer ${i + 1}`);
    const rel = (v: number, l: { frobExact: number }) => (l.frobExact > 0 ? v / l.frobExact : v);
    return {
      data: [
        { type: 'bar', x, y: c.layers.map((l) => rel(l.frobErrKfac, l)), name: 'KFAC', marker: { color: PALETTE[1] } },
        { type: 'bar', x, y: c.layers.map((l) => rel(l.frobErrEkfac, l)), name: 'EKFAC', marker: { color: PALETTE[2] } },
      ],
      layout: { ...categoryX(baseLayout(theme, { y: `relative Frobenius error (step ${c.step})` })), barmode: 'group' },
    };
  },
};

const curvatureSpectra: FigureDef = {
  id: 'curvature_spectra',
  title: 'Fisher block spectra: exact, KFAC, EKFAC',
  tip: 'Eigenvalues of each layer’s exact Fisher block and of its KFAC (λ_G ⊗ λ_A) and EKFAC (second moments in the Kronecker eigenbasis) approximations.',
  empty: 'Press “Measure curvature” (blocks small enough to decompose).',
  deps: (s) => `${runKey(s)}|${s.selected}`,
  build(s, theme) {
    const r = selectedRun(s);
    const c = r?.curvature;
    if (!c) return null;
    const data: Trace[] = [];
    c.layers.forEach((l, li) => {
      if (!l.spectra) return;
      const kinds: [keyof NonNullable<typeof l.spectra>, string][] = [
        ['exact', 'solid'],
        ['kfac', 'dash'],
        ['ekfac', 'dot'],
      ];
      for (const [k, dash] of kinds) {
        const ev = l.spectra[k];
        data.push({
          type: 'scatter',
          mode: 'lines',
          x: ev.map((_, i) => i + 1),
          y: aboveRoundoff(ev),
          name: `layer ${li + 1}`,
          legendgroup: `l${li}`,
          showlegend: k === 'exact',
          hovertemplate: `layer ${li + 1} ${k}: λ_%{x} = %{y:.3g}<extra></extra>`,
          line: { color: PALETTE[li % PALETTE.length], dash, width: 1.5 },
        });
      }
    });
    if (!data.length) return null;
    return { data, layout: baseLayout(theme, { x: 'index · solid exact, dashed KFAC, dotted EKFAC', y: 'eigenvalue', ylog: true }) };
  },
};

const race: FigureDef = {
  id: 'race',
  title: 'Optimizer race (loss vs engine time)',
  tip: 'Training loss of every run against the engine’s wall-clock seconds: what each optimizer (GD, SGD, momentum, KFAC, EKFAC) buys per second of compute.',
  empty: 'Press Play to train (compare optimizers in “Compare runs”).',
  deps: (s) => runKey(s),
  build(s, theme) {
    if (!hasData(s)) return null;
    const data = compact(s.runs.map((r, i) => line(r, i, 'loss.actual', r.label === 'run' ? 'actual' : r.label, { x: 'wallTime', positive: true })));
    if (!data.length) return null;
    return { data, layout: baseLayout(theme, { x: 'engine seconds', y: 'training loss', ylog: true }) };
  },
};

export const FIGURES: FigureDef[] = [loss, decision, gap, alignment, layerAlignment, spectrum, rank, movement, distance, heatmap, groups, curvatureErr, curvatureSpectra, race];
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
