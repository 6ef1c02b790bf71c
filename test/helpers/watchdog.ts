/**
 * Says where a test file is, and fails it, if it is still running after `ms`: the runner's
 * own timeout (scripts/test.mjs, 300 s a file) names nothing, and a file that hung once in
 * a full run and never alone must say where the next time — its stage, what keeps the
 * process waiting, and the last lines its system under test logged.
 */
export function watchdog(file: string, ms: number, lines: () => readonly string[] = () => []) {
  let stage = 'loading';
  const timer = setTimeout(() => {
    const waiting = process.getActiveResourcesInfo().join(', ');
    console.error(
      `${file}: still running after ${ms / 1000} s, at: ${stage}; waiting on: ${waiting}\n` +
        lines().slice(-30).join('\n'),
    );
    process.exit(1);
  }, ms);
  timer.unref();
  return {
    /** What the file does now, said if it hangs. */
    at: (what: string) => void (stage = what),
    done: () => clearTimeout(timer),
  };
}
