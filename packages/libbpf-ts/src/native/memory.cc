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

// setMmapThreshold(bytes) → true when set: glibc's mallopt(M_MMAP_THRESHOLD), which also turns off
// the threshold's own adjustment (a freed mmapped block raises it to that block's size, after which
// blocks of that size come from the heap and leave it fragmented).
Napi::Value SetMmapThreshold(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "setMmapThreshold(bytes: number)").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
#ifdef __GLIBC__
  int64_t bytes = info[0].As<Napi::Number>().Int64Value();
  if (bytes <= 0 || bytes > (32 << 20)) return Napi::Boolean::New(info.Env(), false);
  return Napi::Boolean::New(info.Env(), mallopt(M_MMAP_THRESHOLD, static_cast<int>(bytes)) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("releaseFreeMemory", Napi::Function::New(env, ReleaseFreeMemory, "releaseFreeMemory"));
  exports.Set("setMmapThreshold", Napi::Function::New(env, SetMmapThreshold, "setMmapThreshold"));
}

}  // namespace lbts
