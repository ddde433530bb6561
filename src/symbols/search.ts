// The one search every address table here does: the last entry starting at or below an address.

/** Index of the last element of ascending `sorted` that is ≤ `x`, or -1 when all are greater. */
export function lastAtOrBelow<T extends number | bigint>(sorted: ArrayLike<T>, x: T): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
