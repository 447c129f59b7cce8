import os from 'node:os';

/** The local CLI is the trusted path: the principal is the Unix user running it, made to fit the principal grammar. */
export function localPrincipal(): string {
  const name = os
    .userInfo()
    .username.toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '_');
  return /^[a-z_]/.test(name) ? name.slice(0, 32) : `_${name}`.slice(0, 32);
}
