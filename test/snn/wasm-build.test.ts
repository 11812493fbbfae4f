/** The committed kernel bytes are what scripts/build-wasm.ts assembles from the committed kernels.wat. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { assembleKernels } from '../../scripts/build-wasm.ts';

it('runtime/snn/wasm/kernels-wasm.ts is up to date with kernels.wat (run `npm run build:wasm`)', async () => {
  const wat = readFileSync('runtime/snn/wasm/kernels.wat', 'utf8');
  expect(readFileSync('runtime/snn/wasm/kernels-wasm.ts', 'utf8')).toBe(await assembleKernels(wat));
});
