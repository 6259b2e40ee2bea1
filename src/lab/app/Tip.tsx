/**
 * A keyboard-reachable "?" that explains one quantity in one sentence (with its formula).
 * The text is also the button's accessible description.
 */
import { useId } from 'react';

export function Tip({ text, label, id: given }: { text: string; label: string; id?: string }) {
  const auto = useId();
  const id = given ?? auto;
  return (
    <span className="tip">
      <button type="button" className="tip-btn" aria-label={`About ${label}`} aria-describedby={id}>
        ?
      </button>
      <span role="tooltip" id={id} className="tip-text">
        {text}
      </span>
    </span>
  );
}
