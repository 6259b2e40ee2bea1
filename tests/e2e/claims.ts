/**
 * What each preset claims, computed from the lab's exported Metrics CSV (src/lab/series.ts,
 * `seriesToCsv`). Pure functions: the e2e tests assert them on CSVs exported by Chromium, and
 * the sizing script prints them. Group columns follow SessionInfo.groups: boundary groups from the
 * nearest quarter (0, hard) to the farthest (3, easy); label-noise groups clean (0), flipped (1).
 */

export type Row = Record<string, number | null> & { step: number };
export type Runs = Map<string, Row[]>;

/** Parse the Metrics CSV into rows per run label (empty cells are null). */
export function parseMetricsCsv(text: string): Runs {
  const lines = text.trim().split('\n');
  const split = (line: string): string[] => {
    const out: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') {
        out.push(cur);
        cur = '';
      } else cur += ch;
    }
    out.push(cur);
    return out;
  };
  const header = split(lines[0]);
  const runs: Runs = new Map();
  for (const line of lines.slice(1)) {
    const cells = split(line);
    const row = {} as Row;
    header.forEach((h, i) => {
      if (h === 'run') return;
      row[h] = cells[i] === '' || cells[i] === undefined ? null : Number(cells[i]);
    });
    const label = cells[0];
    if (!runs.has(label)) runs.set(label, []);
    runs.get(label)!.push(row);
  }
  return runs;
}

export function run(runs: Runs, label: string): Row[] {
  const r = runs.get(label);
  if (!r) throw new Error(`no run "${label}" in the CSV (runs: ${[...runs.keys()].join(', ')})`);
  return r;
}

/** The values of a column, with their steps (nulls dropped). */
export function col(rows: Row[], name: string): { step: number; v: number }[] {
  return rows.filter((r) => r[name] !== null && r[name] !== undefined).map((r) => ({ step: r.step, v: r[name] as number }));
}

export const first = (rows: Row[], name: string): number => col(rows, name)[0].v;
export const last = (rows: Row[], name: string): number => col(rows, name).at(-1)!.v;

/**
 * Every column `prefix.<g>` at the first event where `meanCol` reaches `level`, interpolated
 * linearly in the mean loss between that event and the one before (as the README's tables).
 */
export function atMeanLoss(rows: Row[], meanCol: string, prefix: string, level: number): number[] | null {
  const groups = Object.keys(rows[0]).filter((k) => k.startsWith(`${prefix}.`)).length;
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1][meanCol];
    const b = rows[i][meanCol];
    if (a === null || b === null || b > level) continue;
    const t = a === b ? 1 : (a - level) / (a - b);
    return Array.from({ length: groups }, (_, g) => {
      const ga = rows[i - 1][`${prefix}.${g}`]!;
      const gb = rows[i][`${prefix}.${g}`]!;
      return ga + t * (gb - ga);
    });
  }
  return null;
}

export interface LazyVsHasty {
  /** alpha = 1: final loss of the network over its linearization's. */
  hastyFinalRatio: number;
  /** alpha = 100: largest |actual - linearized| / linearized training loss over the run. */
  lazyMaxRelGap: number;
  /** alpha = 100: final over initial training loss. */
  lazyLossDrop: number;
  /** The mean training loss at which the groups are compared (alpha = 1). */
  level: number;
  /** Group losses at that level: [nearest (hard) .. farthest (easy)]. */
  hastyActual: number[];
  hastyLinearized: number[];
}

/** Lazy vs Hasty: runs "α = 1" and "α = 100". Groups compared at 0.55 of the initial mean loss. */
export function lazyVsHasty(runs: Runs, fraction = 0.55): LazyVsHasty {
  const h = run(runs, 'α = 1');
  const l = run(runs, 'α = 100');
  const level = fraction * first(h, 'loss.actual');
  const hastyActual = atMeanLoss(h, 'loss.actual', 'groupLoss.actual', level);
  const hastyLinearized = atMeanLoss(h, 'loss.linearized', 'groupLoss.linearized', level);
  if (!hastyActual || !hastyLinearized) throw new Error(`α = 1: a model never reached mean training loss ${level}`);
  const gaps = l.filter((r) => r['loss.actual'] !== null && r['loss.linearized'] !== null).map((r) => Math.abs(r['loss.actual']! - r['loss.linearized']!) / r['loss.linearized']!);
  return {
    hastyFinalRatio: last(h, 'loss.actual') / last(h, 'loss.linearized'),
    lazyMaxRelGap: Math.max(...gaps),
    lazyLossDrop: last(l, 'loss.actual') / first(l, 'loss.actual'),
    level,
    hastyActual,
    hastyLinearized,
  };
}

export interface NtkAlignment {
  cleanInitial: number;
  cleanMax: number;
  cleanFinal: number;
  noisyFinal: number;
  noisyMax: number;
}

/** NTK alignment: runs "0 % random labels" and "50 % random labels" (centered NTK alignment). */
export function ntkAlignment(runs: Runs, clean = '0 % random labels', noisy = '50 % random labels'): NtkAlignment {
  const c = col(run(runs, clean), 'align.ntk_centered');
  const n = col(run(runs, noisy), 'align.ntk_centered');
  return {
    cleanInitial: c[0].v,
    cleanMax: Math.max(...c.map((p) => p.v)),
    cleanFinal: c.at(-1)!.v,
    noisyFinal: n.at(-1)!.v,
    noisyMax: Math.max(...n.map((p) => p.v)),
  };
}

export interface OptimizerRace {
  /** Training loss at each shared event step after 0, per run label. */
  steps: number[];
  loss: Record<string, number[]>;
  final: Record<string, number>;
}

/** EKFAC vs KFAC: the training loss of each run at the steps all runs reached. */
export function optimizerRace(runs: Runs): OptimizerRace {
  const labels = [...runs.keys()];
  const byStep = labels.map((l) => new Map(col(run(runs, l), 'loss.actual').map((p) => [p.step, p.v])));
  const steps = [...byStep[0].keys()].filter((t) => t > 0 && byStep.every((m) => m.has(t)));
  const loss: Record<string, number[]> = {};
  const final: Record<string, number> = {};
  labels.forEach((l, i) => {
    loss[l] = steps.map((t) => byStep[i].get(t)!);
    final[l] = last(run(runs, l), 'loss.actual');
  });
  return { steps, loss, final };
}

export interface WiderIsLazier {
  widths: string[];
  /** Final kernel similarity to init, function-space gap (train) and relative movement ||θ−θ0||/||θ0||, per run in order. */
  similarity: number[];
  gap: number[];
  relMovement: number[];
  /** Relative distance ||K − Θ⊗I||_F / ||Θ⊗I||_F of the empirical NTK from the analytic one, at θ0 and at the last probe. */
  distanceInit: number[];
  distanceLast: number[];
  /** Least-squares slope of log distanceInit against log width (1/√width: −0.5). */
  slopeInit: number;
  /** Training loss at the last event: each run's, and the infinite-width network's (the same in every run). */
  finalLoss: number[];
  infiniteLoss: number;
}

/** Least-squares slope of log y against log x. */
export function logLogSlope(x: number[], y: number[]): number {
  const lx = x.map(Math.log);
  const ly = y.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
  const my = ly.reduce((a, b) => a + b, 0) / ly.length;
  const sxy = lx.reduce((a, v, i) => a + (v - mx) * (ly[i] - my), 0);
  const sxx = lx.reduce((a, v) => a + (v - mx) ** 2, 0);
  return sxy / sxx;
}

/** Wider is lazier: runs "width 16", "width 256", "width 4096" (any widths, in order). */
export function widerIsLazier(runs: Runs): WiderIsLazier {
  const widths = [...runs.keys()];
  const distanceInit = widths.map((w) => first(run(runs, w), 'ntkDistInf'));
  const infinite = widths.map((w) => last(run(runs, w), 'loss.infinite'));
  if (infinite.some((v) => v !== infinite[0])) throw new Error(`the infinite-width network differs between the runs: ${infinite.join(', ')}`);
  return {
    widths,
    similarity: widths.map((w) => last(run(runs, w), 'sim')),
    gap: widths.map((w) => last(run(runs, w), 'gap.train')),
    relMovement: widths.map((w) => last(run(runs, w), 'reldist.actual')),
    distanceInit,
    distanceLast: widths.map((w) => last(run(runs, w), 'ntkDistInf')),
    slopeInit: logLogSlope(widths.map((w) => Number(w.replace(/^width /, ''))), distanceInit),
    finalLoss: widths.map((w) => last(run(runs, w), 'loss.actual')),
    infiniteLoss: infinite[0],
  };
}

export const increasing = (v: number[]) => v.every((x, i) => i === 0 || x > v[i - 1]);
export const decreasing = (v: number[]) => v.every((x, i) => i === 0 || x < v[i - 1]);
