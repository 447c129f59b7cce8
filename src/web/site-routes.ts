import fs from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/types.js';
import { FINAL_STATUSES } from '../util/outcomes.js';
import { provenancePath } from '../record/provenance-file.js';
import type { BuildFilter } from '../record/build-index.js';
import { BadQuery, listQuery, readTail, SiteData, type BuildList, type ListQuery } from './site-data.js';
import { SITE_CSS, views, type ListView } from './site-views.js';
import { LIVE_SCRIPT } from './live-script.js';
import { streamLog } from './log-events.js';
import { sendOpened } from './apt-routes.js';

/** No inline script or style, nothing from elsewhere: markup that slips into a log cannot run. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** How much of a log the build page shows inline; the rest is a link away. */
const INLINE_LOG = 256 * 1024;

type Params = Record<string, string>;

function html(reply: FastifyReply, body: string): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(body);
}

function json(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(value));
}

/** The URL of another page of the same list, with the same filters. */
function pager(action: string, filter: BuildFilter): (page: number) => string {
  return (page) => {
    const q = new URLSearchParams({ ...(filter as Record<string, string>), page: String(page) });
    return `${action}?${q.toString()}`;
  };
}

function listView(list: BuildList, action: string, fixed?: 'pocket' | 'package'): ListView {
  const own = { ...list.filter };
  if (fixed) delete own[fixed];
  return { list, action, fixed, statuses: FINAL_STATUSES, pageUrl: pager(action, own) };
}

/** The tail of a log for the page, and the byte offset where live updates continue. */
function logTail(file: string): { log: string; logEnd: number; cut: boolean } {
  const { text, size } = readTail(file, INLINE_LOG);
  return { log: text, logEnd: size, cut: size > INLINE_LOG };
}

const BADGE_COLOURS: Record<string, string> = {
  succeeded: '#2a7',
  failed: '#c33',
  denied: '#c33',
  timeout: '#c33',
  cancelled: '#888',
  none: '#888',
};

/**
 * The status site and its JSON API: /, /builds, /pockets/P, /packages/P, /builds/ID (and its
 * log, live log, outputs and provenance), /audit, SVG badges, Atom feeds; each page's data at
 * the same path under /api. Read-only: GET and HEAD only (the server refuses the rest).
 */
export function registerSiteRoutes(app: FastifyInstance, config: Config): void {
  const data = new SiteData(config);
  const base = (config.web.base_url ?? '').replace(/\/$/, '');
  const get = (url: string, handler: (req: FastifyRequest, reply: FastifyReply) => unknown) =>
    app.route({ method: ['GET', 'HEAD'], url, handler: handler as never });
  const query = (req: FastifyRequest): ListQuery => listQuery(req.query as Record<string, unknown>);
  const param = (req: FastifyRequest, k: string) => (req.params as Params)[k]!;

  // Both faces of each page: HTML at PATH, the same data as JSON at /api PATH.
  const page = <T>(
    url: string,
    model: (req: FastifyRequest) => Promise<T> | T,
    render: (m: T, req: FastifyRequest) => string,
  ) => {
    get(url, async (req, reply) => html(reply, render(await model(req), req)));
    get(`/api${url === '/' ? '/home' : url}`, async (req, reply) => json(reply, await model(req)));
  };

  page(
    '/',
    (req) => data.home(query(req)),
    (m) => views.home(m, listView(m.recent, '/')),
  );
  page(
    '/builds',
    (req) => data.builds(query(req)),
    (m) => views.builds(listView(m, '/builds')),
  );
  page(
    '/pockets/:pocket',
    (req) => data.pocket(param(req, 'pocket'), query(req)),
    (m) => views.pocket(m, listView(m.history, `/pockets/${m.pocket}`, 'pocket')),
  );
  page(
    '/packages/:package',
    (req) => data.package(param(req, 'package'), query(req)),
    (m) => views.package(m.package, listView(m, `/packages/${m.package}`, 'package')),
  );
  page(
    '/builds/:id',
    (req) => data.build(param(req, 'id')),
    (m) => {
      const tail = logTail(data.record(m.id).logFile);
      return views.build(m, {
        ...tail,
        shownKb: INLINE_LOG / 1024,
        live: m.result === null,
        builderId: config.builder.id,
      });
    },
  );
  page(
    '/audit',
    () => data.checkpoint(),
    (m) => views.audit(m),
  );

  get('/builds/:id/log', (req, reply) => {
    const rec = data.record(param(req, 'id'));
    let file: fs.ReadStream;
    try {
      file = fs.createReadStream(rec.logFile);
    } catch {
      throw new BadQuery(404, 'no log yet');
    }
    file.once('error', () => reply.raw.destroy());
    return reply
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .type('text/plain; charset=utf-8')
      .send(file);
  });
  get('/builds/:id/log/events', (req, reply) => streamLog(req, reply, data.record(param(req, 'id'))));
  get('/builds/:id/outputs/:file', async (req, reply) => {
    const rec = data.record(param(req, 'id'));
    const name = param(req, 'file');
    // Only a file the result lists, by its exact name: nothing else in the record is reachable.
    const listed = rec.result()?.outputs.some((o) => o.file === name) && !name.includes('/');
    if (!listed) throw new BadQuery(404, 'no such output');
    // O_NOFOLLOW: an output that is a symlink (the pipeline refuses them) is never followed here either.
    const file = await fs.promises
      .open(`${rec.outputsDir}/${name}`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
      .catch(() => null);
    if (!file) throw new BadQuery(404, 'no such output');
    reply.header('content-disposition', 'attachment').type('application/octet-stream');
    return sendOpened(reply, file);
  });
  get('/builds/:id/provenance.intoto.jsonl', async (req, reply) => {
    const rec = data.record(param(req, 'id'));
    const file = await fs.promises.open(provenancePath(rec), 'r').catch(() => null);
    if (!file) throw new BadQuery(404, 'no provenance');
    reply.type('application/vnd.in-toto+json');
    return sendOpened(reply, file);
  });

  // The newest finished build of a package or a pocket, as a badge.
  const badge = (label: string, filter: BuildFilter) => (_req: FastifyRequest, reply: FastifyReply) => {
    const last = data.builds({ filter, page: 1 }).items[0];
    const value = last?.status ?? 'none';
    return reply
      .header('cache-control', 'no-cache')
      .type('image/svg+xml; charset=utf-8')
      .send(views.badge(label, value, BADGE_COLOURS[value] ?? '#888'));
  };
  get('/badges/package/:name', (req, reply) => {
    const pkg = param(req, 'name').replace(/\.svg$/, '');
    data.package(pkg, { filter: {}, page: 1 }); // 400/404 for what is not a package
    return badge(pkg, { package: pkg })(req, reply);
  });
  get('/badges/pocket/:name', (req, reply) => {
    const pocket = param(req, 'name').replace(/\.svg$/, '');
    data.pocket(pocket, { filter: {}, page: 1 });
    return badge(pocket, { pocket })(req, reply);
  });

  const feed = (kind: 'pocket' | 'package') => (req: FastifyRequest, reply: FastifyReply) => {
    const name = param(req, 'name').replace(/\.atom$/, '');
    const items =
      kind === 'pocket'
        ? data.pocket(name, { filter: {}, page: 1 }).history.items
        : data.package(name, { filter: {}, page: 1 }).items;
    return reply
      .header('cache-control', 'no-cache')
      .type('application/atom+xml; charset=utf-8')
      .send(
        views.feed({
          title: `${kind} ${name}`,
          base,
          self: `/feeds/${kind}/${name}.atom`,
          updated: items[0]?.finished ?? new Date(0).toISOString(),
          items,
        }),
      );
  };
  get('/feeds/pocket/:name', feed('pocket'));
  get('/feeds/package/:name', feed('package'));

  get('/static/live.js', (_req, reply) =>
    reply.header('cache-control', 'no-cache').type('text/javascript; charset=utf-8').send(LIVE_SCRIPT),
  );
  get('/static/site.css', (_req, reply) =>
    reply.header('cache-control', 'no-cache').type('text/css; charset=utf-8').send(SITE_CSS),
  );
}

/** A BadQuery's status (400, 404), for the server's error handler. */
export function badQueryStatus(e: unknown): number | undefined {
  return e instanceof BadQuery ? e.status : undefined;
}
