// Slow readers, in a process of their own so their memory is not the proxy's or the bench's:
//   node slow-readers.mjs PORT PATH CLIENTS BYTES_PER_SECOND EXPECTED_BYTES
// Each client asks for PATH once and reads the body at BYTES_PER_SECOND by pausing its socket.
// Tells its parent (over IPC) 'allStarted' once every client is mid-body, then 'done' with a tally.
import net from 'node:net';

const [port, path, clients, rate, expected] = process.argv.slice(2).map((a, i) => (i === 1 ? a : Number(a)));
/** Generous: a client that has not finished by then counts as incomplete. */
const deadlineMs = (expected / rate) * 4000 + 30_000;
const sockets = new Set();
let started = 0;

function client(i) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.add(socket);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nx-user-id: slow-${i}\r\nConnection: close\r\n\r\n`,
    );
    let head = Buffer.alloc(0);
    let status;
    let length = NaN;
    let body = 0;
    let since = 0;
    let error;
    socket.on('data', (chunk) => {
      if (status === undefined) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.subarray(0, end).toString('latin1');
        status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]);
        length = Number(/\r\ncontent-length:[ \t]*(\d+)/i.exec(text)?.[1] ?? NaN);
        chunk = head.subarray(end + 4);
        since = Date.now();
        if (++started === clients) process.send?.({ type: 'allStarted' });
      }
      body += chunk.length;
      // Pause until the bytes read so far are due at `rate`.
      const wait = since + (body / rate) * 1000 - Date.now();
      if (wait > 0 && body < expected) {
        socket.pause();
        setTimeout(() => socket.resume(), wait);
      }
    });
    socket.on('error', (err) => (error = err.code ?? err.message));
    socket.on('close', () => {
      sockets.delete(socket);
      resolve({ status, length, body, error });
    });
  });
}

const timer = setTimeout(() => {
  for (const s of sockets) s.destroy(new Error('deadline'));
}, deadlineMs);
const begun = Date.now();
const outcomes = await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
clearTimeout(timer);
const whole = (o) => o.status === 200 && o.length === expected && o.body === expected;
process.send?.({
  type: 'done',
  complete: outcomes.filter(whole).length,
  failures: outcomes.filter((o) => !whole(o)).slice(0, 3),
  seconds: (Date.now() - begun) / 1000,
});
