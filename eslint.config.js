import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bin/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The CLI's human output (commands' own output included) and the benchmarks' reports are the only
    // places that print.
    files: ['src/cli/**', 'src/*/command.ts', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
);
