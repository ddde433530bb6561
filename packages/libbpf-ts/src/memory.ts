// The process's own memory (see src/native/memory.cc).
import { native } from './native.js';

/**
 * Gives the C allocator's free pages back to the kernel (glibc malloc_trim): after a burst of large
 * reads, RSS falls to what is in use. A few milliseconds for a heap of ~100 MiB; false when nothing
 * was released (or not glibc).
 */
export function releaseFreeMemory(): boolean {
  return native.releaseFreeMemory();
}
