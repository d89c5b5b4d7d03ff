// Tells HTTP/2 with prior knowledge (h2c) from HTTP/1.x by the connection preface, on the same port (RFC 9113 §3.3).
import type { Socket } from 'node:net';

/** The client connection preface every HTTP/2 connection starts with (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * Time a new connection may take to send enough bytes to be told apart. Envoy's listener filters (its
 * HTTP inspector) give up after 15 s by default (`listener_filters_timeout`) and close the connection.
 */
export const SNIFF_TIMEOUT_MS = 15_000;

export type Protocol = 'h1' | 'h2';

/**
 * Reads the first bytes of `socket` until they match the preface or cannot; then puts them back and calls
 * `route`. An HTTP/1 request differs at its first byte unless its method starts with "P", so at most 24
 * bytes are held. Silence: with `onSilence`, the socket's own timeout (set by whoever owns the connection)
 * calls it; without, the connection is closed after SNIFF_TIMEOUT_MS.
 */
export function sniffProtocol(socket: Socket, route: (protocol: Protocol) => void, onSilence?: () => void): void {
  let held: Buffer | undefined;
  const timer = onSilence ? undefined : setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  const onTimeout = () => onSilence?.();
  const done = () => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('close', onClose);
    socket.removeListener('end', onEnd);
    socket.removeListener('timeout', onTimeout);
  };
  const onClose = () => done();
  // The peer closed before sending a byte: nothing to serve. The HTTP server's sockets are half-open (allowHalfOpen)
  // and only its own connection listener, not yet called, would close them on 'end': without this the connection
  // stayed open, and counted against the connection limit, until the process ended.
  const onEnd = () => {
    done();
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    const buf = held ? Buffer.concat([held, chunk]) : chunk;
    const n = Math.min(buf.length, PREFACE.length);
    const h2 = buf.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (h2 && buf.length < PREFACE.length) {
      held = buf;
      return;
    }
    done();
    socket.pause();
    socket.unshift(buf);
    route(h2 ? 'h2' : 'h1');
  };
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('end', onEnd);
  if (onSilence) socket.on('timeout', onTimeout);
  socket.on('error', () => socket.destroy());
}
