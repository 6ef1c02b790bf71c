/**
 * writePrivateFile on what an earlier run (or someone else) left at its temporary name:
 * the file it writes is 0600 whatever was there, and nothing is written through a link.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { writePrivateFile } from '../../src/shared/files.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'kanari-files-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The temporary name writePrivateFile uses for `path` in this process. */
const tmpOf = (path: string) => `${path}.${process.pid}.tmp`;

describe('writePrivateFile', () => {
  it('writes 0600 even over a temporary file a crashed run left readable by others', () => {
    const path = join(dir, 'api-token');
    writeFileSync(tmpOf(path), 'half a token');
    chmodSync(tmpOf(path), 0o644);
    writePrivateFile(path, 'secret\n');
    assert.equal(readFileSync(path, 'utf8'), 'secret\n');
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it('writes nothing through a symbolic link planted at its temporary name', () => {
    const path = join(dir, 'api-token');
    const elsewhere = join(dir, 'elsewhere');
    writeFileSync(elsewhere, 'theirs\n');
    chmodSync(elsewhere, 0o644);
    symlinkSync(elsewhere, tmpOf(path));
    writePrivateFile(path, 'secret\n');
    assert.equal(readFileSync(elsewhere, 'utf8'), 'theirs\n');
    assert.equal(readFileSync(path, 'utf8'), 'secret\n');
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });
});
