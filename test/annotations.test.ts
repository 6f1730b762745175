import { describe, expect, it } from 'vitest';
import {
  type AnnotationError,
  type CanaryConfig,
  defaultCanaryConfig,
  InvalidObjectiveError,
  parseCanaryAnnotations,
  parseObjective,
} from '../src/annotations.js';

const parse = (extra: Record<string, string>): CanaryConfig => {
  const result = parseCanaryAnnotations({ 'sluice.dev/canary': 'enabled', ...extra });
  if (!result.ok) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.config;
};

const errorsOf = (extra: Record<string, string>): readonly AnnotationError[] => {
  const result = parseCanaryAnnotations({ 'sluice.dev/canary': 'enabled', ...extra });
  if (result.ok) throw new Error('expected errors');
  return result.errors;
};

describe('canary annotations', () => {
  it('gives an opted-in Deployment the documented defaults', () => {
    const config = defaultCanaryConfig();
    expect(config).toMatchObject({
      enabled: true,
      port: null,
      intervalMs: 60_000,
      weights: [10, 20, 30, 40, 50],
      maxWeight: 50,
      threshold: 5,
      minRequests: 10,
      progressDeadlineMs: 30 * 60_000,
      match: [],
      segment: [],
      iterations: null,
      canaryReplicas: null,
      sticky: null,
      skipAnalysis: false,
      action: null,
      protocol: 'http',
      nativeSidecar: null,
      mirror: null,
      mirrorChecks: 2,
    });
    expect(config.objectives).toEqual([
      { name: 'success-rate', metric: 'success-rate', quantile: null, op: '>=', threshold: 99 },
      { name: 'p99-latency', metric: 'quantile-latency', quantile: 0.99, op: '<=', threshold: 500 },
    ]);
  });

  it('treats absent annotations as opted out', () => {
    const result = parseCanaryAnnotations(undefined);
    expect(result.ok && result.config.enabled).toBe(false);
  });

  it('returns a frozen config', () => {
    const config = parse({ 'sluice.dev/match': 'traffic=test' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.weights)).toBe(true);
    expect(Object.isFrozen(config.match[0])).toBe(true);
    expect(Object.isFrozen(config.objectives[0])).toBe(true);
  });

  it('steps by step-weight up to max-weight, ending exactly at the max', () => {
    expect(parse({ 'sluice.dev/step-weight': '20', 'sluice.dev/max-weight': '50' }).weights).toEqual([
      20, 40, 50,
    ]);
    expect(parse({ 'sluice.dev/step-weight': '60', 'sluice.dev/max-weight': '50' }).weights).toEqual([50]);
  });

  it('steps through an explicit list, whose last entry is the max unless max-weight is set', () => {
    expect(parse({ 'sluice.dev/step-weights': '1,5,10,25' })).toMatchObject({
      weights: [1, 5, 10, 25],
      maxWeight: 25,
    });
    expect(parse({ 'sluice.dev/step-weights': '1, 5, 10', 'sluice.dev/max-weight': '30' })).toMatchObject({
      weights: [1, 5, 10, 30],
      maxWeight: 30,
    });
  });

  it('refuses step-weight and step-weights together', () => {
    const [error] = errorsOf({ 'sluice.dev/step-weight': '5', 'sluice.dev/step-weights': '1,5' });
    expect(error?.message).toContain('set either sluice.dev/step-weight or sluice.dev/step-weights');
  });

  it('refuses a step above max-weight', () => {
    const [error] = errorsOf({ 'sluice.dev/step-weights': '10,80', 'sluice.dev/max-weight': '50' });
    expect(error?.annotation).toBe('sluice.dev/step-weights');
  });

  it.each([
    ['sluice.dev/step-weights', '5,1'],
    ['sluice.dev/step-weights', '0,10'],
    ['sluice.dev/step-weights', '10,,20'],
    ['sluice.dev/step-weight', '101'],
    ['sluice.dev/max-weight', '0'],
    ['sluice.dev/threshold', '0'],
    ['sluice.dev/threshold', '2.5'],
    ['sluice.dev/min-requests', '-1'],
    ['sluice.dev/interval', '4s'],
    ['sluice.dev/interval', 'soon'],
    ['sluice.dev/progress-deadline', '30'],
    ['sluice.dev/canary', 'yes'],
    ['sluice.dev/port', 'a-port-name-too-long'],
    ['sluice.dev/port', '70000'],
    ['sluice.dev/match', 'traffic'],
    ['sluice.dev/segment', 'x~(unclosed'],
    ['sluice.dev/sticky', 'bad header'],
    ['sluice.dev/skip-analysis', 'yes'],
    ['sluice.dev/action', 'rollback'],
    ['sluice.dev/canary-replicas', '0'],
    ['sluice.dev/objectives', 'success-rate=99%'],
  ])('denies %s: %j, naming the annotation and the value', (annotation, value) => {
    const errors = errorsOf({ [annotation]: value });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.annotation).toBe(annotation);
    expect(errors[0]?.value).toBe(value);
    expect(errors[0]?.message).toContain(annotation);
    expect(errors[0]?.message).toContain(`"${value}"`);
  });

  it('denies a regex that RE2 does not accept, saying which syntax and what to write', () => {
    expect(errorsOf({ 'sluice.dev/match': 'x-user~^(?!bot-)' })[0]?.message).toBe(
      'sluice.dev/match: "x-user~^(?!bot-)" is not valid: "x-user~^(?!bot-)": invalid regular expression ' +
        '(RE2 syntax): invalid or unsupported Perl syntax: `(?!` (lookahead and lookbehind are not supported); ' +
        'write header=value, header~regex or cookie:name=value',
    );
  });

  it('says what is allowed', () => {
    expect(errorsOf({ 'sluice.dev/interval': '2s' })[0]?.message).toBe(
      'sluice.dev/interval: "2s" is not valid: expected a duration of at least 5s',
    );
    expect(errorsOf({ 'sluice.dev/action': 'rollback' })[0]?.message).toBe(
      'sluice.dev/action: "rollback" is not valid: expected one of promote, abort, retry, pause, resume',
    );
  });

  it('reports every problem at once', () => {
    const errors = errorsOf({ 'sluice.dev/interval': '1s', 'sluice.dev/threshold': 'x' });
    expect(errors.map((e) => e.annotation).sort()).toEqual(['sluice.dev/interval', 'sluice.dev/threshold']);
  });

  it('reports an unknown sluice.dev annotation and suggests the one meant', () => {
    const [error] = errorsOf({ 'sluice.dev/stepweight': '5' });
    expect(error?.annotation).toBe('sluice.dev/stepweight');
    expect(error?.message).toContain('did you mean sluice.dev/step-weight?');
  });

  it('allows the annotations sluice manages and ignores other prefixes', () => {
    expect(() =>
      parse({
        'sluice.dev/stable-revision': 'abc',
        'sluice.dev/candidate-revision': 'def',
        'sluice.dev/candidate': 'H4sI',
        'sluice.dev/promote': 'def',
        'sluice.dev/injected': '0.1.0',
        'deployment.kubernetes.io/revision': '3',
      }),
    ).not.toThrow();
  });

  it('requires the progress deadline to be longer than the interval', () => {
    const [error] = errorsOf({ 'sluice.dev/interval': '10m', 'sluice.dev/progress-deadline': '5m' });
    expect(error?.annotation).toBe('sluice.dev/progress-deadline');
  });

  it('reads A/B mode, which needs a match', () => {
    expect(parse({ 'sluice.dev/iterations': '10', 'sluice.dev/match': 'traffic=test' }).iterations).toBe(10);
    expect(errorsOf({ 'sluice.dev/iterations': '10' })[0]?.message).toContain('set sluice.dev/match too');
  });

  it('reads mirroring and its checks', () => {
    expect(parse({ 'sluice.dev/mirror': '50' })).toMatchObject({ mirror: 50, mirrorChecks: 2 });
    expect(parse({ 'sluice.dev/mirror': '100', 'sluice.dev/mirror-checks': '5' })).toMatchObject({
      mirror: 100,
      mirrorChecks: 5,
    });
    for (const value of ['0', '101', '50%', 'half']) {
      const [error] = errorsOf({ 'sluice.dev/mirror': value });
      expect(error?.annotation).toBe('sluice.dev/mirror');
      expect(error?.message).toContain('a percentage from 1 to 100');
    }
  });

  it('refuses mirror-checks without a mirror, and mirroring an app that speaks HTTP/2', () => {
    const [checks] = errorsOf({ 'sluice.dev/mirror-checks': '3' });
    expect(checks?.annotation).toBe('sluice.dev/mirror-checks');
    expect(checks?.message).toContain('set sluice.dev/mirror too');
    const [grpc] = errorsOf({ 'sluice.dev/mirror': '10', 'sluice.dev/protocol': 'grpc' });
    expect(grpc?.annotation).toBe('sluice.dev/mirror');
    expect(grpc?.message).toContain('HTTP/1.1 requests only');
  });

  it('reads matches, segment and sticky key', () => {
    const config = parse({
      'sluice.dev/match': 'traffic=test,cookie:canary=always',
      'sluice.dev/segment': 'country=wakanda',
      'sluice.dev/sticky': 'cookie:session',
    });
    expect(config.match).toEqual([
      { header: 'traffic', exact: 'test' },
      { cookie: 'canary', exact: 'always' },
    ]);
    expect(config.segment).toEqual([{ header: 'country', exact: 'wakanda' }]);
    expect(config.sticky).toBe('cookie:session');
  });

  it('reads the port by number or name, the action and skip-analysis', () => {
    expect(parse({ 'sluice.dev/port': '9898' }).port).toBe(9898);
    expect(parse({ 'sluice.dev/port': 'http' }).port).toBe('http');
    expect(parse({ 'sluice.dev/action': 'pause' }).action).toBe('pause');
    expect(parse({ 'sluice.dev/skip-analysis': 'true' }).skipAnalysis).toBe(true);
  });

  it("reads the app's protocol and where the proxy goes", () => {
    expect(parse({ 'sluice.dev/protocol': 'grpc' }).protocol).toBe('grpc');
    expect(parse({ 'sluice.dev/protocol': ' h2c ' }).protocol).toBe('h2c');
    expect(parse({ 'sluice.dev/native-sidecar': 'true' }).nativeSidecar).toBe(true);
    expect(parse({ 'sluice.dev/native-sidecar': 'false' }).nativeSidecar).toBe(false);
    expect(errorsOf({ 'sluice.dev/protocol': 'http2' })[0]?.message).toBe(
      'sluice.dev/protocol: "http2" is not valid: expected one of http, h2c, grpc',
    );
  });
});

describe('objectives', () => {
  it('reads Iter8-style objectives', () => {
    expect(
      parse({ 'sluice.dev/objectives': 'error-rate<1%, mean-latency<50ms, p95-latency<100ms' }).objectives,
    ).toEqual([
      { name: 'error-rate', metric: 'error-rate', quantile: null, op: '<', threshold: 1 },
      { name: 'mean-latency', metric: 'mean-latency', quantile: null, op: '<', threshold: 50 },
      { name: 'p95-latency', metric: 'quantile-latency', quantile: 0.95, op: '<', threshold: 100 },
    ]);
  });

  it.each([
    ['success-rate>99.5%', { op: '>', threshold: 99.5 }],
    ['success-rate>=99', { op: '>=', threshold: 99 }],
    ['p50-latency<=1.5s', { quantile: 0.5, op: '<=', threshold: 1500 }],
    ['p99.9-latency<2s', { quantile: 0.999, op: '<', threshold: 2000 }],
  ])('reads %s', (text, expected) => {
    expect(parseObjective(text)).toMatchObject(expected);
  });

  it.each([
    'success-rate',
    'success-rate>=101%',
    'error-rate<fast',
    'p99-latency<1%',
    'p10-latency<1s',
    'p100-latency<1s',
    'throughput>10',
  ])('rejects %j', (text) => {
    expect(() => parseObjective(text)).toThrow(InvalidObjectiveError);
  });

  it('names the bad objective and the syntax in the denial', () => {
    const [error] = errorsOf({ 'sluice.dev/objectives': 'success-rate>=99%,throughput>10' });
    expect(error?.message).toContain('unknown metric "throughput"');
    expect(error?.message).toContain('p50-latency … p99.9-latency');
  });
});
