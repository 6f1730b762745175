import { EventEmitter, once } from 'node:events';
import http2 from 'node:http2';

/**
 * Resetting an HTTP/2 stream mid-answer. Node's `stream.close(code)` first ends the stream's writable
 * side, so a peer that is still being written to sees END_STREAM (a short answer that looks complete)
 * before the RST_STREAM. `destroy()` resets at once, with CANCEL for Node's own AbortError and
 * INTERNAL_ERROR for any other error; that class is not exported, so one instance is caught here once.
 */

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

// events.once with a signal already aborted rejects at once with Node's AbortError.
const AbortError = (await once(new EventEmitter(), 'never', { signal: AbortSignal.abort() }).catch(
  (err: unknown) => (err as Error).constructor,
)) as new () => Error;

/**
 * Resets `stream` with `code` when its writable side is done (nothing is cut short), else at once, with
 * CANCEL when `code` is CANCEL and INTERNAL_ERROR otherwise.
 */
export function resetStream(stream: http2.Http2Stream, code: number): void {
  if (stream.closed || stream.destroyed) return;
  if (stream.writableEnded) return stream.close(code === NGHTTP2_NO_ERROR ? NGHTTP2_INTERNAL_ERROR : code);
  stream.destroy(code === NGHTTP2_CANCEL ? new AbortError() : new Error(`stream reset (${code})`));
}

export { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR };
