/**
 * plotly.js (the official prebuilt bundle), loaded on first use so the controls appear before
 * the 4.6 MB bundle is parsed.
 */
export type PlotlyModule = typeof import('plotly.js-dist-min');

let loading: Promise<PlotlyModule> | null = null;

export function loadPlotly(): Promise<PlotlyModule> {
  loading ??= import('plotly.js-dist-min').then((m) => ((m as unknown as { default?: PlotlyModule }).default ?? m) as PlotlyModule);
  return loading;
}
