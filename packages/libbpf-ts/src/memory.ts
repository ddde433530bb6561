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

/**
 * Blocks of `bytes` and more are mmapped by the C allocator, each given back to the kernel when
 * freed (glibc mallopt M_MMAP_THRESHOLD, at most 32 MiB). Setting it also stops glibc from raising the
 * threshold by itself to the size of each large block freed, which otherwise sends later blocks of
 * that size to the heap, where freed ones stay resident. False when not set (or not glibc).
 */
export function setMmapThreshold(bytes: number): boolean {
  return native.setMmapThreshold(bytes);
}
