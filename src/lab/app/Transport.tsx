/** Play / pause / step / reset, the speed control, the step counter and the run status. */
import { useLab } from './context';

const SPEEDS = [1, 2, 5, 10, 20, 50, 100];

const STATUS_TEXT: Record<string, string> = {
  idle: 'ready',
  loading: 'setting up…',
  running: 'running',
  paused: 'paused',
  done: 'done',
  error: 'stopped by an error',
};

export function Transport() {
  const status = useLab((s) => s.status);
  const step = useLab((s) => s.step);
  const total = useLab((s) => s.doc.spec.train?.steps ?? 0);
  const ready = useLab((s) => s.backend.status === 'ready');
  const imported = useLab((s) => s.imported);
  const choosing = useLab((s) => s.backend.choosing);
  const speed = useLab((s) => s.speed);
  const play = useLab((s) => s.play);
  const pause = useLab((s) => s.pause);
  const stepBy = useLab((s) => s.stepBy);
  const reset = useLab((s) => s.reset);
  const setSpeed = useLab((s) => s.setSpeed);
  const playIntent = useLab((s) => s.playIntent);
  const running = status === 'running' || (status === 'loading' && playIntent);

  return (
    <div className="transport" role="group" aria-label="Training controls">
      <div className="transport-buttons">
        {running ? (
          <button type="button" className="primary" data-testid="pause" onClick={pause} disabled={!ready}>
            ❚❚ Pause
          </button>
        ) : (
          <button type="button" className="primary" data-testid="play" onClick={play} disabled={!ready}>
            ▶ {status === 'done' ? 'Replay' : 'Play'}
          </button>
        )}
        <button type="button" data-testid="step" onClick={() => stepBy()} disabled={!ready || running} title="Advance by the speed's number of steps">
          Step
        </button>
        <button type="button" data-testid="reset" onClick={reset} disabled={!ready} title="Recreate the runs at step 0">
          Reset
        </button>
      </div>
      <div className="transport-info">
        <label htmlFor="speed">Steps per tick</label>
        <select id="speed" value={speed} onChange={(e) => setSpeed(Number(e.target.value))}>
          {SPEEDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <span className="status" data-testid="status" data-status={status} aria-live="polite">
          step <strong data-testid="step-count">{step}</strong> / {total} · {imported ? 'imported (Play retrains)' : choosing ? 'choosing the backend…' : STATUS_TEXT[status]}
        </span>
      </div>
    </div>
  );
}
