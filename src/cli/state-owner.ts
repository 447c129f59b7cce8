import fs from 'node:fs';
import os from 'node:os';
import type { Config } from '../config/types.js';

/**
 * Run as root, a command that writes state (the audit log, queue files, locks, records)
 * would leave files the daemon's user cannot append to or remove: it first becomes the
 * user who owns state_dir, as `npm start` does. Unprivileged callers are left as they are.
 */
export function becomeStateOwner(config: Config): void {
  if (process.geteuid?.() !== 0) return;
  let st: fs.Stats;
  try {
    st = fs.statSync(config.state_dir);
  } catch {
    return; // nothing made yet: whoever runs init owns it
  }
  if (st.uid === 0) return;
  const name = lookupUser(st.uid);
  // initgroups is in Node's POSIX API but not in every @types/node.
  const initgroups = (process as { initgroups?: (user: string, extraGroup: number) => void }).initgroups;
  if (name && initgroups) initgroups(name, st.gid);
  process.setgid!(st.gid);
  process.setuid!(st.uid);
  if (name) Object.assign(process.env, { USER: name, LOGNAME: name, HOME: os.userInfo().homedir });
}

function lookupUser(uid: number): string | null {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[2] === String(uid)) return f[0]!;
    }
  } catch {
    // no passwd file: keep the supplementary groups empty
  }
  return null;
}
