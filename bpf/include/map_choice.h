/* Maps chosen at run time, as double buffers are (user space reads one while the programs fill the
 * other). A helper call whose map is one of several is verified as any map's: the verifier leaves it
 * as the generic helper through the map's operations, where a call with one map gets the inlined
 * hash look-up and the direct update (bpftool's xlated code). So each map gets a call of its own. But
 * clang merges calls that differ only in their map into one, the map chosen by a select, unless
 * something after one of them differs: keep_apart() is that something, an empty asm. */
#ifndef LANTERN_MAP_CHOICE_H
#define LANTERN_MAP_CHOICE_H

#define keep_apart() asm volatile("" ::: "memory")

#endif
