/**
 * The plots column: the preset's note, the headline numbers of every run, a toolbar (run
 * selector, alignment definition, curvature request), the training images (image data), and
 * every figure (those that apply to the experiment first).
 */
import { useEffect, useMemo, useRef } from 'react';
import { FIGURES } from '../plots/figures';
import { PlotCard } from '../plots/PlotCard';
import { scheduler } from '../plots/scheduler';
import { loadPlotly } from '../plots/plotly';
import { PARAM_BY_ID } from '../params';
import { PRESETS } from '../presets';
import { runKeyOf, type LabState, type RunState } from '../store';
import { MODELS, lastStep, type Series } from '../series';
import { dataSource } from '../doc/data-facts';
import { ParamControl } from './ParamControl';
import { useLab, useNarrow } from './context';

function PresetNote() {
  const preset = useLab((s) => (s.preset ? (PRESETS.find((p) => p.id === s.preset) ?? null) : null));
  const changed = useLab((s) => (s.preset ? runKeyOf(PRESETS.find((p) => p.id === s.preset)!.doc) !== s.runKey : false));
  const narrow = useNarrow();
  if (!preset) return null;
  return (
    <details key={narrow ? 'n' : 'w'} className="preset-note" open={!narrow} data-testid="preset-note">
      <summary>
        <strong>{preset.title}</strong>
        {changed ? <span className="muted"> (settings changed since)</span> : null}
        {narrow ? <span className="muted"> · what it shows</span> : null}
      </summary>
      <p>{preset.blurb}</p>
    </details>
  );
}

const fmtLoss = (v: number | null) => (v === null ? '–' : v >= 0.01 && v < 1000 ? v.toPrecision(3) : v.toExponential(2));
const fmtAcc = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)} %`);

function lastOf(s: Series, c: keyof Series['cols']): number | null {
  const col = s.cols[c];
  for (let i = s.length - 1; i >= 0; i--) if (col[i] !== null) return col[i];
  return null;
}

/** Train / test loss and accuracy of each model of each run, at its latest event. */
export function Headline() {
  const runs = useLab((s) => s.runs);
  const models = useMemo(() => MODELS.filter((m) => m.acc !== null && runs.some((r) => r.series.cols[m.loss].some((v) => v !== null))), [runs]);
  if (!runs.some((r) => r.series.length > 0)) return null;
  return (
    <div className="headline" data-testid="headline">
      <table>
        <caption className="muted">training loss (test) · accuracy (test), latest step</caption>
        <thead>
          <tr>
            <th scope="col">{runs.length > 1 ? 'run' : 'step'}</th>
            {models.map((m) => (
              <th key={m.id} scope="col">
                {m.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {runs.map((r: RunState) => (
            <tr key={r.id} data-testid={`headline-${r.id}`}>
              <th scope="row">
                {runs.length > 1 ? <span className="run-label">{r.label} </span> : null}
                <span className="muted">{runs.length > 1 ? `step ${lastStep(r.series)}` : lastStep(r.series)}</span>
                {r.error ? <span className="warn"> · stopped</span> : null}
              </th>
              {models.map((m) => {
                const acc = m.acc ? lastOf(r.series, m.acc) : null;
                const accT = m.accTest ? lastOf(r.series, m.accTest) : null;
                return (
                  <td key={m.id}>
                    <span className="num">{fmtLoss(lastOf(r.series, m.loss))}</span>
                    <span className="muted"> ({fmtLoss(lastOf(r.series, m.lossTest))})</span>
                    {acc !== null ? (
                      <>
                        {' · '}
                        <span className="num">{fmtAcc(acc)}</span>
                        <span className="muted"> ({fmtAcc(accT)})</span>
                      </>
                    ) : null}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SampleCanvas({ pixels, shape }: { pixels: Float32Array; shape: [number, number, number] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    const [, H, W] = shape;
    const img = ctx.createImageData(W, H);
    for (let i = 0; i < H * W; i++) {
      const v = Math.round(255 * (1 - Math.min(1, Math.max(0, pixels[i]))));
      img.data.set([v, v, v, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
  }, [pixels, shape]);
  return <canvas ref={ref} width={shape[2]} height={shape[1]} />;
}

/** The training images of an image data set (before and during training). */
function SamplesCard() {
  const samples = useLab((s) => s.runs[0]?.facts?.samples ?? null);
  const isImage = useLab((s) => dataSource(s.doc.spec.data).kind === 'image');
  const loading = useLab((s) => s.status === 'loading' || s.status === 'idle');
  if (!isImage) return null;
  return (
    <section className="card plot-card wide" aria-labelledby="samples-title" data-testid="card-samples">
      <header className="card-head">
        <h3 id="samples-title">Training images</h3>
      </header>
      {samples ? (
        <div className="samples" data-testid="samples">
          {samples.images.map((px, i) => (
            <figure key={i}>
              <SampleCanvas pixels={px} shape={samples.shape} />
              <figcaption>{samples.classNames[samples.labels[i]] ?? samples.labels[i]}</figcaption>
            </figure>
          ))}
        </div>
      ) : (
        <p className="muted">{loading ? 'Loading the images…' : 'No images.'}</p>
      )}
    </section>
  );
}

function Toolbar() {
  const runs = useLab((s) => s.runs.map((r) => r.label).join('\u0000'));
  const selected = useLab((s) => s.selected);
  const select = useLab((s) => s.select);
  const status = useLab((s) => s.status);
  const imported = useLab((s) => s.imported);
  const requestCurvature = useLab((s) => s.requestCurvature);
  const hasRuns = useLab((s) => s.runs.some((r) => r.info !== null));
  const analysisError = useLab((s) => s.analysisError);
  const tooLarge = useLab((s) => s.analysisTooLarge);
  const analysisSeconds = useLab((s) => (s.analysis?.key === s.runKey ? s.analysis.result.seconds : null));
  const labels = runs ? runs.split('\u0000') : [];
  const kernel = tooLarge
    ? 'Kernel at θ₀: on the runs’ probe examples (the full kernel is too large for this engine)'
    : analysisError
      ? `Kernel at θ₀ could not be computed: ${analysisError}`
      : analysisSeconds !== null
        ? `Kernel at θ₀ computed in ${analysisSeconds.toFixed(2)} s`
        : 'Computing the kernel at θ₀…';
  return (
    <div className="plot-toolbar">
      {labels.length > 1 ? (
        <div className="param inline">
          <label htmlFor="run-select">Run in single-run plots</label>
          <select id="run-select" value={selected} onChange={(e) => select(Number(e.target.value))}>
            {labels.map((l, i) => (
              <option key={i} value={i}>
                {l}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <ParamControl def={PARAM_BY_ID.alignment_def} />
      <button
        type="button"
        onClick={requestCurvature}
        disabled={!hasRuns || imported || status === 'running' || status === 'loading'}
        data-testid="measure-curvature"
        title="Compare each layer's KFAC and EKFAC blocks with the exact Fisher at the current step (pause first)"
      >
        Measure curvature
      </button>
      <span className="muted small-text" data-testid="analysis-status" title={analysisError ?? undefined}>
        {kernel}
      </span>
    </div>
  );
}

/** Figures that apply to the experiment first (a card that does not apply shrinks to its message). */
function useFigureOrder(): typeof FIGURES {
  const key = useLab((s) => FIGURES.map((f) => (f.applies ? (f.applies(s) ? 1 : 0) : 1)).join(''));
  return useMemo(() => {
    const on = key.split('').map(Number);
    return [...FIGURES.filter((_, i) => on[i]), ...FIGURES.filter((_, i) => !on[i])];
  }, [key]);
}

export function PlotGrid() {
  const status = useLab((s: LabState) => s.status);
  const figures = useFigureOrder();
  useEffect(() => {
    void loadPlotly().then((P) => {
      scheduler.plotly = P;
      scheduler.kick();
    });
  }, []);
  useEffect(() => {
    scheduler.training = status === 'running';
    scheduler.kick();
  }, [status]);
  return (
    <section className="plots" aria-label="Plots">
      <PresetNote />
      <Headline />
      <Toolbar />
      <div className="plot-grid">
        <SamplesCard />
        {figures.map((f) => (
          <PlotCard key={f.id} def={f} />
        ))}
      </div>
    </section>
  );
}
