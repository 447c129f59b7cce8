import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout or install this program runs from (dist/cli/ → ../..). */
export const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
