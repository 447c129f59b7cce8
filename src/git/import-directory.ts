import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';

/**
 * Commit the contents of a directory (files, executable bits, symlinks) to `branch` of a
 * bare repository, with no working tree. Used to seed the demo package.
 */
export async function commitDirectory(gitdir: string, dir: string, branch: string, message: string): Promise<string> {
  const tree = await writeTreeOf(gitdir, dir);
  const author = {
    name: 'pocketbuild',
    email: 'pocketbuild@localhost',
    timestamp: Math.floor(Date.now() / 1000),
    timezoneOffset: 0,
  };
  const parent = await git.resolveRef({ fs, gitdir, ref: `refs/heads/${branch}` }).catch(() => null);
  const oid = await git.writeCommit({
    fs,
    gitdir,
    commit: { message, tree, parent: parent ? [parent] : [], author, committer: author },
  });
  await git.writeRef({ fs, gitdir, ref: `refs/heads/${branch}`, value: oid, force: true });
  return oid;
}

async function writeTreeOf(gitdir: string, dir: string): Promise<string> {
  const entries: Array<{ mode: string; path: string; oid: string; type: 'blob' | 'tree' }> = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === '.git') continue;
    const full = path.join(dir, name);
    const st = fs.lstatSync(full);
    if (st.isDirectory())
      entries.push({ mode: '040000', path: name, oid: await writeTreeOf(gitdir, full), type: 'tree' });
    else if (st.isSymbolicLink())
      entries.push({
        mode: '120000',
        path: name,
        oid: await git.writeBlob({ fs, gitdir, blob: Buffer.from(fs.readlinkSync(full)) }),
        type: 'blob',
      });
    else if (st.isFile())
      entries.push({
        mode: st.mode & 0o111 ? '100755' : '100644',
        path: name,
        oid: await git.writeBlob({ fs, gitdir, blob: fs.readFileSync(full) }),
        type: 'blob',
      });
  }
  return git.writeTree({ fs, gitdir, tree: entries });
}
