// ESLint: typescript-eslint's type-aware rules where they catch real bugs (floating and misused
// promises, unsafe any); formatting is Prettier's job (`npm run format`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'src/config/*.generated.ts', '.reexport/', 'var/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'bench/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // Finding control characters (NUL in values, LDIF's SAFE-STRING) is what those regexes are for.
      'no-control-regex': 'off',
      // Record fields are scalars by the time they are stringified (sources give strings, numbers).
      '@typescript-eslint/no-base-to-string': 'off',
      // Async functions that implement a Promise-returning port need no await.
      '@typescript-eslint/require-await': 'off',
      // It removed assertions that tsc needs (csv-parse's overloads, narrowed unknowns): a false
      // positive here breaks the build, a missed unnecessary assertion costs nothing.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    // Tests poke at results whose shape they assert; unsafe-any there is noise, not a bug.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // The demo's in-process directory is ldapjs, which ships no types: its request and response
    // objects are any by nature. Nothing outside src/demo/ touches ldapjs.
    files: ['src/demo/demo-directory.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
