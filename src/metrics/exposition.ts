import { BadExpositionError } from './errors.js';

/** One sample of the Prometheus text exposition format: `name{label="value"} 12`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', n: '\n' };

/** Parses the text format (version 0.0.4); comments and blank lines are skipped. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (sample === null) throw new BadExpositionError(i + 1, line);
    samples.push(sample);
  }
  return samples;
}

function parseLine(line: string): Sample | null {
  NAME.lastIndex = 0;
  const name = NAME.exec(line)?.[0];
  if (name === undefined) return null;
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at++;
    for (;;) {
      while (line[at] === ' ' || line[at] === ',') at++;
      if (line[at] === '}') break;
      LABEL_NAME.lastIndex = at;
      const label = LABEL_NAME.exec(line)?.[0];
      if (label === undefined || line[at + label.length] !== '=' || line[at + label.length + 1] !== '"') {
        return null;
      }
      at += label.length + 2;
      let value = '';
      while (at < line.length && line[at] !== '"') {
        if (line[at] === '\\') {
          const escaped = ESCAPES[line[at + 1] ?? ''];
          if (escaped === undefined) return null;
          value += escaped;
          at += 2;
        } else {
          value += line[at++];
        }
      }
      if (at >= line.length) return null;
      labels[label] = value;
      at++;
    }
    at++;
  }
  const [valueText] = line.slice(at).trim().split(/\s+/);
  const value = parseValue(valueText ?? '');
  return value === null ? null : { name, labels, value };
}

function parseValue(text: string): number | null {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (text === '' || Number.isNaN(Number(text))) return null;
  return Number(text);
}

/** A stable key for a series: its name and sorted labels. */
export function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}
