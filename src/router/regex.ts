import v8 from 'node:v8';

// V8's linear-time engine (the `l` flag) runs any accepted pattern in time linear in the
// input, so a match rule cannot be used for ReDoS. Patterns it cannot run that way
// (backreferences, lookarounds) are rejected when the table is loaded.
v8.setFlagsFromString('--enable-experimental-regexp-engine');

export function compileLinearRegex(pattern: string): RegExp {
  try {
    // eslint-disable-next-line no-invalid-regexp -- `l` is V8's linear-engine flag, enabled above
    return new RegExp(pattern, 'l');
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/l?: /s, '');
    const message = reason === 'Cannot be executed in linear time' ? 'uses a backreference or lookaround, which kanari does not run (match cost must stay linear)' : `is not a valid regular expression: ${reason}`;
    throw new Error(message, { cause: err });
  }
}
