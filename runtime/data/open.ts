/** Opens a source from its spec (in the thread that reads it; image decoding is loaded only when needed). */
import { ArraySource, openNpySource, type SampleSource, type SourceSpec } from './source.ts';

export async function openSource(spec: SourceSpec): Promise<SampleSource> {
  if (spec.kind === 'npy') return openNpySource(spec.path);
  if (spec.kind === 'array') return new ArraySource(spec);
  const { ImageSource } = await import('./images.ts');
  return new ImageSource(spec);
}
