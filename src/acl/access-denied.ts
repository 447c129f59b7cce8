import { PocketbuildError } from '../util/errors.js';

/** A principal asked for something the ACLs do not give them; the message says who may. */
export class AccessDenied extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('AccessDenied', message, data);
  }
}
