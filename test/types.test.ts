// Issue 12: the types catch mistakes. Compiles, under strict +
// noUncheckedIndexedAccess against the package's published .d.ts (dist/),
// the README's tour and "Use it in your project" code blocks and
// test/typecheck/api-types.ts.txt (type assertions: literal constants,
// getLine overloads, join tuples, select results by case; each
// expected-error directive must be an error).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The ```ts blocks of the README section titled `title`. */
function blocks(readme: string, title: string): string[] {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README section ${title}`);
  const end = readme.indexOf('\n## ', start + 4);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((x) => x[1]!);
}

function tsc(dir: string, files: string[]): { status: number | null; out: string } {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
        skipLibCheck: false,
        lib: ['ES2023'],
      },
      files,
    }),
  );
  const bin = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [bin, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('the README tour and the typed API compile under strict + noUncheckedIndexedAccess', () => {
  // Inside the package folder, so 'uringmachine' resolves to itself (dist/*.d.ts).
  const dir = join(root, 'out', 'typecheck');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const snippets = [...blocks(readme, 'A quick tour'), ...blocks(readme, 'Use it in your project')];
  assert.ok(snippets.length >= 3, 'README blocks found');
  const files = snippets.map((code, i) => {
    const f = `readme-${i}.mts`;
    writeFileSync(join(dir, f), `${code}\nexport {};\n`);
    return f;
  });
  writeFileSync(join(dir, 'api-types.mts'), readFileSync(join(root, 'test', 'typecheck', 'api-types.ts.txt'), 'utf8'));
  files.push('api-types.mts');
  const r = tsc(dir, files);
  assert.equal(r.status, 0, r.out);
});

test('the type checks can fail: a wrong expectation does not compile', () => {
  const dir = join(root, 'out', 'typecheck-neg');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'neg.mts'),
    [
      "import { constants, UringMachine } from 'uringmachine';",
      'const m = new UringMachine();',
      'const line: Buffer | null = await m.stream(0).getLine();', // a string | null
      'const n: number = constants.O_RDONYL;', // typo
      'const [x]: [string] = await m.join(m.spin(async () => 1), m.spin(async () => 2));', // number tuple of 2
      'void line; void n; void x;',
      'export {};',
    ].join('\n'),
  );
  const r = tsc(dir, ['neg.mts']);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /neg\.mts\(3,7\)/);
  assert.match(r.out, /neg\.mts\(4,29\).*O_RDONYL/);
  assert.match(r.out, /neg\.mts\(5,7\)/);
});
