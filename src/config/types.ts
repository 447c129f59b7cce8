/**
 * The checked, typed configuration. `loadConfig` (./load.ts) is the only producer: every
 * path here is absolute and every default has been filled in, so consumers never re-check.
 */

/** One pocket: an APT suite, a branch `refs/heads/<pocket>` in every package, an ACL and a policy. */
export interface PocketConfig {
  name: string;
  suite: string;
  /**
   * The Debian release the pocket builds for (bookworm, trixie...): its base image and
   * build-dependencies come from it. Default archive.suite. A version is published for one
   * release only (docs/releases.md).
   */
  distribution: string;
  /** `*`, `group:NAME` or principal names; empty means nobody. */
  acl: string[];
  /** Absolute path of an executable that prints the principals allowed for the pocket given as its argument. */
  acl_command?: string;
  allow_backtracking: boolean;
  /**
   * The pockets whose published builds may be promoted into this one (`promote`), copied
   * without a rebuild (docs/promotion.md). Default none.
   */
  promote_from: string[];
  /**
   * The Debian architectures the pocket publishes, the host's first. The host's builds the
   * source and `arch: all` packages natively; each other one is cross-built (docs/architectures.md).
   * Default: the host's alone.
   */
  architectures: string[];
  sandbox: 'userns' | 'vm';
  /**
   * DEB_BUILD_OPTIONS for every build in the pocket (e.g. `nocheck`); `parallel=N` is added
   * from the CPUs a build slot has unless these words set it. Default ''.
   */
  deb_build_options: string;
  /** E-mail addresses told about this pocket's builds. */
  notify: string[];
}

/** Who may push to and fetch from one package repository: `*`, `group:NAME` or principal names. */
export interface RepoAcl {
  push: string[];
  read: string[];
}

/** A push to `branch` of `package` (or of any package, `*`) queues a build of the pushed commit into `pocket`. */
export interface AutoBuildRule {
  /** A branch name without `refs/heads/`; never a pocket's own branch, which only the builder moves. */
  branch: string;
  /** A pocket defined under `pockets`. */
  pocket: string;
  /** A package name, or `*` for every package. */
  package: string;
}

/** The embedded SSH server (OpenSSH's forced command does not read this section). */
export interface SshConfig {
  listen: string; // an IP address literal; default '127.0.0.1'
  port: number; // 1-65535; default 2222
  host_key: string; // absolute; default <state_dir>/ssh/host_ed25519_key
  /** The shared login name (build@HOST); the key says which principal it is. Default 'build'. */
  account: string;
  /** OpenSSH's authorized_keys for `account`, which `user add`/`user remove` rewrite; absent: none. */
  authorized_keys?: string;
  /** Principal name -> OpenSSH public key lines ("ssh-ed25519 AAAA... comment"); a key belongs to one principal. */
  users: Record<string, string[]>;
}

/** `pocketbuild web`: the APT repository (and later more) over HTTP. */
export interface WebConfig {
  listen: string; // an IP address literal; default '127.0.0.1'
  port: number; // 0-65535, 0 meaning any free port (printed at start); default 8080
  /** How clients reach the server (a reverse proxy's URL), without a trailing slash; null: http://LISTEN:PORT. */
  base_url: string | null;
}

/** SMTP for the shipped e-mail hook (hooks/50-email); smtp_host null means no mail is sent. */
export interface MailConfig {
  smtp_host: string | null; // a host name or IP address; default null (mail off)
  smtp_port: number; // default 25 (tls none), 587 (starttls), 465 (tls)
  tls: 'none' | 'starttls' | 'tls'; // default 'starttls'
  auth_user: string | null; // default null: no SMTP AUTH
  auth_password_file?: string; // absolute; the password is its first line
  from: string; // default 'pocketbuild@localhost'
  /** Addresses that get every event of every pocket: the off-site copy of the audit trail. */
  audit_to: string[]; // default []
  timeout_seconds: number; // the whole send; default 20
}

export interface Config {
  file: string; // absolute path of the config file read
  state_dir: string; // absolute; relative paths in the file are resolved against the config file's directory
  queue_dir: string; // absolute; default <dir of config>/queue
  repos_dir: string; // absolute; default <state_dir>/repos
  cache_dir: string; // absolute; default <state_dir>/cache (base images, apt lists and .debs; deletable)
  /** Running builds' scratch (exported trees): on this host's own disk, never a network file system. */
  work_dir: string; // absolute; default <state_dir>/work
  hooks_dir: string; // absolute; default <dir of config>/hooks
  builder: { id: string }; // default 'https://pocketbuild.invalid/builder'
  /**
   * Defaults: slots from the machine (machineSlots: two CPUs and limits.memory_mb per build), 5, 30, true.
   * `publish: false` makes a builder host: it builds up to the provenance and hands the build to
   * the one daemon that publishes (docs/several-hosts.md); it never opens the APT repository's database.
   */
  daemon: { slots: number; rescan_seconds: number; claim_stale_seconds: number; publish: boolean };
  /** Defaults http://deb.debian.org/debian, bookworm, [main], 3600: the mirror's package lists are refreshed when older. */
  archive: { mirror: string; suite: string; components: string[]; lists_max_age_seconds: number };
  /** Installed build-dependencies kept as layers (under cache_dir/layers), least recently used pruned past 10240 MB. */
  cache: { layers_max_mb: number };
  limits: {
    build_timeout_seconds: number;
    memory_mb: number;
    processes: number;
    disk_mb: number;
    log_mb: number;
    cpu_seconds: number;
  }; // 3600, 4096, 1000, 4096, 64, 3600
  signing: { key: string | null }; // GPG fingerprint; null = use the one `pocketbuild init` made
  hooks: { timeout_seconds: number }; // 30
  mail: MailConfig;
  ssh: SshConfig;
  web: WebConfig;
  groups: Record<string, string[]>; // group name -> principal names (groups never contain groups)
  admins: string[]; // acl entries who may cancel anyone's request; default []; no right to build
  pockets: Record<string, PocketConfig>;
  repo_defaults: RepoAcl; // default push [], read ['*']
  repos: Record<string, RepoAcl>; // package name -> its ACL; a list it leaves out is repo_defaults'
  auto_build: AutoBuildRule[]; // default []
}

/** A build's page on the status site, when web.base_url says where clients reach it; else null. */
export function buildUrl(config: Pick<Config, 'web'>, id: string): string | null {
  return config.web.base_url ? `${config.web.base_url.replace(/\/$/, '')}/builds/${id}` : null;
}

/** The pocket configured under `name`; never an inherited property (a pocket named "constructor"). */
export function configuredPocket(config: Pick<Config, 'pockets'>, name: string): PocketConfig | undefined {
  return Object.hasOwn(config.pockets, name) ? config.pockets[name] : undefined;
}
