// A flame graph of a V8 CPU profile, for RESULTS.md: whoever works on the agent's hot path next
// sees where its time goes without a profiler of their own. Two pure steps: the samples of a
// window folded into stacks ("root;caller;callee" → samples, the format of Brendan Gregg's
// flamegraph.pl), then those stacks drawn as a standalone SVG (roots at the bottom, each frame as
// wide as its share of the samples, its name, samples and share in a tooltip).
import { type CpuProfile, busySamples, frameName } from './cpu-profile.js';

/** Stacks of the busy samples between `fromUs` and `toUs`, outermost frame first, joined by ';'. */
export function foldedStacks(profile: CpuProfile, fromUs: number, toUs: number): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const stackOf = new Map<number, string>();
  const folded = new Map<string, number>();
  for (const id of busySamples(profile, fromUs, toUs)) {
    let stack = stackOf.get(id);
    if (stack === undefined) {
      const frames: string[] = [];
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        const node = byId.get(n)!;
        if (node.callFrame.functionName === '(root)') break;
        // ';' separates frames in the folded format.
        frames.push(frameName(node.callFrame).replaceAll(';', ','));
      }
      stack = frames.reverse().join(';');
      stackOf.set(id, stack);
    }
    folded.set(stack, (folded.get(stack) ?? 0) + 1);
  }
  return folded;
}

interface Frame { name: string; samples: number; children: Map<string, Frame> }

function tree(folded: ReadonlyMap<string, number>): Frame {
  const root: Frame = { name: 'all', samples: 0, children: new Map() };
  for (const [stack, n] of folded) {
    root.samples += n;
    let at = root;
    for (const name of stack.split(';')) {
      if (name === '') continue;
      let c = at.children.get(name);
      if (c === undefined) at.children.set(name, (c = { name, samples: 0, children: new Map() }));
      c.samples += n;
      at = c;
    }
  }
  return root;
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A warm colour per name (the same name, the same colour, from graph to graph). */
function colour(name: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const r = 205 + ((h >>> 0) % 50);
  const g = 80 + ((h >>> 8) % 150);
  const b = (h >>> 16) % 55;
  return `rgb(${r},${g},${b})`;
}

export interface FlameGraphOptions {
  title: string;
  /** Width in pixels. */
  width?: number;
  /** Frames narrower than this many pixels are left out (with their callees). */
  minWidth?: number;
}

const ROW = 16;
const CHAR_PX = 6.5;

/** `folded` as a standalone SVG flame graph. */
export function flameGraphSvg(folded: ReadonlyMap<string, number>, opts: FlameGraphOptions): string {
  const width = opts.width ?? 1200;
  const minWidth = opts.minWidth ?? 0.5;
  const root = tree(folded);
  const total = Math.max(1, root.samples);
  const scale = (width - 20) / total;
  const rects: Array<{ x: number; depth: number; w: number; frame: Frame }> = [];
  let maxDepth = 0;
  const place = (f: Frame, x: number, depth: number): void => {
    const w = f.samples * scale;
    if (w < minWidth) return;
    rects.push({ x, depth, w, frame: f });
    maxDepth = Math.max(maxDepth, depth);
    let cx = x;
    // Children by name, as flamegraph.pl orders them: the x axis is not time.
    for (const c of [...f.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      place(c, cx, depth + 1);
      cx += c.samples * scale;
    }
  };
  place(root, 10, 0);
  const height = (maxDepth + 1) * ROW + 50;
  const out = [
    '<?xml version="1.0" standalone="no"?>',
    `<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Verdana, sans-serif" font-size="11">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#f8f8f8"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(opts.title)}</text>`,
  ];
  for (const r of rects) {
    const y = height - 10 - (r.depth + 1) * ROW;
    const share = (100 * r.frame.samples) / total;
    const tip = `${r.frame.name} (${r.frame.samples} samples, ${share.toFixed(2)} %)`;
    const fits = Math.floor((r.w - 6) / CHAR_PX);
    const label = fits < 3 ? '' : r.frame.name.length <= fits ? r.frame.name : `${r.frame.name.slice(0, fits - 2)}..`;
    out.push(`<g><title>${escapeXml(tip)}</title><rect x="${r.x.toFixed(1)}" y="${y}" width="${r.w.toFixed(1)}" height="${ROW - 1}" rx="2" fill="${r.depth === 0 ? '#d0d0d0' : colour(r.frame.name)}"/>`
      + (label === '' ? '' : `<text x="${(r.x + 3).toFixed(1)}" y="${y + ROW - 4}">${escapeXml(label)}</text>`) + '</g>');
  }
  out.push('</svg>', '');
  return out.join('\n');
}
