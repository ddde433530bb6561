// The agent's own memory: what a long-running process that reads many large files in bursts (an
// eBPF agent symbolizing and compiling unwind tables of every binary on a host) needs from the C
// allocator, which otherwise keeps freed pages — chiefly in the arenas of threads that have ended
// (a worker thread's, the ring-buffer consumer's) — for the life of the process.
#include <malloc.h>

#include "common.h"

namespace lbts {

namespace {

// releaseFreeMemory() → true when pages went back to the kernel: glibc's malloc_trim(0), which
// returns the free pages of every arena (not only the top of the main heap).
Napi::Value ReleaseFreeMemory(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("releaseFreeMemory", Napi::Function::New(env, ReleaseFreeMemory, "releaseFreeMemory"));
}

}  // namespace lbts
