/** A key as one segment of a JSON Pointer (RFC 6901): `~` is written `~0`, `/` is written `~1`. */
export function escapePointer(token: string): string {
  return token.includes('~') || token.includes('/') ? token.replace(/~/g, '~0').replace(/\//g, '~1') : token;
}
