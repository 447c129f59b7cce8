import fs from 'node:fs';
import path from 'node:path';

export interface AptSource {
  /** `deb` line URI: http(s):// or file:/abs/path */
  uri: string;
  suite: string;
  components: string[];
  /** Keyring that signs this source's Release file. */
  signedBy: string;
}

/**
 * A private APT configuration under `dir` (lists, cache, logs, sources), so the unprivileged
 * daemon resolves and downloads without touching the host's apt state: no locking, no _apt
 * user, no recommends, no translations. `status` is the dpkg status apt plans against (a
 * base image's, or an empty file). Returns the file to name in APT_CONFIG.
 */
export function writePrivateAptConfig(o: {
  dir: string;
  status: string;
  sources: AptSource[];
  options?: Record<string, string>;
  /** APT::Architectures: the native one and those cross-built for; unset, apt asks the host's dpkg. */
  architectures?: string[];
}): string {
  const { dir } = o;
  const etc = path.join(dir, 'etc');
  for (const d of ['lists/partial', 'archives/partial', 'log', 'etc/parts', 'etc/prefs'])
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(
    path.join(etc, 'sources.list'),
    o.sources.map((s) => `deb [signed-by=${s.signedBy}] ${s.uri} ${s.suite} ${s.components.join(' ')}\n`).join(''),
  );
  const settings: Record<string, string> = {
    'Dir::State': dir,
    'Dir::State::lists': path.join(dir, 'lists'),
    'Dir::State::status': o.status,
    'Dir::Cache': dir,
    'Dir::Cache::archives': path.join(dir, 'archives'),
    'Dir::Log': path.join(dir, 'log'),
    'Dir::Etc::SourceList': path.join(etc, 'sources.list'),
    'Dir::Etc::SourceParts': path.join(etc, 'parts'),
    'Dir::Etc::Preferences': path.join(etc, 'prefs', 'none'),
    'Dir::Etc::PreferencesParts': path.join(etc, 'prefs'),
    'Dir::Etc::TrustedParts': path.join(etc, 'parts'),
    'Dir::Etc::Trusted': path.join(etc, 'none.gpg'),
    'Debug::NoLocking': 'true',
    'APT::Sandbox::User': '',
    'APT::Install-Recommends': 'false',
    'Acquire::Languages': 'none',
    ...o.options,
  };
  const file = path.join(dir, 'apt.conf');
  fs.writeFileSync(
    file,
    Object.entries(settings)
      .map(([k, v]) => `${k} "${v}";\n`)
      .join('') +
      (o.architectures ? `APT::Architectures { ${o.architectures.map((a) => `"${a}";`).join(' ')} };\n` : ''),
  );
  return file;
}
