import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { BuildIndex, type BuildFilter, type IndexedBuild } from '../record/build-index.js';
import { BuildRecord, type BuildResult, type FinalStatus } from '../record/build-record.js';
import { activeRequests, type StatusRow } from '../record/status-view.js';
import { provenanceDigest } from '../record/provenance-file.js';
import { verifyProvenance } from '../record/provenance.js';
import { builderKeyFiles, loadBuilderKey, readPublicKey } from '../record/builder-key.js';
import { AuditLog } from '../record/audit-log.js';
import { auditOrigin, signCheckpoint } from '../record/checkpoint.js';
import { PACKAGE_NAME, POCKET_NAME, PRINCIPAL_NAME, REQUEST_ID } from '../util/names.js';
import { FINAL_STATUSES } from '../util/outcomes.js';

/**
 * What each page shows, as plain data: the HTML pages render it and the JSON API returns it
 * as it is, so the two cannot disagree. Everything is read from the build index, the queue
 * and the build records; nothing here writes.
 */

export const PAGE_SIZE = 50;

/** A problem with the request itself: the web layer answers it with this HTTP status. */
export class BadQuery extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super(message);
  }
}

export interface ListQuery {
  filter: BuildFilter;
  page: number;
}

/** Filters and paging from a query string; a value that is not a name of its kind is a 400. */
export function listQuery(q: Record<string, unknown>): ListQuery {
  const str = (k: string): string | undefined => {
    const v = q[k];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw new BadQuery(400, `${k} is given more than once`);
    return v;
  };
  const check = (k: string, re: RegExp): string | undefined => {
    const v = str(k);
    if (v !== undefined && !re.test(v)) throw new BadQuery(400, `${k} is not a valid ${k} name`);
    return v;
  };
  const status = str('status');
  if (status !== undefined && !(FINAL_STATUSES as readonly string[]).includes(status))
    throw new BadQuery(400, `status is one of ${FINAL_STATUSES.join(', ')}`);
  const page = Number(str('page') ?? '1');
  if (!Number.isInteger(page) || page < 1 || page > 1_000_000) throw new BadQuery(400, 'page is a whole number from 1');
  const filter: BuildFilter = {};
  const pocket = check('pocket', POCKET_NAME);
  const pkg = check('package', PACKAGE_NAME);
  const principal = check('principal', PRINCIPAL_NAME);
  if (pocket) filter.pocket = pocket;
  if (pkg) filter.package = pkg;
  if (principal) filter.principal = principal;
  if (status) filter.status = status as FinalStatus;
  return { filter, page };
}

export interface BuildList {
  filter: BuildFilter;
  page: number;
  pages: number;
  total: number;
  items: IndexedBuild[];
}

function list(index: BuildIndex, q: ListQuery): BuildList {
  const { total, items } = index.query(q.filter, (q.page - 1) * PAGE_SIZE, PAGE_SIZE);
  return { filter: q.filter, page: q.page, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)), total, items };
}

export interface RunningBuild extends StatusRow {
  stage: string | null;
  elapsed_s: number;
}

export interface WaitingRequest extends StatusRow {
  position: number;
  /** Why it has not started. */
  waits_for: string;
}

export interface HomePage {
  running: RunningBuild[];
  queued: WaitingRequest[];
  recent: BuildList;
}

export interface PocketPage {
  pocket: string;
  suite: string;
  publishes: IndexedBuild[];
  history: BuildList;
}

export interface BuildPage {
  id: string;
  status: string;
  request: ReturnType<BuildRecord['request']>;
  result: BuildResult | null;
  tree: string | null;
  provenance: { sha256: string; verified: boolean; problem?: string } | null;
  rebuilds: Array<{ at: string; status: string; same: boolean | null }>;
}

/** The last `maxBytes` of a file and its size; empty when it cannot be read (no log yet). */
export function readTail(file: string, maxBytes: number): { text: string; size: number } {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, maxBytes);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return { text: buf.toString('utf8'), size };
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return { text: '', size: 0 };
  }
}

/** The last stage a running build's log has started (`==> NAME (time)`), from the log's tail. */
function currentStage(logFile: string): string | null {
  const marks = [...readTail(logFile, 64 * 1024).text.matchAll(/^==> (\S+)/gm)];
  return marks.length ? marks[marks.length - 1]![1]! : null;
}

export class SiteData {
  private readonly index: BuildIndex;

  constructor(private readonly config: Config) {
    this.index = new BuildIndex(config.state_dir);
  }

  async home(q: ListQuery): Promise<HomePage> {
    // The queue only: the index is this object's own, read incrementally, never again whole.
    const active = await activeRequests(this.config);
    const now = Date.now();
    const running: RunningBuild[] = active
      .filter((r) => r.status === 'running')
      .map((r) => {
        const rec = new BuildRecord(this.config.state_dir, r.id);
        let since = Date.parse(r.time);
        try {
          since = fs.statSync(path.join(rec.dir, 'request.json')).mtimeMs;
        } catch {
          // not begun yet
        }
        return { ...r, stage: currentStage(rec.logFile), elapsed_s: Math.max(0, Math.round((now - since) / 1000)) };
      });
    const waiting = active.filter((r) => r.status === 'queued' || r.status === 'dep-wait');
    const queued = waiting.map((r, i): WaitingRequest => {
      const before = active.find((a) => a !== r && a.pocket === r.pocket && a.package === r.package && a.id < r.id);
      // dep-wait: its reason says which request of its batch it waits for.
      const waits_for =
        r.status === 'dep-wait' && r.reason
          ? r.reason.replace(/^waits for /, '')
          : before
            ? `an earlier build of ${r.package} into ${r.pocket} (${before.id})`
            : running.length >= this.config.daemon.slots
              ? `a free slot (${running.length} of ${this.config.daemon.slots} busy)`
              : 'a daemon to take it';
      return { ...r, position: i + 1, waits_for };
    });
    return { running, queued, recent: list(this.index, q) };
  }

  pocket(name: string, q: ListQuery): PocketPage {
    if (!POCKET_NAME.test(name)) throw new BadQuery(400, 'not a pocket name');
    const p = this.config.pockets[name];
    if (!p || !Object.hasOwn(this.config.pockets, name)) throw new BadQuery(404, `no pocket ${name}`);
    // What the pocket publishes: each package's newest succeeded build into it.
    const publishes = new Map<string, IndexedBuild>();
    for (const b of this.index.query({ pocket: name, status: 'succeeded' }, 0, Number.MAX_SAFE_INTEGER).items)
      if (!publishes.has(b.package)) publishes.set(b.package, b);
    return {
      pocket: name,
      suite: p.suite,
      publishes: [...publishes.values()].sort((a, b) => a.package.localeCompare(b.package)),
      history: list(this.index, { ...q, filter: { ...q.filter, pocket: name } }),
    };
  }

  package(name: string, q: ListQuery): BuildList & { package: string } {
    if (!PACKAGE_NAME.test(name)) throw new BadQuery(400, 'not a package name');
    const builds = list(this.index, { ...q, filter: { ...q.filter, package: name } });
    if (!builds.total && !fs.existsSync(path.join(this.config.repos_dir, `${name}.git`)))
      throw new BadQuery(404, `no package ${name}`);
    return { package: name, ...builds };
  }

  builds(q: ListQuery): BuildList {
    return list(this.index, q);
  }

  record(id: string): BuildRecord {
    if (!REQUEST_ID.test(id)) throw new BadQuery(400, 'not a build id');
    const rec = new BuildRecord(this.config.state_dir, id);
    if (!fs.existsSync(rec.dir)) throw new BadQuery(404, `no build ${id}`);
    return rec;
  }

  build(id: string): BuildPage {
    const rec = this.record(id);
    const request = rec.request();
    const result = rec.result();
    const status = result?.status ?? (request ? 'running' : 'queued');
    return {
      id,
      status,
      request,
      result,
      ...this.provenance(rec),
      rebuilds: this.rebuilds(rec),
    };
  }

  /** The provenance, checked as `verify` checks it: signature by the builder key, builder id, subjects. */
  private provenance(rec: BuildRecord): Pick<BuildPage, 'provenance' | 'tree'> {
    const prov = provenanceDigest(rec);
    if (!prov) return { provenance: null, tree: null };
    try {
      const envelope = JSON.parse(fs.readFileSync(prov.file, 'utf8')) as unknown;
      const key = readPublicKey(builderKeyFiles(this.config.state_dir).pub);
      const v = verifyProvenance(envelope, key, this.config.builder.id);
      if (!v.ok) return { provenance: { sha256: prov.sha256, verified: false, problem: v.problem }, tree: null };
      const outputs = new Set(rec.result()?.outputs.map((o) => o.sha256));
      const covered = v.statement.subject.every((s) => outputs.has(s.digest.sha256));
      const source = v.statement.predicate.buildDefinition.resolvedDependencies.find((d) => d.name === 'source');
      return {
        provenance: covered
          ? { sha256: prov.sha256, verified: true }
          : { sha256: prov.sha256, verified: false, problem: 'its subjects are not the outputs on record' },
        tree: typeof source?.annotations?.tree === 'string' ? source.annotations.tree : null,
      };
    } catch (e) {
      return { provenance: { sha256: prov.sha256, verified: false, problem: (e as Error).message }, tree: null };
    }
  }

  private rebuilds(rec: BuildRecord): BuildPage['rebuilds'] {
    const dir = path.join(rec.dir, 'rebuilds');
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort().reverse();
    } catch {
      return [];
    }
    const original = new Map(rec.result()?.outputs.map((o) => [o.file, o.sha256]));
    return names.map((at) => {
      const r = new BuildRecord(this.config.state_dir, rec.id, path.join(dir, at)).result();
      const same = r ? r.outputs.every((o) => original.get(o.file) === o.sha256) : null;
      return { at, status: r?.status ?? 'unfinished', same };
    });
  }

  /** The audit log's current head, signed by the builder key, as `audit checkpoint` prints it. */
  checkpoint(): { size: number; head: string; signed: string } {
    const { size, head } = new AuditLog(this.config.state_dir).head();
    const signed = signCheckpoint(
      { origin: auditOrigin(this.config.builder.id), size, head },
      loadBuilderKey(this.config.state_dir),
    );
    return { size, head, signed };
  }
}
