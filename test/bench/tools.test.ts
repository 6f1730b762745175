import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MissingToolError, requireTools } from '../../bench/tools.js';

const savedPath = process.env['PATH'];
const dirs: string[] = [];
afterEach(() => {
  process.env['PATH'] = savedPath;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A PATH of one directory holding executables of these names. */
function pathWith(...commands: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-path-'));
  dirs.push(dir);
  for (const command of commands) {
    writeFileSync(join(dir, command), '#!/bin/sh\n');
    chmodSync(join(dir, command), 0o755);
  }
  return dir;
}

describe("the benchmark's tool check", () => {
  const tools = [
    { command: 'nginx', debianPackage: 'nginx-light' },
    { command: 'wrk', debianPackage: 'wrk' },
  ];

  it('names the Debian package of each missing tool', () => {
    process.env['PATH'] = pathWith('wrk');
    expect(() => requireTools(tools)).toThrow(MissingToolError);
    expect(() => requireTools(tools)).toThrow(
      /runs nginx, not found on PATH: install it .*apt-get install nginx-light\)/,
    );
    process.env['PATH'] = pathWith();
    expect(() => requireTools(tools)).toThrow(/apt-get install nginx-light wrk\)/);
  });

  it('passes when every tool is an executable on PATH', () => {
    process.env['PATH'] = pathWith('nginx', 'wrk');
    expect(() => requireTools(tools)).not.toThrow();
  });
});
