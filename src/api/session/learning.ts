/**
 * Per-example learning time (Lazy vs Hasty's third notion of difficulty): the first recorded
 * step from which an example stays learned at every later event (NaN if it is not learned at the
 * last event). "Learned" is correctly classified for classification, and a per-example loss at
 * most half its initial value for regression. Only as fine as the session's `metricsEvery`.
 */
import { correctFlags } from '../../math/training';
import type { Evaluation } from '../../dynamics/backend';

export class LearningTracker {
  private readonly since: Float64Array;
  private initialPerExample: Float64Array | null = null;

  /** `classes`: the training examples' true classes, or null for regression targets. */
  constructor(
    n: number,
    private readonly classes: Int32Array | null,
    private readonly c: number,
  ) {
    this.since = new Float64Array(n).fill(NaN);
  }

  /** Record a model's evaluation on the training set at `step` (events in step order). */
  record(step: number, e: Evaluation): void {
    const learned = this.learned(e);
    for (let i = 0; i < learned.length; i++) {
      if (!learned[i]) this.since[i] = NaN;
      else if (Number.isNaN(this.since[i])) this.since[i] = step;
    }
  }

  private learned(e: Evaluation): Uint8Array {
    if (this.classes) return correctFlags(e.outputs, this.classes, this.c);
    if (!this.initialPerExample) this.initialPerExample = Float64Array.from(e.perExample);
    const out = new Uint8Array(this.since.length);
    for (let i = 0; i < out.length; i++) out[i] = e.perExample[i] <= 0.5 * this.initialPerExample[i] ? 1 : 0;
    return out;
  }

  times(): Float64Array {
    return Float64Array.from(this.since);
  }
}
