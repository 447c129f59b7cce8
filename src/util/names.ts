/**
 * The name grammars, in one place: the config, the queue, the SSH grammar and the ACLs all
 * check names with these, so a name one accepts the others accept too.
 */

/** A pocket: 1-64 of a-z, 0-9 and "-", starting with a letter or digit (also a git ref component). */
export const POCKET_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** A Debian source package name (Debian policy 5.6.1), at most 100 characters. */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]{1,99}$/;
/** A principal: 1-32 of a-z, 0-9, "_", ".", "-", starting with a letter or "_" (a POSIX user name). */
export const PRINCIPAL_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
/** A full commit id. */
export const COMMIT_ID = /^[0-9a-f]{40}$/;
/** A request id: 16 characters of Crockford's base32 alphabet in lower case (no i, l, o, u). */
export const REQUEST_ID = /^[0-9a-hjkmnp-tv-z]{16}$/;
/**
 * A Debian version as a command may name one (Debian policy 5.6.12): an optional numeric
 * epoch, an upstream part starting with a digit, an optional revision; at most 100 characters.
 */
export const DEBIAN_VERSION = /^(?:[0-9]{1,9}:)?[0-9][A-Za-z0-9.+~-]{0,99}$/;
