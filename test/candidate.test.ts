import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  CandidateTooLargeError,
  CandidateUnreadableError,
  decodeCandidate,
  encodeCandidate,
  InvalidSealKeyError,
  isSealed,
  MAX_CANDIDATE_BYTES,
  parseSealKey,
} from '../src/candidate.js';
import { seededRandom } from './support/random.js';

const key = parseSealKey(randomBytes(32));

describe('held candidates', () => {
  it('round-trip through gzip and base64', () => {
    const value = { revision: 'abc', template: { spec: { containers: [{ name: 'a' }] } } };
    const encoded = encodeCandidate(value);
    expect(isSealed(encoded)).toBe(false);
    expect(decodeCandidate(encoded)).toEqual(value);
  });

  it('sealed, show no secret value and unseal with the key', () => {
    const value = { data: { password: Buffer.from('hunter2').toString('base64') } };
    const sealed = encodeCandidate(value, key);
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain(value.data.password);
    expect(decodeCandidate(sealed, key)).toEqual(value);
  });

  it('seal the same data to the same text, and different data to different texts', () => {
    expect(encodeCandidate({ a: 1 }, key)).toBe(encodeCandidate({ a: 1 }, key));
    expect(encodeCandidate({ a: 1 }, key)).not.toBe(encodeCandidate({ a: 2 }, key));
  });

  it('sealed, cannot be read without the key, or with another', () => {
    const sealed = encodeCandidate({ a: 1 }, key);
    expect(() => decodeCandidate(sealed)).toThrow(CandidateUnreadableError);
    expect(() => decodeCandidate(sealed, parseSealKey(randomBytes(32)))).toThrow(CandidateUnreadableError);
  });

  it('sealed and altered, is refused', () => {
    const sealed = encodeCandidate({ a: 1 }, key);
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(() => decodeCandidate(tampered, key)).toThrow(CandidateUnreadableError);
  });

  it('over 200 KiB after compression are refused', () => {
    const noise = randomBytes(160 * 1024).toString('base64');
    expect(() => encodeCandidate({ noise })).toThrow(CandidateTooLargeError);
  });

  it('that fit only when compressed harder are compressed harder, not refused', () => {
    const random = seededRandom(73_700);
    const words = Array.from({ length: 4096 }, (_, i) => `${i.toString(36)}x`);
    const value = {
      text: Array.from({ length: 73_700 }, () => words[Math.floor(random() * 4096)]).join(' '),
    };
    const base64Length = (level: number) =>
      Math.ceil(gzipSync(JSON.stringify(value), { level }).length / 3) * 4;
    expect(base64Length(1)).toBeGreaterThan(MAX_CANDIDATE_BYTES);
    expect(base64Length(9)).toBeLessThanOrEqual(MAX_CANDIDATE_BYTES);
    const encoded = encodeCandidate(value);
    expect(encoded.length).toBe(base64Length(9));
    expect(decodeCandidate(encoded)).toEqual(value);
  });

  it('that compress well fit even when large', () => {
    expect(() => encodeCandidate({ text: 'a'.repeat(1024 * 1024) })).not.toThrow();
  });

  it('that are not gzip JSON are unreadable', () => {
    expect(() => decodeCandidate('bm90IGd6aXA=')).toThrow(CandidateUnreadableError);
  });
});

describe('seal keys', () => {
  it('are read as raw bytes, hex or base64', () => {
    const raw = randomBytes(32);
    const sealed = encodeCandidate({ a: 1 }, parseSealKey(raw));
    expect(decodeCandidate(sealed, parseSealKey(Buffer.from(raw.toString('hex') + '\n')))).toEqual({ a: 1 });
    expect(decodeCandidate(sealed, parseSealKey(Buffer.from(raw.toString('base64'))))).toEqual({ a: 1 });
  });

  it('of the wrong length are refused', () => {
    expect(() => parseSealKey(Buffer.from('short'))).toThrow(InvalidSealKeyError);
  });
});
