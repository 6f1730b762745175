import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { constants, gunzipSync, gzipSync } from 'node:zlib';

/**
 * The payload of `sluice.dev/candidate` (DESIGN.md, "Held changes"): the held template or data as JSON,
 * gzip-compressed and base64-encoded; for Secrets also sealed with AES-256-GCM, so that no secret value is
 * ever stored in an annotation in clear. The webhook writes it, the controller reads it.
 */

/** Annotations hold 256 KiB in all; the rest is left to the object's other annotations. */
export const MAX_CANDIDATE_BYTES = 200 * 1024;
export const SEAL_KEY_BYTES = 32;
const SEALED_PREFIX = 'sealed.v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class CandidateTooLargeError extends Error {
  readonly code = 'CandidateTooLarge';
  constructor(readonly bytes: number) {
    super(
      `the held change is ${Math.ceil(bytes / 1024)} KiB after compression, more than the ${MAX_CANDIDATE_BYTES / 1024} KiB an annotation can hold`,
    );
    this.name = 'CandidateTooLargeError';
  }
}

export class CandidateUnreadableError extends Error {
  readonly code = 'CandidateUnreadable';
  constructor(reason: string, options?: ErrorOptions) {
    super(`sluice.dev/candidate cannot be read: ${reason}`, options);
    this.name = 'CandidateUnreadableError';
  }
}

export class InvalidSealKeyError extends Error {
  readonly code = 'InvalidSealKey';
  constructor(length: number) {
    super(
      `a seal key is ${SEAL_KEY_BYTES} bytes (raw, or written as base64 or hex); this one is ${length} bytes`,
    );
    this.name = 'InvalidSealKeyError';
  }
}

/** A key for sealing Secret candidates: one subkey encrypts, the other derives each message's IV. */
export interface SealKey {
  readonly encryption: Buffer;
  readonly iv: Buffer;
}

/** Reads a key file's content: 32 raw bytes, or 32 bytes as base64 or hex (trailing newline allowed). */
export function parseSealKey(content: Buffer): SealKey {
  const text = content.toString('utf8').trim();
  const candidates = [
    /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : undefined,
    /^[A-Za-z0-9+/]{43}=?$/.test(text) ? Buffer.from(text, 'base64') : undefined,
    content,
  ];
  const key = candidates.find((k) => k?.length === SEAL_KEY_BYTES);
  if (key === undefined) throw new InvalidSealKeyError(content.length);
  const derive = (info: string): Buffer =>
    Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `sluice candidate ${info}`, SEAL_KEY_BYTES));
  return Object.freeze({ encryption: derive('encryption'), iv: derive('iv') });
}

/**
 * The annotation value for a candidate; throws CandidateTooLargeError when it would not fit. Compressed at
 * zlib's best level: a change that fits an annotation only when compressed hardest must not be refused.
 */
export function encodeCandidate(value: unknown, key?: SealKey): string {
  const compressed = gzipSync(JSON.stringify(value), { level: constants.Z_BEST_COMPRESSION });
  const encoded = key === undefined ? compressed.toString('base64') : SEALED_PREFIX + seal(compressed, key);
  if (encoded.length > MAX_CANDIDATE_BYTES) throw new CandidateTooLargeError(encoded.length);
  return encoded;
}

/** The candidate back from its annotation value; a sealed one needs the key. */
export function decodeCandidate(encoded: string, key?: SealKey): unknown {
  let compressed: Buffer;
  if (encoded.startsWith(SEALED_PREFIX)) {
    if (key === undefined) throw new CandidateUnreadableError('it is sealed and no seal key was given');
    compressed = unseal(encoded.slice(SEALED_PREFIX.length), key);
  } else {
    compressed = Buffer.from(encoded, 'base64');
  }
  try {
    return JSON.parse(gunzipSync(compressed, { maxOutputLength: 16 * 1024 * 1024 }).toString('utf8'));
  } catch (err) {
    throw new CandidateUnreadableError('it is not gzip-compressed JSON', { cause: err });
  }
}

export function isSealed(encoded: string): boolean {
  return encoded.startsWith(SEALED_PREFIX);
}

/**
 * The IV is an HMAC of the plaintext (a synthetic IV), not random: the same data seals to the same text, so
 * that admitting an object twice gives the same answer, and two different plaintexts never share an IV.
 */
function seal(plain: Buffer, key: SealKey): string {
  const iv = createHmac('sha256', key.iv).update(plain).digest().subarray(0, IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.encryption, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

function unseal(text: string, key: SealKey): Buffer {
  const raw = Buffer.from(text, 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES)
    throw new CandidateUnreadableError('the sealed payload is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key.encryption, raw.subarray(0, IV_BYTES));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw new CandidateUnreadableError('it was sealed with another key, or altered', { cause: err });
  }
}
