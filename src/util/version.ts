/** pocketbuild's own version: printed by --version, recorded as builder.version in provenance. */
export const VERSION = '0.1.0';
