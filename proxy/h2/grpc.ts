/**
 * What the proxy needs to know of gRPC (its HTTP/2 mapping, PROTOCOL-HTTP2.md in grpc/grpc): a call is a
 * POST whose content-type begins `application/grpc`; its outcome is `grpc-status` in the trailers, or in
 * the headers of a trailers-only answer; its deadline travels as `grpc-timeout`.
 */

export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
} as const;

/** The codes gRPC defines: 0 (OK) to 16 (UNAUTHENTICATED). */
const MAX_CODE = 16;

export function isGrpc(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}

/**
 * The metric label of a call's outcome, bounded: the code as the wire writes it ("0" … "16"), or
 * "other" for anything gRPC does not define.
 */
export function grpcStatusLabel(status: number): string {
  return Number.isInteger(status) && status >= 0 && status <= MAX_CODE ? String(status) : 'other';
}

/** The `grpc-status` of a header block, or undefined when it carries none. */
export function readGrpcStatus(headers: Readonly<Record<string, unknown>>): number | undefined {
  const value = headers['grpc-status'];
  if (typeof value !== 'string') return undefined;
  const n = Number(value);
  return value !== '' && Number.isInteger(n) ? n : GRPC_STATUS.UNKNOWN;
}

/** What a gRPC client makes of an answer without `grpc-status`, from its HTTP status (the spec's table). */
export function grpcStatusFromHttp(status: number): number {
  switch (status) {
    case 200:
      // A call that ended without saying how: the client reports it as UNKNOWN.
      return GRPC_STATUS.UNKNOWN;
    case 400:
      return GRPC_STATUS.INTERNAL;
    case 401:
      return GRPC_STATUS.UNAUTHENTICATED;
    case 403:
      return GRPC_STATUS.PERMISSION_DENIED;
    case 404:
      return GRPC_STATUS.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC_STATUS.UNAVAILABLE;
    default:
      return GRPC_STATUS.UNKNOWN;
  }
}

/** What a gRPC client makes of a stream reset with this HTTP/2 error code. */
export function grpcStatusFromReset(rstCode: number): number {
  switch (rstCode) {
    case 7: // REFUSED_STREAM
      return GRPC_STATUS.UNAVAILABLE;
    case 8: // CANCEL
      return GRPC_STATUS.CANCELLED;
    case 11: // ENHANCE_YOUR_CALM
      return GRPC_STATUS.RESOURCE_EXHAUSTED;
    case 12: // INADEQUATE_SECURITY
      return GRPC_STATUS.PERMISSION_DENIED;
    default:
      return GRPC_STATUS.INTERNAL;
  }
}

const TIMEOUT_UNITS_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** A `grpc-timeout` value ("100m", "5S": at most 8 digits and a unit) in milliseconds; undefined if malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * (TIMEOUT_UNITS_MS[match[2] as string] as number);
}

/** `grpc-message` is percent-encoded (its spec): what is not printable ASCII, and `%` itself. */
export function encodeGrpcMessage(message: string): string {
  return message.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) =>
    [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}
