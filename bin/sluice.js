#!/usr/bin/env node
import { main, programName } from '../dist/src/cli/main.js';

// Also installed as kubectl-sluice: kubectl runs a plugin with the arguments after its name, so
// `kubectl sluice status -n shop` arrives here as `status -n shop`, as `sluice status -n shop` does.
process.exitCode = await main(process.argv.slice(2), programName(process.argv[1]));
