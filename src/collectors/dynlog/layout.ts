// struct dl_plan (bpf/include/dynlog.h) as bytes for the dl_plans map.
import type { Capture, Operand } from './plan.js';

export const OPERAND_BYTES = 24;
export const CAPTURE_BYTES = 16 + 2 * OPERAND_BYTES;
export const PLAN_BYTES = 16 + 8 * CAPTURE_BYTES;
const KIND = { scalar: 1, bytes: 2 } as const;

export function encodePlan(p: { probeId: number; isReturn: boolean; goidOffset: number; captures: Capture[] }): Buffer {
  const b = Buffer.alloc(PLAN_BYTES);
  b.writeUInt32LE(p.probeId, 0);
  b.writeUInt8(p.isReturn ? 1 : 0, 4);
  b.writeUInt8(p.captures.length, 5);
  b.writeUInt32LE(p.goidOffset, 8);
  p.captures.forEach((c, i) => {
    const at = 16 + i * CAPTURE_BYTES;
    b.writeUInt8(KIND[c.kind], at);
    b.writeUInt32LE(c.kind === 'scalar' ? c.size : c.elemSize, at + 4);
    b.writeUInt32LE(c.bound, at + 8);
    writeOperand(b, at + 16, c.a);
    if (c.kind === 'bytes') writeOperand(b, at + 16 + OPERAND_BYTES, c.b);
  });
  return b;
}

function writeOperand(b: Buffer, at: number, o: Operand): void {
  b.writeUInt8(o.base, at);
  b.writeUInt8(o.derefs.length, at + 1);
  b.writeUInt8(o.mem ? 1 : 0, at + 2);
  b.writeInt32LE(o.off, at + 4);
  o.derefs.forEach((d, i) => b.writeInt32LE(d, at + 8 + 4 * i));
}
