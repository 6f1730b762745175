import { describe, expect, it } from 'vitest';
import {
  encodeGrpcMessage,
  grpcStatusFromHttp,
  grpcStatusFromReset,
  grpcStatusLabel,
  isGrpc,
  parseGrpcTimeout,
  readGrpcStatus,
} from '../../proxy/h2/grpc.js';

describe("the proxy's reading of gRPC", () => {
  it('knows a gRPC call by its content-type', () => {
    expect(isGrpc('application/grpc')).toBe(true);
    expect(isGrpc('application/grpc+proto')).toBe(true);
    expect(isGrpc('application/json')).toBe(false);
    expect(isGrpc(undefined)).toBe(false);
  });

  it('reads grpc-timeout in every unit, and nothing malformed', () => {
    expect(parseGrpcTimeout('100m')).toBe(100);
    expect(parseGrpcTimeout('2S')).toBe(2_000);
    expect(parseGrpcTimeout('1M')).toBe(60_000);
    expect(parseGrpcTimeout('1H')).toBe(3_600_000);
    expect(parseGrpcTimeout('5000u')).toBe(5);
    expect(parseGrpcTimeout('3000000n')).toBeCloseTo(3);
    expect(parseGrpcTimeout('123456789m')).toBeUndefined();
    expect(parseGrpcTimeout('10x')).toBeUndefined();
    expect(parseGrpcTimeout(undefined)).toBeUndefined();
  });

  it('labels a status within the 17 codes gRPC defines, and anything else as other', () => {
    expect(grpcStatusLabel(0)).toBe('0');
    expect(grpcStatusLabel(16)).toBe('16');
    expect(grpcStatusLabel(17)).toBe('other');
    expect(grpcStatusLabel(-1)).toBe('other');
  });

  it('reads grpc-status, a malformed one as UNKNOWN', () => {
    expect(readGrpcStatus({ 'grpc-status': '0' })).toBe(0);
    expect(readGrpcStatus({ 'grpc-status': '14' })).toBe(14);
    expect(readGrpcStatus({ 'grpc-status': 'nope' })).toBe(2);
    expect(readGrpcStatus({})).toBeUndefined();
  });

  it('maps HTTP statuses and stream resets as gRPC clients do', () => {
    expect(grpcStatusFromHttp(503)).toBe(14);
    expect(grpcStatusFromHttp(404)).toBe(12);
    expect(grpcStatusFromHttp(200)).toBe(2);
    expect(grpcStatusFromReset(8)).toBe(1);
    expect(grpcStatusFromReset(7)).toBe(14);
    expect(grpcStatusFromReset(2)).toBe(13);
  });

  it('percent-encodes grpc-message', () => {
    expect(encodeGrpcMessage('upstream failed: 100% (é)')).toBe('upstream failed: 100%25 (%C3%A9)');
  });
});
