// Entry point of the libbpf-ts Node-API addon.
#include "common.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lbts::InstallPrintHook();
  lbts::InitObject(env, exports);
  lbts::InitMap(env, exports);
  lbts::InitRingBuffer(env, exports);
  lbts::InitPerf(env, exports);
  lbts::InitProbe(env, exports);
  lbts::InitMemory(env, exports);
  lbts::InitSched(env, exports);
  lbts::InitIdleGuard(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lbts, Init)
