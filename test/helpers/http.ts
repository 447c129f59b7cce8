import net from 'node:net';
import http from 'node:http';

export interface RawResponse {
  status: number;
  head: string;
  body: Buffer;
}

/**
 * Send `target` as the request line's target byte for byte (no client normalises, encodes
 * or refuses it) and read the answer until the server closes. Only the status line is
 * parsed; the rest is kept for the test to search.
 */
export function rawRequest(
  port: number,
  target: string | Buffer,
  method = 'GET',
  timeoutMs = 10_000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer to ${String(target).slice(0, 80)} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => {
      s.write(
        Buffer.concat([
          Buffer.from(`${method} `),
          Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'),
          Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
        ]),
      );
    });
    s.on('data', (c) => chunks.push(c));
    s.on('error', (e) => {
      // A server may reset a connection it refuses; what it sent before counts.
      if (chunks.length === 0) {
        clearTimeout(timer);
        reject(e);
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, end < 0 ? all.length : end).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: end < 0 ? Buffer.alloc(0) : all.subarray(end + 4) });
    });
  });
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A well-formed request through Node's client, with the headers given. */
export function request(
  port: number,
  urlPath: string,
  o: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: o.method ?? 'GET', headers: o.headers, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${urlPath}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}
