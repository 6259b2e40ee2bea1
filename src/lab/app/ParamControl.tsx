/**
 * One control from the declarative parameter table (params.ts): a labelled slider (linear or
 * logarithmic, with an exact-value box), a select, a number box or a toggle. Every change goes
 * through `store.edit`, which validates the whole document and keeps the previous one if the
 * edit is rejected.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { bound, type ParamDef } from '../params';
import { useLab } from './context';
import { Tip } from './Tip';

/** Positions of a logarithmic slider (an arrow key moves one: 0.5 % of the log range). */
const LOG_STEPS = 200;

function toPos(v: number, min: number, max: number): number {
  const t = (Math.log(Math.max(v, min)) - Math.log(min)) / (Math.log(max) - Math.log(min));
  return Math.round(Math.min(1, Math.max(0, t)) * LOG_STEPS);
}
function fromPos(p: number, min: number, max: number): number {
  return Math.exp(Math.log(min) + (p / LOG_STEPS) * (Math.log(max) - Math.log(min)));
}

export function ParamControl({ def, children }: { def: ParamDef; children?: ReactNode }) {
  const doc = useLab((s) => s.doc);
  const edit = useLab((s) => s.edit);
  const visible = def.visible ? def.visible(doc) : true;
  const value = def.get(doc);
  const id = `param-${def.id}`;
  const tipId = `${id}-tip`;
  const [text, setText] = useState(String(value));
  useEffect(() => setText(String(value)), [value]);
  if (!visible) return null;
  const apply = (v: number | string | boolean) => edit(def.set(doc, v));
  const min = bound(def.min, doc, 0);
  const max = bound(def.max, doc, 1);
  const shown = typeof value === 'number' && def.format ? def.format(value, doc) : String(value);

  let control: ReactNode;
  if (def.control === 'select') {
    const options = def.options ? def.options(doc) : [];
    control = (
      <select id={id} value={String(value)} onChange={(e) => apply(e.target.value)} aria-describedby={tipId}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    );
  } else if (def.control === 'toggle') {
    control = <input id={id} type="checkbox" aria-describedby={tipId} checked={Boolean(value)} onChange={(e) => apply(e.target.checked)} />;
  } else if (def.control === 'number') {
    control = (
      <input
        id={id}
        aria-describedby={tipId}
        type="number"
        min={min}
        max={max}
        step={def.step ?? 1}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => Number.isFinite(Number(text)) && text !== '' && apply(Number(text))}
        onKeyDown={(e) => e.key === 'Enter' && Number.isFinite(Number(text)) && text !== '' && apply(Number(text))}
      />
    );
  } else if (def.control === 'log') {
    const v = Number(value);
    control = (
      <span className="log-control">
        <input
          id={id}
          aria-describedby={tipId}
          type="range"
          min={0}
          max={LOG_STEPS}
          step={1}
          value={toPos(v, min, max)}
          aria-valuetext={shown}
          onChange={(e) => {
            const pos = Number(e.target.value);
            let next = fromPos(pos, min, max);
            // Integer parameters: a position change always moves the value by at least one unit,
            // so arrow keys never get stuck on a rounded value.
            if ((def.step ?? 0) >= 1) {
              next = Math.round(next);
              const cur = toPos(v, min, max);
              if (next === v && pos !== cur) next = Math.min(max, Math.max(min, v + Math.sign(pos - cur)));
            }
            apply(next);
          }}
        />
        <input
          className="exact"
          type="text"
          inputMode="decimal"
          aria-label={`${def.label} (exact value)`}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onBlur={() => Number.isFinite(Number(text)) && text.trim() !== '' && apply(Number(text))}
          onKeyDown={(e) => e.key === 'Enter' && Number.isFinite(Number(text)) && text.trim() !== '' && apply(Number(text))}
        />
      </span>
    );
  } else {
    control = (
      <input
        id={id}
        aria-describedby={tipId}
        type="range"
        min={min}
        max={max}
        step={def.step ?? 1}
        value={Number(value)}
        aria-valuetext={shown}
        onChange={(e) => apply(Number(e.target.value))}
      />
    );
  }

  if (def.control === 'toggle') {
    return (
      <div className="param toggle" data-param={def.id}>
        {control}
        <label htmlFor={id}>{def.label}</label>
        <Tip text={def.tip} label={def.label} id={tipId} />
      </div>
    );
  }
  return (
    <div className="param" data-param={def.id}>
      <div className="param-head">
        <label htmlFor={id}>{def.label}</label>
        <Tip text={def.tip} label={def.label} id={tipId} />
        {def.control === 'range' || def.control === 'log' ? (
          <output htmlFor={id} className="param-value">
            {shown}
          </output>
        ) : null}
      </div>
      {control}
      {children}
    </div>
  );
}
