/** The controller's refusals, apart so the modules the controller uses can refuse too. */
import type { ConfigError } from '../config/errors.js';

/** An error with the HTTP status it maps to: 400 bad input, 404 no such rollout, 409 refused now. */
export class ControllerError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
    readonly issues?: ConfigError['issues'],
  ) {
    super(message);
  }
}
