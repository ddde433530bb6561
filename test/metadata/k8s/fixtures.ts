// The recorded-looking API objects of test/fixtures/k8s/, each a fresh copy.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = new URL(import.meta.url.includes('/dist/') ? '../../../../test/fixtures/k8s/' : '../../fixtures/k8s/', import.meta.url);

export function fixture(name: string): Record<string, any> {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`${name}.json`, dir)), 'utf8')) as Record<string, any>;
}
