/** Reading an answer from a server kanari does not control, without trusting its size. */

/** Thrown by {@link readCapped} when a body outgrows its limit. */
export class AnswerTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`the answer is larger than ${describeBytes(maxBytes)}`);
  }
}

/**
 * A body as text, read only up to `maxBytes`: past it the stream is cancelled (which
 * closes the connection) and {@link AnswerTooLarge} thrown, so an endless answer costs
 * `maxBytes`, not the heap.
 */
export async function readCapped(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    read += value.byteLength;
    if (read > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new AnswerTooLarge(maxBytes);
    }
    text += decoder.decode(value, { stream: true });
  }
}

function describeBytes(n: number): string {
  return n % (1 << 20) === 0 ? `${n >> 20} MiB` : n % 1024 === 0 ? `${n >> 10} KiB` : `${n} bytes`;
}
