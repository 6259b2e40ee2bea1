/** The data, model and training panels: the parameter table's controls plus CSV upload and the lr bound. */
import { useState, type ReactNode } from 'react';
import { PARAMS, PARAM_BY_ID } from '../params';
import { CsvError } from '../../data/csv';
import { dataFacts, dataSource } from '../doc/data-facts';
import { errorMessage } from '../doc/check';
import { csvSpec } from '../csv-spec';
import { ParamControl } from './ParamControl';
import { useLab } from './context';

/**
 * A settings panel, open; a click on its title folds it. (On narrow screens all panels sit in
 * one folded "Settings" group, App.tsx.)
 */
export function Panel({ title, children, id }: { title: string; children: ReactNode; id: string }) {
  return (
    <details className="panel" open aria-labelledby={`${id}-title`} data-testid={`panel-${id}`}>
      <summary>
        <h2 id={`${id}-title`}>{title}</h2>
      </summary>
      {children}
    </details>
  );
}

function EditError() {
  const err = useLab((s) => s.editError);
  return err ? (
    <p className="edit-error" role="alert" data-testid="edit-error">
      Not applied: {err}
    </p>
  ) : null;
}

export function DataPanel() {
  const doc = useLab((s) => s.doc);
  const edit = useLab((s) => s.edit);
  const generated = dataSource(doc.spec.data).kind !== 'explicit';
  const facts = dataFacts(doc.spec);
  return (
    <Panel title="Data" id="data">
      {PARAMS.filter((p) => p.panel === 'data').map((p) => (
        <ParamControl key={p.id} def={p} />
      ))}
      {generated ? (
        <button
          type="button"
          data-testid="regenerate"
          onClick={() => edit(PARAM_BY_ID.data_seed.set(doc, Number(PARAM_BY_ID.data_seed.get(doc)) + 1))}
          title="Draw a new dataset (data seed + 1)"
        >
          ⟳ Regenerate
        </button>
      ) : (
        <p className="muted">
          Uploaded data: {facts.n} training and {facts.nTest} test rows, {facts.input[0]} features, {facts.task === 'classification' ? `${facts.classes} classes` : `${facts.classes} target(s)`}.
        </p>
      )}
      <CsvUpload />
    </Panel>
  );
}

function CsvUpload() {
  const doc = useLab((s) => s.doc);
  const edit = useLab((s) => s.edit);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const onFile = async (file: File | undefined) => {
    if (!file) return;
    try {
      if (file.size > 4 << 20) throw new CsvError(`the file is too large (${(file.size / 1048576).toFixed(1)} MiB; at most 4 MiB)`);
      const { spec, notes } = csvSpec(doc, await file.text());
      const err = edit({ ...doc, spec, compare: null });
      setMsg(err ? { ok: false, text: `${file.name}: ${err}` } : { ok: true, text: `${file.name}: ${notes.join('; ')}.` });
    } catch (e) {
      setMsg({ ok: false, text: `${file.name}: ${errorMessage(e)}` });
    }
  };
  return (
    <div className="csv-upload">
      <label htmlFor="csv-file">Upload CSV</label>
      <input id="csv-file" type="file" accept=".csv,text/csv,text/plain" data-testid="csv-file" aria-describedby="csv-help" onChange={(e) => void onFile(e.target.files?.[0]).finally(() => (e.target.value = ''))} />
      <p id="csv-help" className="muted small-text">
        Header row; a <code>label</code> column (classes 0..k−1) or <code>target</code> columns; optional <code>split</code> (train/test); other columns are features.
      </p>
      {msg ? (
        <p className={msg.ok ? 'ok' : 'edit-error'} role={msg.ok ? 'status' : 'alert'} data-testid="csv-message">
          {msg.text}
        </p>
      ) : null}
    </div>
  );
}

export function ModelPanel() {
  const P = useLab((s) => (s.analysis?.key === s.runKey ? s.analysis.result.P : s.loadedKey === s.runKey ? (s.runs[0]?.info?.P ?? null) : null));
  return (
    <Panel title="Model" id="model">
      {PARAMS.filter((p) => p.panel === 'model').map((p) => (
        <ParamControl key={p.id} def={p} />
      ))}
      <ModelSummary P={P} />
    </Panel>
  );
}

function ModelSummary({ P }: { P: number | null }) {
  const layers = useLab((s) => s.doc.spec.model.layers);
  const input = useLab((s) => s.doc.spec.model.input);
  const text = layers
    .map((l) => (l.type === 'dense' ? `dense ${l.units}${l.activation !== 'linear' ? ` ${l.activation}` : ''}` : l.type === 'conv2d' ? `conv ${l.filters}×${l.kernel}²` : l.type === 'avgpool2d' ? `pool ${l.size}` : 'flatten'))
    .join(' → ');
  return (
    <p className="muted small-text" data-testid="model-summary">
      [{input.join('×')}] → {text}
      {P !== null ? ` · P = ${P.toLocaleString('en')} parameters` : ''}
    </p>
  );
}

/** The GD stability bound 2n/λmax next to the learning rate (from the session, else the analysis at θ₀). */
function LrBound() {
  const lr = useLab((s) => s.doc.spec.train?.lr ?? 0);
  const fromRun = useLab((s) => (s.loadedKey === s.runKey ? (s.runs[0]?.info?.stableLr ?? null) : null));
  const fromAnalysis = useLab((s) => (s.analysis?.key === s.runKey ? s.analysis.result.stableLr : null));
  const optimizer = useLab((s) => s.doc.spec.train?.optimizer ?? 'gd');
  const analysed = useLab((s) => s.analysis?.key === s.runKey || s.analysisError !== null);
  const bound = fromRun !== null && Number.isFinite(fromRun) ? fromRun : fromAnalysis;
  if (bound === null || !Number.isFinite(bound)) {
    return <p className="muted small-text">Stability bound 2n/λₘₐₓ: {analysed ? 'shown once the runs are set up (the kernel is too large to decompose here)' : 'computing…'}</p>;
  }
  const min = 1e-4;
  const max = 100;
  const pct = (100 * (Math.log(Math.min(max, Math.max(min, bound))) - Math.log(min))) / (Math.log(max) - Math.log(min));
  const over = lr > bound && (optimizer === 'gd' || optimizer === 'sgd');
  return (
    <div className="lr-bound" data-testid="lr-bound">
      <div className="lr-scale" aria-hidden="true">
        <span className="lr-mark" style={{ left: `${pct}%` }} />
      </div>
      <p className={over ? 'warn small-text' : 'muted small-text'}>
        Stable below 2n/λₘₐₓ ≈ <strong>{bound.toPrecision(3)}</strong>
        {over ? ' — η is above it: the linearized model diverges under GD.' : ''}
      </p>
    </div>
  );
}

export function TrainPanel() {
  return (
    <Panel title="Training" id="train">
      {PARAMS.filter((p) => p.panel === 'train').map((p) =>
        p.id === 'lr' ? (
          <ParamControl key={p.id} def={p}>
            <LrBound />
          </ParamControl>
        ) : (
          <ParamControl key={p.id} def={p} />
        ),
      )}
      <EditError />
    </Panel>
  );
}
