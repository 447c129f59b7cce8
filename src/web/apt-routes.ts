import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { isPublishedPath } from '../publish/public-paths.js';

/** Where the repository is mounted; apt sources name `<base_url>/apt`. */
export const APT_PREFIX = '/apt/';

/** A file apt should not get: the same answer as a missing one, so nothing is learnt from it. */
class NotPublished extends Error {
  readonly statusCode = 404;
  constructor() {
    super('not a published file of the repository');
  }
}

/**
 * Confinement by what a request resolves to on disk, not only by its spelling: a symlink in
 * the pool (or anywhere) that leads outside the repository, or into conf/ or db/, is refused.
 * The repository is written only by the publisher, so the path cannot change between this
 * check and the open that follows it without the publisher's help.
 */
async function refuseEscapes(repoDir: string, selected: string): Promise<void> {
  const [root, real] = await Promise.all([fs.promises.realpath(repoDir), fs.promises.realpath(selected)]);
  const rel = path.relative(root, real);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) throw new NotPublished();
  if (!isPublishedPath(rel.split(path.sep).join('/'))) throw new NotPublished();
}

/**
 * GET and HEAD of the published repository under /apt/: dists/ (by-hash included), pool/,
 * key.gpg, key.asc, builder.pub and provenance/ (publish/public-paths.ts decides), with
 * @fastify/send doing ETag, Last-Modified, conditional requests and ranges. No directory
 * listings, no index files, dot files refused.
 */
export async function registerAptRoutes(app: FastifyInstance, repoDir: string): Promise<void> {
  await app.register(fastifyStatic, {
    root: repoDir,
    prefix: APT_PREFIX,
    // The repository may not exist yet (a web server started before the first `init`).
    suppressWarning: true,
    index: false,
    list: false,
    redirect: false,
    dotfiles: 'deny',
    serveDotFiles: false,
    allowedPath: (pathName) => isPublishedPath(pathName),
    onFile: (selected) => refuseEscapes(repoDir, selected),
    setHeaders: (reply, file) => {
      // A by-hash file's name is its content's digest: it can never change.
      if (file.split(path.sep).includes('by-hash'))
        reply.header('cache-control', 'public, max-age=31536000, immutable');
    },
  });
}
