/**
 * Exports of a run: the whole run as JSON (the document, i.e. the spec, plus every metric
 * series and each session's static facts), the series as CSV, and browser downloads.
 * `runExport` / `parseImport` are pure; the download helpers touch the DOM.
 */
import type { SessionInfo } from '../api/session-types';
import { parseSpecText } from '../api/validate';
import { checkDoc } from './doc/check';
import { type LabDoc } from './doc/document';
import type { RunState } from './store';
import { COLUMNS, seriesToCsv } from './series';

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
    })),
  };
}

export function runCsv(runs: RunState[]): string {
  return seriesToCsv(runs.map((r) => ({ label: r.label, series: r.series })));
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
