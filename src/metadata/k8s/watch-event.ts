// One line of a watch response (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
// {"type":"ADDED"|"MODIFIED"|"DELETED","object":{…}}, {"type":"BOOKMARK","object":{"metadata":
// {"resourceVersion":"…"}}} (only the version: where to resume), or {"type":"ERROR","object":
// <Status>}, whose code 410 says the version asked for is too old to watch from: list again.
// Pure: a line that is none of these is 'malformed', never a throw.
import { resourceVersionOf } from './objects.js';

export type WatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: unknown; resourceVersion: string | null }
  | { type: 'BOOKMARK'; resourceVersion: string }
  | { type: 'ERROR'; code: number | null; message: string }
  | { type: 'malformed' };

export function parseWatchEvent(line: string): WatchEvent {
  let e: unknown;
  try {
    e = JSON.parse(line);
  } catch {
    return { type: 'malformed' };
  }
  if (e === null || typeof e !== 'object') return { type: 'malformed' };
  const { type, object } = e as { type?: unknown; object?: unknown };
  if (object === null || typeof object !== 'object') return { type: 'malformed' };
  switch (type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      return { type, object, resourceVersion: resourceVersionOf(object) };
    case 'BOOKMARK': {
      const rv = resourceVersionOf(object);
      return rv === null ? { type: 'malformed' } : { type, resourceVersion: rv };
    }
    case 'ERROR': {
      const { code, message } = object as { code?: unknown; message?: unknown };
      return { type, code: typeof code === 'number' ? code : null, message: typeof message === 'string' ? message.slice(0, 200) : '' };
    }
    default:
      return { type: 'malformed' };
  }
}
