/** The store, provided to React components (which only read slices and call actions). */
import { createContext, useContext, useEffect, useState } from 'react';
import { useStore } from 'zustand';
import type { LabActions, LabState, LabStore } from '../store';

export const LabContext = createContext<LabStore | null>(null);

export function useLabStore(): LabStore {
  const s = useContext(LabContext);
  if (!s) throw new Error('LabContext missing');
  return s;
}

/** Subscribe to a slice of the lab state (select primitives or stable references). */
export function useLab<T>(selector: (s: LabState & LabActions) => T): T {
  return useStore(useLabStore(), selector);
}

/** The width below which the lab uses its narrow layout (panels collapsed, panels stacked). */
export const NARROW_QUERY = '(max-width: 480px)';

/** Whether the viewport is narrow (a phone): follows resizes and rotations. */
export function useNarrow(): boolean {
  const query = typeof matchMedia === 'function' ? matchMedia(NARROW_QUERY) : null;
  const [narrow, setNarrow] = useState(query?.matches ?? false);
  useEffect(() => {
    if (!query) return;
    const on = () => setNarrow(query.matches);
    on();
    query.addEventListener('change', on);
    return () => query.removeEventListener('change', on);
  }, [query?.media]);
  return narrow;
}
