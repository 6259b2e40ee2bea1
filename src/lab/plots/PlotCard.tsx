/**
 * One plot: a titled card with a tooltip, the plotly graph (drawn through the frame-budgeted
 * scheduler, only while visible) and a visible PNG export control (scale 1x-4x).
 */
import { useEffect, useRef, useState } from 'react';
import type { FigureDef } from './figures';
import { baseLayout, figureNumbers } from './figures';
import { scheduler, type PlotJob } from './scheduler';
import { loadPlotly, type PlotlyModule } from './plotly';
import { useLab, useLabStore } from '../app/context';
import { Tip } from '../app/Tip';
import { downloadDataUrl } from '../export';

const PLOT_CONFIG = { displayModeBar: false, responsive: true, displaylogo: false };

/** Axes without data, drawn under the "press Play" message. */
function emptyLayout(theme: 'light' | 'dark'): Record<string, unknown> {
  const l = baseLayout(theme, { legend: false });
  return { ...l, xaxis: { ...(l.xaxis as object), showticklabels: false }, yaxis: { ...(l.yaxis as object), showticklabels: false } };
}

export function PlotCard({ def }: { def: FigureDef }) {
  const store = useLabStore();
  const applies = useLab((s) => (def.applies ? def.applies(s) : true));
  const host = useRef<HTMLDivElement>(null);
  const [empty, setEmpty] = useState(true);
  const [exportOpen, setExportOpen] = useState(false);
  const [scale, setScale] = useState(2);
  const [exportMsg, setExportMsg] = useState<string | null>(null);

  useEffect(() => {
    const el = host.current!;
    let deps = '';
    let alive = true;
    let drawn = false;
    let emptyDrawn = false;
    const applies = () => (def.applies ? def.applies(store.getState()) : true);
    const job: PlotJob = {
      dirty: true,
      visible: false,
      last: 0,
      cost: 0,
      render() {
        const s = store.getState();
        const fig = def.build(s, s.theme);
        const Plotly = scheduler.plotly as PlotlyModule;
        if (!alive) return;
        if (!fig) {
          el.dataset.points = '0';
          setEmpty(true);
          // Keep (or create, while idle) an empty graph, so the first draw during training is an
          // update rather than the creation of the whole plot.
          if (emptyDrawn || (applies() === false && !drawn)) return;
          emptyDrawn = true;
          drawn = true;
          return Plotly.react(el, [], { ...emptyLayout(s.theme), autosize: true } as never, PLOT_CONFIG as never).then(() => undefined);
        }
        emptyDrawn = false;
        setEmpty(false);
        const points = String(figureNumbers(fig).length);
        const t0 = performance.now();
        const done = Plotly.react(el, fig.data as never, { ...fig.layout, autosize: true } as never, PLOT_CONFIG as never).then(() => {
          drawn = true;
          el.dataset.points = points;
          el.dataset.renders = String(Number(el.dataset.renders ?? 0) + 1);
        });
        el.dataset.cost = (performance.now() - t0).toFixed(1);
        return done;
      },
    };
    const check = () => {
      const s = store.getState();
      const d = `${def.deps(s)}|${s.theme}|${applies()}`;
      if (d !== deps) {
        deps = d;
        scheduler.markDirty(job);
      }
    };
    const io = new IntersectionObserver(
      (entries) => {
        job.visible = entries.some((e) => e.isIntersecting);
        if (job.visible) scheduler.kick();
      },
      { rootMargin: '200px' },
    );
    io.observe(el);
    scheduler.add(job);
    check();
    const unsub = store.subscribe(check);
    return () => {
      alive = false;
      unsub();
      io.disconnect();
      scheduler.remove(job);
      if (drawn && scheduler.plotly) (scheduler.plotly as PlotlyModule).purge(el);
    };
  }, [def, store]);

  const exportPng = async () => {
    const el = host.current!;
    if (empty) {
      setExportMsg('Nothing to export yet.');
      return;
    }
    const Plotly = await loadPlotly();
    const width = Math.max(200, Math.round(el.clientWidth));
    const height = Math.max(150, Math.round(el.clientHeight));
    const url = await Plotly.toImage(el, { format: 'png', width, height, scale });
    downloadDataUrl(url, `tangent-lab-${def.id}.png`);
    setExportMsg(`Exported ${width * scale}×${height * scale} px.`);
  };

  return (
    <section className={`card plot-card${def.wide ? ' wide' : ''}${applies ? '' : ' na'}`} aria-labelledby={`plot-${def.id}-title`} data-testid={`card-${def.id}`}>
      <header className="card-head">
        <h3 id={`plot-${def.id}-title`}>{def.title}</h3>
        <Tip text={def.tip} label={def.title} />
        <span className="spacer" />
        <button type="button" className="small" aria-expanded={exportOpen} aria-controls={`export-${def.id}`} onClick={() => setExportOpen((o) => !o)}>
          PNG
        </button>
      </header>
      {exportOpen ? (
        <div className="export-row" id={`export-${def.id}`}>
          <label htmlFor={`scale-${def.id}`}>Scale</label>
          <select id={`scale-${def.id}`} value={scale} onChange={(e) => setScale(Number(e.target.value))}>
            {[1, 2, 3, 4].map((k) => (
              <option key={k} value={k}>
                {k}×
              </option>
            ))}
          </select>
          <button type="button" className="small" data-testid={`export-${def.id}`} onClick={() => void exportPng()}>
            Download PNG
          </button>
          {exportMsg ? <span className="muted">{exportMsg}</span> : null}
        </div>
      ) : null}
      <div className="plot-wrap">
        <div ref={host} className="plot" data-testid={`plot-${def.id}`} role="img" aria-label={def.title} />
        {empty ? <p className="plot-empty">{def.empty}</p> : null}
      </div>
    </section>
  );
}
