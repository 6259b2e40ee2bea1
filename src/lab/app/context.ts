/** The store, provided to React components (which only read slices and call actions). */
import { createContext, useContext } from 'react';
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
