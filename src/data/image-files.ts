/**
 * Node-only: the image sets' pixel files from public/datasets, for the runner and the tests
 * (the browser lab fetches the same files). Cached per process.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImageSet, IMAGE_SETS, type ImageSet } from './images';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cache = new Map<string, ImageSet>();

export function loadImageSetFromDisk(name: string): ImageSet {
  let set = cache.get(name);
  if (!set) {
    const meta = IMAGE_SETS[name];
    if (!meta) throw new Error(`unknown image set "${name}"`);
    const path = resolve(root, 'public/datasets', meta.file);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    set = decodeImageSet(name, bytes);
    cache.set(name, set);
  }
  return set;
}
