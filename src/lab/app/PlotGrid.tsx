/** The plots: a toolbar (run selector, alignment definition, curvature request) and every figure. */
import { useEffect } from 'react';
import { FIGURES } from '../plots/figures';
import { PlotCard } from '../plots/PlotCard';
import { scheduler } from '../plots/scheduler';
import { loadPlotly } from '../plots/plotly';
import { PARAM_BY_ID } from '../params';
import { ParamControl } from './ParamControl';
import { useLab } from './context';

export function PlotGrid() {
  const runs = useLab((s) => s.runs.map((r) => r.label).join('\u0000'));
  const selected = useLab((s) => s.selected);
  const select = useLab((s) => s.select);
  const status = useLab((s) => s.status);
  const requestCurvature = useLab((s) => s.requestCurvature);
  const hasRuns = useLab((s) => s.runs.some((r) => r.info !== null));
  const analysisError = useLab((s) => s.analysisError);
  const analysisSeconds = useLab((s) => (s.analysis?.key === s.docKey ? s.analysis.result.seconds : null));
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
  const labels = runs ? runs.split('\u0000') : [];
  return (
    <section className="plots" aria-label="Plots">
      <div className="plot-toolbar">
        {labels.length > 1 ? (
          <div className="param inline">
            <label htmlFor="run-select">Run shown in single-run plots</label>
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
        <button type="button" onClick={requestCurvature} disabled={!hasRuns || status === 'running'} data-testid="measure-curvature" title="Compare each layer's KFAC and EKFAC blocks with the exact Fisher at the current step (pause first)">
          Measure curvature
        </button>
        <span className="muted small-text" data-testid="analysis-status">
          {analysisError ? `Analysis at θ₀ failed: ${analysisError}` : analysisSeconds !== null ? `Kernel at θ₀ computed in ${analysisSeconds.toFixed(2)} s` : 'Computing the kernel at θ₀…'}
        </span>
      </div>
      <div className="plot-grid">
        {FIGURES.map((f) => (
          <PlotCard key={f.id} def={f} />
        ))}
      </div>
    </section>
  );
}
