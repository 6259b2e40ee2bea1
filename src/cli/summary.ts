/**
 * Plain-text summary of a session's events, for the CLI and the README's example results:
 * the loss trajectory of each model, and Lazy vs Hasty's comparison of per-group losses at
 * matched mean training loss.
 */
import type { MetricEvent, SessionInfo } from '../api/session-types';

const f = (x: number | null | undefined, d = 4) => (x === null || x === undefined ? '—' : Number.isFinite(x) ? x.toFixed(d) : String(x));

/**
 * Per-group losses of a model at the moment its mean training loss crossed `level`,
 * interpolated linearly (in the mean loss) between the two events around the crossing, as Lazy
 * vs Hasty compares the regimes at equal mean training loss; with the step of the crossing.
 */
export function groupLossAtLevel(events: MetricEvent[], kind: 'actual' | 'linearized', level: number): { step: number; groups: number[] } | null {
  for (let i = 0; i < events.length; i++) {
    const b = events[i][kind];
    if (!b || b.loss > level || !b.groupLoss) continue;
    const prev = i > 0 ? events[i - 1][kind] : null;
    if (!prev || !prev.groupLoss || prev.loss === b.loss) return { step: events[i].step, groups: b.groupLoss.slice() };
    const w = (prev.loss - level) / (prev.loss - b.loss);
    return {
      step: Math.round(events[i - 1].step + w * (events[i].step - events[i - 1].step)),
      groups: prev.groupLoss.map((g, k) => g + w * (b.groupLoss![k] - g)),
    };
  }
  return null;
}

export function summarizeSession(
  info: SessionInfo,
  events: MetricEvent[],
  learning?: { times: { actual: Float64Array; linearized: Float64Array | null }; groupIndex: Int32Array | null },
): string {
  const lines: string[] = [];
  lines.push(`adapter: ${info.adapter}`);
  lines.push(`P = ${info.P}, n = ${info.n}, n_test = ${info.nTest}, c = ${info.c}, stable GD lr (2n/lambda_max at init) = ${f(info.stableLr)}`);
  lines.push('step | loss actual | loss linearized | loss closed form | test actual | test linearized | gap | ntk sim | ntk align (centered) | eff. rank');
  const pick = events.filter((_, i) => i % Math.max(1, Math.floor(events.length / 12)) === 0 || i === events.length - 1);
  for (const e of pick) {
    lines.push(
      [
        e.step,
        f(e.actual.loss),
        f(e.linearized?.loss),
        f(e.closedForm?.loss),
        f(e.actual.lossTest),
        f(e.linearized?.lossTest),
        f(e.gap?.train),
        f(e.movement?.ntkSimilarityToInit),
        f(e.alignment?.ntk_centered),
        f(e.spectrum?.effectiveRank, 2),
      ].join(' | '),
    );
  }
  if (info.groups.length > 0 && events.length > 0 && events[0].linearized) {
    const start = events[0].actual.loss;
    lines.push('');
    lines.push('per-group training loss at equal mean training loss (actual vs linearized; interpolated between events):');
    lines.push(`mean loss | ${info.groups.map((g) => `${g.name} (n=${g.size})`).join(' | ')}`);
    for (const frac of [0.7, 0.55, 0.4, 0.25]) {
      const level = frac * start;
      const a = groupLossAtLevel(events, 'actual', level);
      const l = groupLossAtLevel(events, 'linearized', level);
      if (!a || !l) continue;
      const cells = info.groups.map((_, g) => `${f(a.groups[g], 3)} vs ${f(l.groups[g], 3)}`);
      lines.push(`= ${f(level, 3)} (steps ${a.step} / ${l.step}) | ${cells.join(' | ')}`);
    }
  }
  if (learning) {
    const { times, groupIndex } = learning;
    const describe = (t: Float64Array, members: (i: number) => boolean) => {
      const v = Array.from(t).filter((_, i) => members(i));
      const learned = v.filter((x) => !Number.isNaN(x));
      const mean = learned.reduce((a, b) => a + b, 0) / Math.max(1, learned.length);
      return `${learned.length}/${v.length} learned, mean step ${learned.length ? mean.toFixed(0) : '—'}`;
    };
    lines.push('');
    lines.push('per-example learning time (first step from which an example stays learned):');
    const rows: [string, (i: number) => boolean][] = [['all', () => true]];
    if (groupIndex) info.groups.forEach((g, k) => rows.push([g.name, (i) => groupIndex[i] === k]));
    for (const [name, members] of rows) {
      lines.push(`${name}: actual ${describe(times.actual, members)}; linearized ${times.linearized ? describe(times.linearized, members) : '—'}`);
    }
  }
  return lines.join('\n');
}
