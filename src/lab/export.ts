/**
 * Exports of a run: the whole run as JSON (the document, i.e. the spec, plus every metric
 * series and each session's static facts), the series as CSV, and browser downloads.
 * `runExport` / `parseImport` are pure; the download helpers touch the DOM.
 */
import type { CurvatureReport, SessionInfo } from '../api/session-types';
import { SpecError } from '../experiment/errors';
import { expandRuns } from './doc/compare';
import { parseSpecText } from '../api/validate';
import { checkDoc } from './doc/check';
import type { RunState } from './store';
import { COLUMNS, emptySeries, seriesToCsv, type Column, type Series } from './series';
import { ALIGNMENT_DEFS, type LabDoc } from './doc/document';
import { isObject } from '../util/guards';

export const RUN_FORMAT = 'tangent-lab-run';

/** Session info without its typed arrays (points are the data, which the spec reproduces). */
function plainInfo(info: SessionInfo | null): Omit<SessionInfo, 'points2d'> | null {
  if (!info) return null;
  const { points2d: _drop, ...rest } = info;
  return rest;
}

export function runExport(doc: LabDoc, runs: RunState[], adapter: string): Record<string, unknown> {
  return {
    format: RUN_FORMAT,
    version: 1,
    exported: new Date().toISOString(),
    adapter,
    doc,
    runs: runs.map((r) => ({
      id: r.id,
      label: r.label,
      spec: r.spec,
      info: plainInfo(r.info),
      error: r.error,
      series: Object.fromEntries(COLUMNS.map((c) => [c, r.series.cols[c].slice(0, r.series.length)])),
      perLayerAlignment: r.series.perLayer,
      groupLoss: r.series.groupLoss,
      spectrumInit: r.series.spectrumInit,
      spectrumNow: r.series.spectrumNow,
      curvature: r.curvature,
      theta0Norm: r.facts?.theta0Norm ?? null,
    })),
  };
}

export function runCsv(runs: RunState[]): string {
  return seriesToCsv(runs.map((r) => ({ label: r.label, series: r.series, theta0Norm: r.facts?.theta0Norm ?? null })));
}

const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const arrays = (v: unknown): (number[] | null)[] => (Array.isArray(v) ? v.map((x) => (Array.isArray(x) ? x.map((y) => (typeof y === 'number' ? y : NaN)) : null)) : []);

/** A run's metric series from its exported form (the columns, per-layer alignment, group losses, spectra). */
function seriesFromExport(raw: Record<string, unknown>): Series {
  const s = emptySeries();
  const cols = isObject(raw.series) ? raw.series : {};
  const step = Array.isArray(cols.step) ? cols.step : [];
  const length = step.length;
  for (const c of COLUMNS) {
    const v = (cols as Record<string, unknown>)[c];
    s.cols[c as Column] = Array.from({ length }, (_, i) => numOrNull(Array.isArray(v) ? v[i] : null));
  }
  const per = isObject(raw.perLayerAlignment) ? raw.perLayerAlignment : {};
  for (const a of ALIGNMENT_DEFS) s.perLayer[a] = arrays((per as Record<string, unknown>)[a]).slice(0, length);
  const g = isObject(raw.groupLoss) ? raw.groupLoss : {};
  s.groupLoss = { actual: arrays(g.actual).slice(0, length), linearized: arrays(g.linearized).slice(0, length) };
  const spectrum = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : null);
  return { ...s, version: 1, length, spectrumInit: spectrum(raw.spectrumInit), spectrumNow: spectrum(raw.spectrumNow) };
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const numbers = (v: unknown): number[] | null => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : null);

/**
 * A run's session facts from its exported form, field by field (a hand-edited or truncated file
 * must not reach the figures with the wrong shapes): null when the sizes are missing; a malformed
 * optional part (layers, groups, the infinite-width spectrum) is dropped.
 */
export function infoFromExport(v: unknown): SessionInfo | null {
  if (!isObject(v) || ![v.P, v.n, v.nTest, v.c].every(finite)) return null;
  const list = <T>(x: unknown, ok: (e: Record<string, unknown>) => boolean): T[] => (Array.isArray(x) && x.every((e) => isObject(e) && ok(e)) ? (x as T[]) : []);
  const spectrum = isObject(v.infinite) ? numbers(v.infinite.spectrum) : null;
  const path = v.trainingPath;
  return {
    adapter: typeof v.adapter === 'string' ? v.adapter : '',
    P: v.P as number,
    n: v.n as number,
    nTest: v.nTest as number,
    c: v.c as number,
    layers: list(v.layers, (e) => finite(e.index) && finite(e.paramSize) && typeof e.type === 'string'),
    groups: list(v.groups, (e) => typeof e.name === 'string' && finite(e.size)),
    // JSON has no Infinity: an unbounded rate comes back as null.
    stableLr: finite(v.stableLr) ? v.stableLr : Infinity,
    infinite: spectrum ? { spectrum } : null,
    infiniteReason: typeof v.infiniteReason === 'string' ? v.infiniteReason : null,
    ...(isObject(path) && (path.kind === 'fused' || path.kind === 'general') && typeof path.reason === 'string' ? { trainingPath: { kind: path.kind, reason: path.reason } } : {}),
    points2d: null,
  };
}

/** A run's curvature report from its exported form (null unless every layer has its numbers). */
export function curvatureFromExport(v: unknown): CurvatureReport | null {
  if (!isObject(v) || !finite(v.step) || !Array.isArray(v.layers)) return null;
  const layers: CurvatureReport['layers'] = [];
  for (const l of v.layers) {
    if (!isObject(l) || ![l.index, l.frobExact, l.frobErrKfac, l.frobErrEkfac].every(finite)) return null;
    const sp = l.spectra;
    const spectra = isObject(sp) && numbers(sp.exact) && numbers(sp.kfac) && numbers(sp.ekfac) ? { exact: sp.exact as number[], kfac: sp.kfac as number[], ekfac: sp.ekfac as number[] } : null;
    layers.push({ index: l.index as number, frobExact: l.frobExact as number, frobErrKfac: l.frobErrKfac as number, frobErrEkfac: l.frobErrEkfac as number, spectra });
  }
  return { step: v.step, layers };
}

/**
 * The runs of an exported run file, with their curves (null when the file is a spec or a
 * document). Their specs are the ones the file's document expands to (checked, unlike a run's
 * own copy), so a file whose runs do not match its document is refused.
 */
export function importedRuns(text: string): RunState[] | null {
  const raw = parseSpecText(text, 'file');
  if (!isObject(raw) || raw.format !== RUN_FORMAT || !Array.isArray(raw.runs)) return null;
  const plans = expandRuns(checkDoc(raw.doc));
  const runs = raw.runs.filter(isObject);
  if (runs.length !== plans.length) {
    throw new SpecError('runs', `the ${plans.length} run${plans.length === 1 ? '' : 's'} its document describes`, `${runs.length}`);
  }
  return runs.map((r, i) => ({
    id: plans[i].id,
    label: typeof r.label === 'string' ? r.label : plans[i].label,
    spec: plans[i].spec,
    info: infoFromExport(r.info),
    facts: finite(r.theta0Norm) ? { theta0Norm: r.theta0Norm, samples: null } : null,
    series: seriesFromExport(r),
    curvature: curvatureFromExport(r.curvature),
    error: typeof r.error === 'string' ? r.error : null,
  }));
}

/**
 * An imported file: a lab document, a bare experiment spec, or an exported run (its `doc` is
 * used). Throws a SpecError (or a parse error) with a message for the user.
 */
export function parseImport(text: string): LabDoc {
  const raw = parseSpecText(text, 'file');
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && (raw as Record<string, unknown>).format === RUN_FORMAT) {
    return checkDoc((raw as Record<string, unknown>).doc);
  }
  return checkDoc(raw);
}

export function downloadDataUrl(url: string, filename: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function downloadText(text: string, filename: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  downloadDataUrl(url, filename);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
