import zlib from 'node:zlib';

/**
 * gzip with one deflate engine kept for the life of the process, the same bytes as `gzipSync` at the same
 * level. `gzipSync` builds a new zlib stream on every call: a Transform stream, a zlib state of about
 * 256 KiB and a 16 KiB output buffer, all thrown away at the end. In the webhook, which compresses every
 * held change, those buffers counted against V8's old generation until the next scavenge and helped drive
 * it into repeated mark-compacts (README, "Benchmarks → The webhook").
 *
 * Node has no public API to compress synchronously twice with one engine: its own sync helpers close the
 * engine after one use. This module drives the engine the way those helpers do, through the stream's
 * underscore fields (`_handle.writeSync` and `_writeState`). They are the one place sluice reads Node's
 * internals; when they are not there, or the engine fails, it falls back to `gzipSync`.
 */

interface SyncHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inputOffset: number,
    inputLength: number,
    output: Uint8Array,
    outputOffset: number,
    outputLength: number,
  ): void;
}

interface EngineInternals {
  /** Public (`zlib.reset()`), but missing from Node's type definitions for Gzip. */
  reset?: () => void;
  _handle?: SyncHandle | null;
  /** [output bytes left, input bytes left] after each writeSync. */
  _writeState?: Uint32Array;
}

/** Bigger buffers are let go after use, so that one huge object does not stay resident. */
const KEPT_BYTES = 256 * 1024;
const INITIAL_BYTES = 16 * 1024;

export type Gzip = (text: string) => Buffer;

/**
 * A gzip function at `level` for UTF-8 text. `engine` is for tests, which hand in one without its
 * internals to check the fallback.
 */
export function reusableGzip(
  level: number,
  engine: () => zlib.Gzip = () => zlib.createGzip({ level }),
): Gzip {
  const fallback: Gzip = (text) => zlib.gzipSync(text, { level });
  let current: zlib.Gzip | undefined;
  let input = Buffer.allocUnsafe(INITIAL_BYTES);
  let output = Buffer.allocUnsafe(INITIAL_BYTES);

  const usable = (
    gzip: zlib.Gzip,
  ): { handle: SyncHandle; state: Uint32Array; reset: () => void } | undefined => {
    const { _handle: handle, _writeState: state, reset } = gzip as unknown as EngineInternals;
    return typeof handle?.writeSync === 'function' &&
      typeof reset === 'function' &&
      state instanceof Uint32Array &&
      state.length >= 2
      ? { handle, state, reset: reset.bind(gzip) }
      : undefined;
  };

  return (text) => {
    current ??= engine();
    const internals = usable(current);
    if (internals === undefined) return fallback(text);
    const length = Buffer.byteLength(text);
    if (input.length < length) input = Buffer.allocUnsafe(Math.max(length, input.length * 2));
    input.write(text, 0, length, 'utf8');
    try {
      internals.reset();
      const produced = deflateAll(internals.handle, internals.state, input.subarray(0, length));
      // zlib reports its errors to the stream, which destroys itself.
      if (current.destroyed) throw new Error('the gzip engine failed');
      return Buffer.from(output.subarray(0, produced));
    } catch {
      // A failed engine is not reused: the next call makes a new one.
      current.close();
      current = undefined;
      return fallback(text);
    } finally {
      if (input.length > KEPT_BYTES) input = Buffer.allocUnsafe(INITIAL_BYTES);
      if (output.length > KEPT_BYTES) output = Buffer.allocUnsafe(INITIAL_BYTES);
    }
  };

  /** Compresses `data` to its end into `output`, growing it as needed; the bytes written. */
  function deflateAll(handle: SyncHandle, state: Uint32Array, data: Buffer): number {
    let offset = 0;
    let left = data.length;
    let produced = 0;
    for (;;) {
      handle.writeSync(
        zlib.constants.Z_FINISH,
        data,
        offset,
        left,
        output,
        produced,
        output.length - produced,
      );
      const outLeft = state[0] as number;
      const inLeft = state[1] as number;
      produced = output.length - outLeft;
      offset += left - inLeft;
      left = inLeft;
      // With Z_FINISH, zlib stops short of the output's end only once the stream is complete.
      if (outLeft > 0) return produced;
      const grown = Buffer.allocUnsafe(output.length * 2);
      output.copy(grown, 0, 0, produced);
      output = grown;
    }
  }
}
