/**
 * One plot: a titled card with a tooltip, the plotly graph (drawn through the frame-budgeted
 * scheduler, only while visible), a message while there is nothing to draw, and an export
 * control (PNG at 1x-4x, or SVG) whose image carries the plot's title.
 */
import { useEffect, useRef, useState } from 'react';
import type { FigureDef } from './figures';
import { baseLayout, figureNumbers } from './figures';
import { scheduler, type PlotJob } from './scheduler';
import { loadPlotly, type PlotlyModule } from './plotly';
import { useLab, useLabStore, useNarrow } from '../app/context';
import { Tip } from '../app/Tip';
import { downloadDataUrl } from '../export';

const PLOT_CONFIG = { displayModeBar: false, responsive: true, displaylogo: false };

/** Axes without data, drawn under the empty message. */
function emptyLayout(theme: 'light' | 'dark'): Record<string, unknown> {
  const l = baseLayout(theme, { legend: false });
  return { ...l, xaxis: { ...(l.xaxis as object), showticklabels: false }, yaxis: { ...(l.yaxis as object), showticklabels: false } };
}

/** Extra top margin (px) that makes room for the title in an exported image. */
export const EXPORT_TITLE_MARGIN = 30;

/**
 * The figure as exported: the graph's own data and layout, with the plot's title (and the
 * experiment's name) written above it, since an image leaves the page that titled it.
 */
export function exportFigure(gd: { data: unknown[]; layout: Record<string, unknown> }, title: string, subtitle: string | null): { data: unknown[]; layout: Record<string, unknown> } {
  const layout = gd.layout;
  const margin = (layout.margin as Record<string, number> | undefined) ?? { l: 56, r: 12, t: 34, b: 40 };
  const text = subtitle ? `<b>${title}</b> <span style="font-size:10px">· ${subtitle}</span>` : `<b>${title}</b>`;
  return {
    data: gd.data,
    layout: {
      ...layout,
      margin: { ...margin, t: (margin.t ?? 34) + EXPORT_TITLE_MARGIN },
      title: { text, x: 0.01, xanchor: 'left', y: 0.99, yanchor: 'top', yref: 'container', font: { size: 14 } },
    },
  };
}

export function PlotCard({ def }: { def: FigureDef }) {
  const store = useLabStore();
  const applies = useLab((s) => (def.applies ? def.applies(s) : true));
  const emptyText = useLab((s) => def.empty(s));
  const note = useLab((s) => (def.note ? def.note(s) : null));
  const narrow = useNarrow();
  const host = useRef<HTMLDivElement>(null);
  const [empty, setEmpty] = useState(true);
  const [height, setHeight] = useState<number | null>(null);
  const [exportOpen, setExportOpen] = useState(false);
  const [scale, setScale] = useState(2);
  const [format, setFormat] = useState<'png' | 'svg'>('png');
  const [exportMsg, setExportMsg] = useState<string | null>(null);

  useEffect(() => {
    const el = host.current!;
    let deps = '';
    let alive = true;
    let drawn = false;
    /** Theme of the empty graph drawn (null: none), so a theme switch redraws it. */
    let emptyDrawn: string | null = null;
    const applies = () => (def.applies ? def.applies(store.getState()) : true);
    const job: PlotJob = {
      dirty: true,
      visible: false,
      last: 0,
      cost: 0,
      render() {
        const s = store.getState();
        const fig = def.build(s, s.theme, { narrow });
        const Plotly = scheduler.plotly as PlotlyModule;
        if (!alive) return;
        if (!fig) {
          el.dataset.points = '0';
          setEmpty(true);
          setHeight(null);
          // Keep (or create, while idle) an empty graph, so the first draw during training is an
          // update rather than the creation of the whole plot.
          if (emptyDrawn === s.theme || (applies() === false && !drawn)) return;
          emptyDrawn = s.theme;
          drawn = true;
          return Plotly.react(el, [], { ...emptyLayout(s.theme), autosize: true } as never, PLOT_CONFIG as never).then(() => undefined);
        }
        emptyDrawn = null;
        setEmpty(false);
        setHeight(fig.height ?? null);
        if (fig.height) el.style.height = `${fig.height}px`;
        else el.style.height = '';
        const points = String(figureNumbers(fig).length);
        const t0 = performance.now();
        const done = Plotly.react(el, fig.data as never, { ...fig.layout, autosize: true } as never, PLOT_CONFIG as never).then(() => {
          drawn = true;
          el.dataset.points = points;
          el.dataset.renders = String(Number(el.dataset.renders ?? 0) + 1);
        });
        const cost = performance.now() - t0;
        el.dataset.cost = cost.toFixed(1);
        // The costliest synchronous draw so far: the responsiveness test bounds a blocked frame by it.
        el.dataset.costMax = Math.max(cost, Number(el.dataset.costMax ?? 0)).toFixed(1);
        return done;
      },
    };
    const check = () => {
      const s = store.getState();
      const d = `${def.deps(s)}|${s.theme}|${applies()}|${narrow}`;
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
  }, [def, store, narrow]);

  const exportImage = async () => {
    const el = host.current as (HTMLDivElement & { data?: unknown[]; layout?: Record<string, unknown> }) | null;
    if (!el || empty || !el.data || !el.layout) {
      setExportMsg('Nothing to export yet.');
      return;
    }
    const Plotly = await loadPlotly();
    const width = Math.max(200, Math.round(el.clientWidth));
    const h = Math.max(150, Math.round(el.clientHeight));
    const fig = exportFigure({ data: el.data, layout: el.layout }, def.title, store.getState().doc.spec.name ?? null);
    const url = await Plotly.toImage(fig as never, { format, width, height: h, scale: format === 'png' ? scale : 1 });
    downloadDataUrl(url, `tangent-lab-${def.id}.${format}`);
    setExportMsg(format === 'png' ? `Exported ${width * scale}×${h * scale} px.` : `Exported ${width}×${h} SVG.`);
  };

  return (
    <section className={`card plot-card${def.wide ? ' wide' : ''}${applies ? '' : ' na'}`} aria-labelledby={`plot-${def.id}-title`} data-testid={`card-${def.id}`}>
      <header className="card-head">
        <h3 id={`plot-${def.id}-title`}>{def.title}</h3>
        <Tip text={def.tip} label={def.title} />
        <span className="spacer" />
        <button type="button" className="small" aria-expanded={exportOpen} aria-controls={`export-${def.id}`} onClick={() => setExportOpen((o) => !o)}>
          Export
        </button>
      </header>
      {exportOpen ? (
        <div className="export-row" id={`export-${def.id}`}>
          <label htmlFor={`format-${def.id}`}>Format</label>
          <select id={`format-${def.id}`} value={format} onChange={(e) => setFormat(e.target.value as 'png' | 'svg')}>
            <option value="png">PNG</option>
            <option value="svg">SVG</option>
          </select>
          {format === 'png' ? (
            <>
              <label htmlFor={`scale-${def.id}`}>Scale</label>
              <select id={`scale-${def.id}`} value={scale} onChange={(e) => setScale(Number(e.target.value))}>
                {[1, 2, 3, 4].map((k) => (
                  <option key={k} value={k}>
                    {k}×
                  </option>
                ))}
              </select>
            </>
          ) : null}
          <button type="button" className="small" data-testid={`export-${def.id}`} onClick={() => void exportImage()}>
            Download
          </button>
          {exportMsg ? <span className="muted">{exportMsg}</span> : null}
        </div>
      ) : null}
      <div className="plot-wrap">
        <div ref={host} className="plot" data-testid={`plot-${def.id}`} role="img" aria-label={def.title} style={height ? { height } : undefined} />
        {empty ? (
          <p className="plot-empty" data-testid={`empty-${def.id}`}>
            {emptyText}
          </p>
        ) : null}
      </div>
      {note && !empty ? (
        <p className="plot-note muted small-text" data-testid={`note-${def.id}`}>
          {note}
        </p>
      ) : null}
    </section>
  );
}
