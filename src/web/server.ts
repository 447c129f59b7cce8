import { STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { PocketbuildError, errorLine } from '../util/errors.js';
import { registerAptRoutes } from './apt-routes.js';
import { badQueryStatus, registerSiteRoutes } from './site-routes.js';
import type { Config } from '../config/types.js';

export interface WebServerOptions {
  /** The published APT repository, `<state_dir>/apt`. */
  repoDir: string;
  /** With a configuration, the status site and its JSON API too; without, the repository only. */
  config?: Config;
  listen: string;
  /** 0: any free port. */
  port: number;
  /** Server-side problems (5xx), one line each. */
  log: (line: string) => void;
}

export interface RunningWebServer {
  /** The port listened on (the chosen one when asked for 0). */
  port: number;
  close: () => Promise<void>;
}

/** Every error answer: status line words only, never a stack, a path or the request echoed back. */
function answer(reply: FastifyReply, status: number): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('text/plain; charset=utf-8')
    .send(`${status} ${STATUS_CODES[status] ?? 'Error'}\n`);
}

function statusOf(e: unknown): number | undefined {
  const bad = badQueryStatus(e);
  if (bad) return bad;
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' && s >= 400 && s < 600 ? s : undefined;
}

/** The web server's application: read-only, GET and HEAD only. */
export async function buildWebApp(o: Pick<WebServerOptions, 'repoDir' | 'log' | 'config'>): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    // A request must arrive whole within this; a download may take as long as it takes.
    requestTimeout: 30_000,
    // Stop means stop: idle keep-alive connections (apt keeps them) would hold close() open.
    forceCloseConnections: true,
    // The router's own refusals (a URL that does not decode, ...) answer like ours.
    frameworkErrors: (e, _req, reply) => answer(reply, statusOf(e) ?? 400),
  });
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(reply.header('allow', 'GET, HEAD'), 405);
  });
  app.setNotFoundHandler((_req, reply) => answer(reply, 404));
  app.setErrorHandler((e, req, reply) => {
    const status = statusOf(e) ?? 500;
    if (status >= 500) o.log(`web: ${req.method} ${req.url.slice(0, 200)}: ${errorLine(e)}`);
    return answer(reply, status);
  });
  await registerAptRoutes(app, o.repoDir);
  if (o.config) registerSiteRoutes(app, o.config);
  return app;
}

/** Listen; a port in use or an address that is not this machine's is a one-line error. */
export async function startWebServer(o: WebServerOptions): Promise<RunningWebServer> {
  const app = await buildWebApp(o);
  try {
    await app.listen({ host: o.listen, port: o.port });
  } catch (e) {
    await app.close();
    throw new PocketbuildError(
      'ListenFailed',
      `the web server cannot listen on ${o.listen} port ${o.port}: ${errorLine(e)}; choose another web.listen or web.port`,
    );
  }
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
}
