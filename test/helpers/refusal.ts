import assert from 'node:assert/strict';
import { HttpError } from '../../src/shared/http.js';

/** The HttpError `work` throws (a 401, a 403…), as status and detail; a failure if it throws none. */
export function refusal(work: () => unknown): { status: number; detail: string } {
  try {
    work();
  } catch (err) {
    assert.ok(err instanceof HttpError, String(err));
    return { status: err.status, detail: err.message };
  }
  assert.fail('it was not refused');
}
