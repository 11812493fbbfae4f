/** Every committed `<name>-wasm.ts` under compiler/ and runtime/ is what scripts/build-wasm.ts assembles from its committed `<name>.wat`. */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assembleWat, constantName, wasmModulePath, watFiles } from '../scripts/build-wasm.ts';

const files = watFiles();

describe('generated WebAssembly modules are up to date (run `npm run build:wasm`)', () => {
  it('finds the kernels', () => {
    expect(files).toContain('runtime/snn/wasm/kernels.wat');
    expect(files).toContain('compiler/ops/kernels/conv.wat');
  });

  it.each(files)('%s', async (wat) => {
    const out = wasmModulePath(wat);
    expect(existsSync(out), `${out} is missing`).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe(await assembleWat(readFileSync(wat, 'utf8'), wat));
  });

  it('names the simulator kernels as before', () => {
    expect(wasmModulePath('runtime/snn/wasm/kernels.wat')).toBe('runtime/snn/wasm/kernels-wasm.ts');
    expect(constantName('runtime/snn/wasm/kernels.wat')).toBe('KERNELS_WASM_BASE64');
    expect(constantName('compiler/ops/kernels/conv.wat')).toBe('CONV_WASM_BASE64');
  });
});
