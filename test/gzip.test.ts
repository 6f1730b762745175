import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { reusableGzip } from '../src/gzip.js';
import { seededRandom } from './support/random.js';

const texts = (): string[] => [
  '',
  '{}',
  JSON.stringify({ spec: { template: { containers: [{ name: 'app', image: 'example/app:1.2.3' }] } } }),
  'ü€𝄞 '.repeat(5_000),
  // Incompressible, several times the first output buffer: the output grows during one call.
  randomBytes(200 * 1024).toString('base64'),
  'a'.repeat(1024 * 1024),
];

describe('gzip with one reused engine', () => {
  it('gives the bytes gzipSync gives at the same level, call after call', () => {
    const gzip = reusableGzip(9);
    for (let round = 0; round < 2; round++) {
      for (const text of texts()) expect(gzip(text).equals(zlib.gzipSync(text, { level: 9 }))).toBe(true);
    }
  });

  it('gives every random text back through gunzip', () => {
    const gzip = reusableGzip(9);
    const random = seededRandom(7);
    for (let i = 0; i < 300; i++) {
      const text = Array.from({ length: Math.floor(random() * 3000) }, () =>
        String.fromCodePoint(Math.floor(random() * 0x2fff)),
      ).join('');
      expect(zlib.gunzipSync(gzip(text)).toString('utf8')).toBe(text);
    }
  });

  // The fallback gives the same bytes, so the tests above would pass on a Node.js whose zlib streams no
  // longer have the internals src/gzip.ts reads (`_handle.writeSync`, `_writeState`): this one fails there.
  it('drives the engine itself on this Node.js, never falling back', () => {
    const gzipSync = vi.spyOn(zlib, 'gzipSync');
    try {
      const gzip = reusableGzip(9);
      for (const text of texts()) gzip(text);
      expect(gzipSync).not.toHaveBeenCalled();
    } finally {
      gzipSync.mockRestore();
    }
  });

  it('falls back to gzipSync when the engine has no internals to drive', () => {
    const closed = (): zlib.Gzip => {
      const engine = zlib.createGzip({ level: 9 });
      engine.close();
      return engine;
    };
    const gzip = reusableGzip(9, closed);
    const text = texts()[2] as string;
    const gzipSync = vi.spyOn(zlib, 'gzipSync');
    try {
      const compressed = gzip(text);
      expect(gzipSync).toHaveBeenCalledTimes(1);
      gzipSync.mockRestore();
      expect(compressed.equals(zlib.gzipSync(text, { level: 9 }))).toBe(true);
    } finally {
      gzipSync.mockRestore();
    }
  });
});
