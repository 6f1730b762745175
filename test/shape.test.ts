import { describe, expect, it } from 'vitest';
import {
  array,
  boolean,
  explain,
  integer,
  literal,
  looseObject,
  nonEmptyString,
  oneOf,
  optional,
  record,
  string,
  union,
} from '../src/shape.js';

const port = looseObject({
  name: optional(string),
  containerPort: integer,
  protocol: optional(oneOf(['TCP', 'UDP'])),
});
const container = looseObject({
  name: nonEmptyString('a container needs a name'),
  ports: optional(array(port)),
});
const pod = looseObject({
  kind: literal('Pod', 'kind must be Pod'),
  labels: optional(record(string)),
  hostNetwork: optional(boolean),
  containers: array(container),
});

describe('shapes', () => {
  it('accept a value with the named fields and any others, leaving it as it is', () => {
    const value = Object.freeze({
      kind: 'Pod',
      extra: { anything: [1, null] },
      containers: [Object.freeze({ name: 'app', ports: [{ containerPort: 80, protocol: 'TCP' }] })],
    });
    expect(pod(value)).toBe(true);
    expect(explain(pod, value)).toEqual([]);
  });

  it('explain every place where a value differs, with its path', () => {
    const value = {
      kind: 'Service',
      labels: { app: 'x', tier: 3 },
      containers: [
        { name: '' },
        { name: 'b', ports: [{ containerPort: 1.5 }, { containerPort: 80, protocol: 'SCTP' }] },
      ],
    };
    expect(pod(value)).toBe(false);
    expect(explain(pod, value)).toEqual([
      { path: ['kind'], message: 'kind must be Pod' },
      { path: ['labels', 'tier'], message: 'expected string, received number' },
      { path: ['containers', 0, 'name'], message: 'a container needs a name' },
      { path: ['containers', 1, 'ports', 0, 'containerPort'], message: 'expected integer, received number' },
      { path: ['containers', 1, 'ports', 1, 'protocol'], message: 'expected one of "TCP"|"UDP"' },
    ]);
  });

  it('take an optional field as absent or undefined, never null', () => {
    const shape = looseObject({ name: optional(string) });
    expect(shape({})).toBe(true);
    expect(shape({ name: undefined })).toBe(true);
    expect(shape({ name: null })).toBe(false);
    expect(explain(shape, { name: null })).toEqual([
      { path: ['name'], message: 'expected string, received null' },
    ]);
  });

  it('call a missing required field by what was expected', () => {
    expect(explain(pod, { kind: 'Pod' })).toEqual([
      { path: ['containers'], message: 'expected array, received undefined' },
    ]);
  });

  it('take an object to be neither null nor an array', () => {
    for (const value of [null, [], 'x', 1]) expect(looseObject({})(value)).toBe(false);
    expect(record(string)([])).toBe(false);
    expect(explain(record(string), [])).toEqual([{ path: [], message: 'expected object, received array' }]);
  });

  it('take integers only as far as they are exact', () => {
    for (const good of [0, -1, 65535, Number.MAX_SAFE_INTEGER]) expect(integer(good)).toBe(true);
    for (const bad of [1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity, '80'])
      expect(integer(bad)).toBe(false);
  });

  it('take a union when either side takes it, and name both when neither does', () => {
    const intOrString = union(integer, string, 'integer or string');
    expect(intOrString(8080)).toBe(true);
    expect(intOrString('http')).toBe(true);
    expect(explain(intOrString, true)).toEqual([
      { path: [], message: 'expected integer or string, received boolean' },
    ]);
  });

  it('check only own values of a record', () => {
    const inherited = Object.create({ bad: 1 }) as Record<string, unknown>;
    inherited['good'] = 'x';
    expect(record(string)(inherited)).toBe(true);
  });
});
