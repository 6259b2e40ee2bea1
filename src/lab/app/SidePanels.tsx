/** Comparison runs, and share / export / import. */
import { useEffect, useState } from 'react';
import { COMPARE_PARAMS, UI_OPTIMIZERS, type CompareParam } from '../doc/document';
import { errorMessage } from '../doc/check';
import { encodeDoc } from '../url';
import { parseCompareValues } from '../doc/compare';
import { downloadText, importedRuns, parseImport, runCsv, runExport } from '../export';
import { Panel } from './Panels';
import { Tip } from './Tip';
import { useLab, useLabStore } from './context';

const COMPARE_HELP: Record<CompareParam, string> = {
  alpha: 'e.g. 1, 100 (Lazy vs Hasty)',
  optimizer: `any of ${UI_OPTIMIZERS.join(', ')}`,
  width: 'hidden width (MLP) or filters (CNN), e.g. 16, 64, 256',
  label_noise: 'fractions of random labels, e.g. 0, 0.5',
  lr: 'learning rates, e.g. 0.01, 0.1',
};

export function ComparePanel() {
  const doc = useLab((s) => s.doc);
  const edit = useLab((s) => s.edit);
  const [param, setParam] = useState<CompareParam | 'none'>(doc.compare?.param ?? 'none');
  const [text, setText] = useState(doc.compare ? doc.compare.values.join(', ') : '');
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    setParam(doc.compare?.param ?? 'none');
    setText(doc.compare ? doc.compare.values.join(', ') : '');
  }, [doc.compare]);
  const apply = () => {
    if (param === 'none') {
      setErr(edit({ ...doc, compare: null }));
      return;
    }
    try {
      const values = parseCompareValues(param, text);
      setErr(edit({ ...doc, compare: { param, values } }));
    } catch (e) {
      setErr(errorMessage(e));
    }
  };
  return (
    <Panel title="Compare runs" id="compare">
      <div className="param">
        <div className="param-head">
          <label htmlFor="compare-param">Vary</label>
          <Tip label="Compare runs" text="Train several runs that differ in one parameter side by side (same data, same θ₀ seed): e.g. α = 1 vs 100, or an optimizer race." />
        </div>
        <select id="compare-param" value={param} onChange={(e) => setParam(e.target.value as CompareParam | 'none')}>
          <option value="none">nothing (one run)</option>
          {COMPARE_PARAMS.map((p) => (
            <option key={p} value={p}>
              {p.replace('_', ' ')}
            </option>
          ))}
        </select>
      </div>
      {param !== 'none' ? (
        <div className="param">
          <label htmlFor="compare-values">Values</label>
          <input id="compare-values" type="text" value={text} placeholder={COMPARE_HELP[param]} onChange={(e) => setText(e.target.value)} onKeyDown={(e) => e.key === 'Enter' && apply()} />
          <p className="muted small-text">{COMPARE_HELP[param]}</p>
        </div>
      ) : null}
      <button type="button" onClick={apply} data-testid="compare-apply">
        Apply
      </button>
      {err ? (
        <p className="edit-error" role="alert" data-testid="compare-error">
          Not applied: {err}
        </p>
      ) : null}
    </Panel>
  );
}

/** Request id of the last PyTorch script downloaded (module-level: survives a remount of the panel). */
let downloadedScript = 0;

export function SharePanel() {
  const store = useLabStore();
  const doc = useLab((s) => s.doc);
  const notify = useLab((s) => s.notify);
  const edit = useLab((s) => s.edit);
  const importRuns = useLab((s) => s.importRuns);
  const link = `${location.origin}${location.pathname}${location.search}#${encodeDoc(doc)}`;
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      notify('warning', 'The browser refused clipboard access: select the link and copy it by hand.');
    }
  };
  const exportJson = () => {
    const s = store.getState();
    downloadText(JSON.stringify(runExport(s.doc, s.runs, s.backend.decision?.adapter ?? ""), null, 1), 'tangent-lab-run.json', 'application/json');
  };
  const exportCsv = () => downloadText(runCsv(store.getState().runs), 'tangent-lab-run.csv', 'text/csv');
  const exportSpec = () => downloadText(JSON.stringify(doc, null, 2), 'tangent-lab-spec.json', 'application/json');
  const exportPending = useLab((s) => s.exportPending);
  const pytorchScript = useLab((s) => s.pytorchScript);
  useEffect(() => {
    if (pytorchScript && pytorchScript.requestId > downloadedScript) {
      downloadedScript = pytorchScript.requestId;
      downloadText(pytorchScript.script, pytorchScript.filename, 'text/x-python');
    }
  }, [pytorchScript]);
  const onImport = async (file: File | undefined) => {
    if (!file) return;
    try {
      if (file.size > 16 << 20) throw new Error(`the file is too large (${(file.size / 1048576).toFixed(1)} MiB; at most 16 MiB)`);
      const text = await file.text();
      const imported = parseImport(text);
      const runs = importedRuns(text);
      if (runs && runs.length) {
        // A run file: its curves as they were exported (Play retrains from its spec).
        importRuns(imported, runs);
        notify('info', `Imported ${file.name}: ${runs.length} run${runs.length > 1 ? 's' : ''} with their curves (Play retrains them).`, 'import');
        return;
      }
      const err = edit(imported);
      if (err) throw new Error(err);
      notify('info', `Imported ${file.name}.`, 'import');
    } catch (e) {
      notify('error', `Could not import ${file.name}: ${errorMessage(e)}. The current experiment is kept.`, 'import');
    }
  };
  return (
    <Panel title="Share & export" id="share">
      <div className="param">
        <label htmlFor="share-link">Link to this experiment (full spec, seeded)</label>
        <div className="row">
          <input id="share-link" type="text" readOnly value={link} onFocus={(e) => e.target.select()} data-testid="share-link" />
          <button type="button" onClick={() => void copy()}>
            {copied ? 'Copied' : 'Copy'}
          </button>
        </div>
      </div>
      <div className="row wrap">
        <button type="button" onClick={exportJson} data-testid="export-json">
          Run JSON
        </button>
        <button type="button" onClick={exportCsv} data-testid="export-csv">
          Metrics CSV
        </button>
        <button type="button" onClick={exportSpec} data-testid="export-spec">
          Spec JSON
        </button>
        <button
          type="button"
          onClick={() => store.getState().exportPytorch()}
          disabled={exportPending !== null}
          title="A standalone Python program (torch ≥ 1.13 and numpy) with this run's model, θ₀ and data embedded, computing the headless runner's results: python3 script.py --out result.json [--device cuda]; --scale explains how to grow n and the width."
          data-testid="export-pytorch"
        >
          {exportPending !== null ? 'Exporting…' : 'PyTorch script'}
        </button>
      </div>
      <div className="param">
        <label htmlFor="import-file">Import a spec or run JSON</label>
        <input id="import-file" type="file" accept=".json,application/json" data-testid="import-file" onChange={(e) => void onImport(e.target.files?.[0]).finally(() => (e.target.value = ''))} />
      </div>
    </Panel>
  );
}
