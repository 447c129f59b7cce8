import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic, { type SendOptions } from '@fastify/static';
import { isPublishedPath } from '../publish/public-paths.js';
import { PocketbuildError } from '../util/errors.js';

/** Where the repository is mounted; apt sources name `<base_url>/apt`. */
export const APT_PREFIX = '/apt/';

/**
 * Files are handed to @fastify/send as the file this request opened, named through
 * /proc/self/fd: send stats a path and opens it again later, and reprepro renames a new
 * InRelease over the old one in between often enough to matter (a client got the new file's
 * bytes cut to the old one's length: "Splitting up InRelease into data and signature failed").
 */
const OPEN_FILES = '/proc/self/fd';

/** errno codes that mean "there is no such published file". */
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'EACCES', 'EISDIR']);

/**
 * The file `rel` names, opened, if it is a published regular file: confinement by what the
 * path resolves to on disk, so a symlink (in the pool or anywhere) that leads outside the
 * repository, or into conf/ or db/, is refused. Only the publisher writes the repository, so
 * nothing can swap a path component between the check and the open without its help.
 */
async function openPublished(repoDir: string, rel: string): Promise<fs.promises.FileHandle | null> {
  if (!isPublishedPath(rel)) return null;
  try {
    const [root, real] = await Promise.all([
      fs.promises.realpath(repoDir),
      fs.promises.realpath(path.join(repoDir, rel)),
    ]);
    const inside = path.relative(root, real);
    if (
      inside.startsWith(`..${path.sep}`) ||
      path.isAbsolute(inside) ||
      !isPublishedPath(inside.split(path.sep).join('/'))
    )
      return null;
    const file = await fs.promises.open(real, 'r');
    if ((await file.stat()).isFile()) return file;
    await file.close();
    return null;
  } catch (e) {
    if (ABSENT.has((e as NodeJS.ErrnoException).code ?? '')) return null;
    throw e;
  }
}

/**
 * Send a file this request opened (closed when the response ends), with @fastify/send doing
 * ETag, Last-Modified, conditional requests and ranges. Needs registerAptRoutes' registration.
 */
export function sendOpened(reply: FastifyReply, file: fs.promises.FileHandle, extra: SendOptions = {}): FastifyReply {
  reply.raw.once('close', () => void file.close().catch(() => undefined));
  // @fastify/static hands these options to @fastify/send whole; its types list fewer.
  const options: SendOptions & { highWaterMark?: number } = {
    // Reads of 256 KiB, not 64: a 20 MB .deb in a quarter of the trips through the event loop.
    highWaterMark: 256 * 1024,
    ...extra,
  };
  return reply.sendFile(String(file.fd), OPEN_FILES, options);
}

/**
 * GET and HEAD of the published repository under /apt/: dists/ (by-hash included), pool/,
 * key.gpg, key.asc, builder.pub and provenance/ (publish/public-paths.ts decides what), with
 * @fastify/send doing ETag, Last-Modified, conditional requests and ranges. No directory
 * listings, no index files, no dot files: anything else is the same 404 as a missing file.
 */
export async function registerAptRoutes(app: FastifyInstance, repoDir: string): Promise<void> {
  if (!fs.existsSync(OPEN_FILES))
    throw new PocketbuildError('SetupFailed', `${OPEN_FILES} is missing; the web server needs /proc mounted`);
  // Only reply.sendFile: which file a URL means is decided here, not by a static route.
  await app.register(fastifyStatic, { root: OPEN_FILES, serve: false, index: false, list: false });

  const serve = async (req: FastifyRequest, reply: FastifyReply) => {
    // The router has decoded the path once; it is used as it is, never decoded again.
    const rel = (req.params as { '*'?: string })['*'] ?? '';
    const file = await openPublished(repoDir, rel);
    if (!file) return reply.callNotFound();
    // A by-hash file's name is its content's digest: it never changes.
    const immutable = rel.startsWith('dists/') && rel.includes('/by-hash/');
    return sendOpened(reply, file, immutable ? { maxAge: '365d', immutable: true } : {});
  };
  app.route({ method: ['GET', 'HEAD'], url: `${APT_PREFIX}*`, handler: serve });
}
