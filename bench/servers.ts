/**
 * What the benchmarks that measure a server against nginx share: free ports, children run as
 * the test user and reaped, and an nginx configuration that writes nowhere but its directory.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { asTestUser, runAs, testUserEnv } from '../test/helpers/env.js';

export const NGINX = '/usr/sbin/nginx';

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, child: ChildProcess, log: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`server exited at start:\n${fs.readFileSync(log, 'utf8')}`);
    const up = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port }, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}:\n${fs.readFileSync(log, 'utf8')}`);
}

/** A long-running child as the test user, its output in `log`; stopped (and reaped) by the returned function. */
export function startChild(argv: string[], log: string): { child: ChildProcess; stop: () => Promise<void> } {
  const full = asTestUser(argv);
  const out = fs.openSync(log, 'a');
  const child = spawn(full[0]!, full.slice(1), { env: testUserEnv(), stdio: ['ignore', out, out] });
  fs.closeSync(out);
  // Bounded even if this process dies before stopping it.
  const limit = setTimeout(() => child.kill('SIGKILL'), 60 * 60_000);
  limit.unref();
  return {
    child,
    stop: async () => {
      clearTimeout(limit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await gone;
      }
    },
  };
}

/** nginx on 127.0.0.1:PORT with these `location` blocks (e.g. `location /apt/ { alias DIR/; }`). */
export function nginxConfig(dir: string, port: number, locations: string[]): string {
  const conf = path.join(dir, 'nginx.conf');
  // nginx runs as the test user and writes nowhere else.
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) runAs(['mkdir', path.join(dir, d)]);
  fs.writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      '  sendfile on;',
      '  tcp_nopush on;',
      '  default_type application/octet-stream;',
      `  client_body_temp_path ${dir}/client_body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi;`,
      `  scgi_temp_path ${dir}/scgi;`,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      ...locations.map((l) => `    ${l}`),
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return conf;
}
