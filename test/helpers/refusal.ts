/** What an API's refusal says: the status and detail of the HttpError `work` throws or rejects with. */
import assert from 'node:assert/strict';
import { HttpError } from '../../src/shared/http.js';

export async function refusal(work: () => unknown): Promise<{ status: number; detail: string }> {
  try {
    await work();
  } catch (err) {
    assert.ok(err instanceof HttpError, String(err));
    return { status: err.status, detail: err.message };
  }
  assert.fail('it was not refused');
}
