// Every preset in Debian's Chromium (WebGPU through SwiftShader, the backend the lab picks),
// run to its last step and its claim asserted from the exported Metrics CSV. `npm test` runs
// the reduced sizes of preset-runs.ts; TANGENT_FULL_PRESETS=1 runs the presets as a click does
// and writes the time to the last step to test-results/presets.json. Screenshots go to
// test-results/.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { OUT, buildAndServe, download, exportCsv, launch, linkTo, openPage, openSettings, plotsSettled, waitReady, waitStatus, type LabWindow } from './harness';
import { FULL, presetDoc } from './preset-runs';
import { decreasing, increasing, lazyVsHasty, ntkAlignment, optimizerRace, parseMetricsCsv, widerIsLazier, col, run } from './claims';
import { PRESETS } from '../../src/lab/presets';

let server: PreviewServer;
let url: string;
let browser: Browser;
const errors: string[] = [];
const timings: Record<string, unknown> = {};

beforeAll(async () => {
  ({ server, url } = await buildAndServe());
  browser = await launch();
}, 240_000);

afterAll(async () => {
  writeFileSync(resolve(OUT, FULL ? 'presets-full.json' : 'presets.json'), JSON.stringify(timings, null, 1));
  await browser?.close();
  await server?.close();
});

/**
 * Run a preset to its last step: at full size with one click on its button (as a user), else
 * its reduced document through a link and Play. Returns the CSV and the timing.
 */
async function runPreset(id: string): Promise<{ csv: string; page: Page; seconds: number; backend: unknown }> {
  const doc = presetDoc(id);
  const page = await openPage(browser, FULL ? url : linkTo(url, doc), errors);
  await waitReady(page, 120_000);
  const t0 = Date.now();
  if (FULL) await page.click(`[data-testid=preset-${id}]`);
  else await page.click('[data-testid=play]');
  await page.waitForFunction(() => (window as unknown as LabWindow).tangentLab.store.getState().status === 'running', null, { timeout: 120_000 });
  await waitStatus(page, 'done', (FULL ? 600 : 240) * 1000);
  const seconds = (Date.now() - t0) / 1000;
  const backend = await page.evaluate(() => {
    const d = (window as unknown as LabWindow).tangentLab.store.getState().backend.decision;
    return { kind: d.kind, reason: d.reason, rates: d.rates };
  });
  const state = await page.evaluate(() => (window as unknown as LabWindow).tangentLab.store.getState().runs.map((r: { label: string; error: string | null }) => [r.label, r.error]));
  expect(state.filter(([, e]: [string, string | null]) => e !== null), id).toEqual([]);
  const csv = await exportCsv(page);
  writeFileSync(resolve(OUT, `preset-${id}${FULL ? '-full' : ''}.csv`), csv);
  await plotsSettled(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: resolve(OUT, `preset-${id}${FULL ? '-full' : ''}.png`), fullPage: true });
  return { csv, page, seconds, backend };
}

describe(`presets make their point (${FULL ? 'full size' : 'reduced size'}) on the backend the lab picks`, () => {
  it('Lazy vs Hasty: α = 1 ends far below its linearization; α = 100 tracks its own; easy points first at equal loss', async () => {
    const { csv, page, seconds, backend } = await runPreset('lazy-vs-hasty');
    const c = lazyVsHasty(parseMetricsCsv(csv), 0.7);
    timings['lazy-vs-hasty'] = { seconds, backend, claim: c };
    expect(c.hastyFinalRatio).toBeLessThan(0.5);
    // α = 100 stays within 10 % of its linearization over the whole run (6 % at the end of the
    // full 1000 steps), where α = 1 ends hundreds of times below its own
    expect(c.lazyMaxRelGap).toBeLessThan(0.1);
    expect(c.lazyLossDrop).toBeLessThan(0.8);
    // groups [nearest (hard) .. farthest (easy)] at equal mean training loss (0.7 of the start)
    expect(c.hastyActual[3]).toBeLessThan(c.hastyLinearized[3]);
    expect(c.hastyActual[0]).toBeGreaterThan(c.hastyLinearized[0]);
    await page.context().close();
  }, 900_000);

  it('NTK alignment: the clean kernel aligns well above θ₀; random labels align less throughout', async () => {
    const { csv, page, seconds, backend } = await runPreset('ntk-alignment');
    const runs = parseMetricsCsv(csv);
    const c = ntkAlignment(runs);
    timings['ntk-alignment'] = { seconds, backend, claim: c };
    expect(c.cleanFinal).toBeGreaterThan(2 * c.cleanInitial);
    const clean = new Map(col(run(runs, '0 % random labels'), 'align.ntk_centered').map((p) => [p.step, p.v]));
    const noisy = col(run(runs, '50 % random labels'), 'align.ntk_centered').filter((p) => clean.has(p.step));
    expect(noisy.length).toBeGreaterThan(5);
    for (const p of noisy) expect(p.v, `step ${p.step}`).toBeLessThan(clean.get(p.step)!);
    // the per-layer plot is drawn while training (it was empty after a preset switch)
    expect(Number(await page.getAttribute('[data-testid=plot-alignment_layers]', 'data-points'))).toBeGreaterThan(0);
    await page.context().close();
  }, 900_000);

  it('EKFAC vs KFAC: EKFAC is ahead of SGD at equal steps; the card explains KFAC', async () => {
    const { csv, page, seconds, backend } = await runPreset('ekfac-vs-kfac');
    const c = optimizerRace(parseMetricsCsv(csv));
    timings['ekfac-vs-kfac'] = { seconds, backend, claim: c.final };
    expect(c.steps.length).toBeGreaterThan(5);
    c.steps.forEach((t, i) => {
      expect(c.loss.EKFAC[i], `step ${t}`).toBeLessThan(c.loss.SGD[i]);
      expect(c.loss.EKFAC[i], `step ${t}`).toBeLessThan(c.loss.KFAC[i]);
    });
    // the curvature plots, measured at the last step: EKFAC's error is never the larger
    await page.waitForFunction(() => (window as unknown as LabWindow).tangentLab.store.getState().runs.every((r: { curvature: unknown }) => r.curvature !== null), null, { timeout: 120_000 });
    await openSettings(page);
    const json = JSON.parse((await download(page, 'export-json')).text);
    for (const r of json.runs) for (const l of r.curvature.layers) expect(l.frobErrEkfac, `${r.label} layer ${l.index}`).toBeLessThanOrEqual(l.frobErrKfac * (1 + 1e-9));
    for (const id of ['curvature_err', 'curvature_spectra']) {
      await page.locator(`[data-testid=plot-${id}]`).scrollIntoViewIfNeeded();
      await page.waitForFunction((pid) => Number(document.querySelector(`[data-testid=plot-${pid}]`)?.getAttribute('data-points') ?? 0) > 0, id, { timeout: 30_000 });
    }
    const legend = await page.$$eval('[data-testid=plot-curvature_spectra] .legendtext', (ts) => ts.map((t) => t.textContent));
    expect(legend).toEqual(expect.arrayContaining(['exact', 'KFAC', 'EKFAC']));
    await page.screenshot({ path: resolve(OUT, `preset-ekfac-vs-kfac-curvature${FULL ? '-full' : ''}.png`) });
    // (at the reduced size the runs come from a link, not the preset button: no preset note)
    if (FULL) expect(await page.textContent('[data-testid=preset-note] p')).toBe(PRESETS.find((p) => p.id === 'ekfac-vs-kfac')!.blurb);
    await page.context().close();
  }, 900_000);

  it('Wider is lazier: kernel movement, function-space gap and relative parameter movement all shrink with width; the NTK approaches Θ and the loss the infinite-width one', async () => {
    const { csv, page, seconds, backend } = await runPreset('wider-is-lazier');
    const c = widerIsLazier(parseMetricsCsv(csv));
    timings['wider-is-lazier'] = { seconds, backend, claim: c };
    expect(increasing(c.similarity)).toBe(true);
    expect(decreasing(c.gap)).toBe(true);
    expect(decreasing(c.relMovement)).toBe(true);
    // the empirical NTK at θ₀ approaches the analytic Θ with width, roughly as a power of it
    // (measured slope −0.36 over 16 / 256 / 4096, one seed each; 1/√width would be −0.5)
    expect(decreasing(c.distanceInit)).toBe(true);
    expect(c.slopeInit).toBeGreaterThan(-0.75);
    expect(c.slopeInit).toBeLessThan(-0.25);
    // the widest network's training loss ends closer to the infinite-width network's than the narrowest's
    expect(Math.abs(c.finalLoss.at(-1)! - c.infiniteLoss)).toBeLessThan(Math.abs(c.finalLoss[0] - c.infiniteLoss));
    // the figures: the distance against width is drawn, the loss plot has the infinite-width line
    await page.locator('[data-testid=plot-ntk_width]').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=plot-ntk_width]')?.getAttribute('data-points') ?? 0) >= 6, null, { timeout: 30_000 });
    await page.locator('[data-testid=plot-loss]').scrollIntoViewIfNeeded();
    const legend = await page.$$eval('[data-testid=plot-loss] .legendtext', (ts) => ts.map((t) => t.textContent));
    expect(legend).toEqual(expect.arrayContaining(['width 16', 'width 4096', 'infinite width']));
    await page.locator('[data-testid=card-ntk_width]').screenshot({ path: resolve(OUT, `preset-wider-is-lazier-ntk-width${FULL ? '-full' : ''}.png`) });
    await page.context().close();
  }, 900_000);

  it('ran without page errors', () => {
    expect(errors).toEqual([]);
  });
});
