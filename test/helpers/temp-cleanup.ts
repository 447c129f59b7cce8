import { afterAll } from 'vitest';
import { removeTempDirs } from './env.js';

// Run after every test file (vitest setupFiles): what the helpers made in /tmp goes with it.
afterAll(() => removeTempDirs());
