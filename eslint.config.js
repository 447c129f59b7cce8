// Lint rules every contributor gets for free: typescript-eslint's recommended set, with
// formatting left to prettier. Rules are switched off only where the codebase has a reason,
// written beside each one.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-test/**', 'dist-bench/**', 'var/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', module: 'writable', require: 'readonly' } },
  },
  {
    rules: {
      // `_name` marks a parameter kept for its position in a callback signature.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          caughtErrors: 'none',
        },
      ],
      // Names, refs and messages are checked for control characters on purpose.
      'no-control-regex': 'off',
    },
  },
);
