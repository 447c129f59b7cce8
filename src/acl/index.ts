/** Who may do what in which pocket or package: lists, groups and acl_command. */
export { AccessDenied } from './access-denied.js';
export { ACL_COMMAND_TIMEOUT_MS } from './acl-command.js';
export { decide, requireRight, type DecideOptions } from './decide.js';
export { rightPhrase, type Decision, type Right } from './rights.js';
