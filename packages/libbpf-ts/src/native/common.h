// Shared helpers of the libbpf-ts addon: libbpf log capture and error construction.
#pragma once

#include <napi.h>

#include <string>

namespace lbts {

// libbpf reports through one global print callback. Every libbpf call that can fail is made on the
// JS thread, so a single capture buffer, active for the duration of one call, is enough to attach
// libbpf's own explanation (including the verifier log) to the Error we throw.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  std::string Text() const;
};

void InstallPrintHook();

// Builds an Error with `code`, `errno`, `libbpfLog` and, when the log holds one, `verifierLog`.
Napi::Error BpfError(Napi::Env env, const std::string& code, const std::string& what, int err,
                     const std::string& log);

// Throws (as a JS exception) and returns an empty value for the caller to return.
#define LBTS_THROW(env, code, what, err, log)                       \
  do {                                                              \
    ::lbts::BpfError((env), (code), (what), (err), (log)).ThrowAsJavaScriptException(); \
    return Napi::Value();                                           \
  } while (0)

std::string ErrnoText(int err);

// Reads a Buffer argument or throws a TypeError naming it.
bool GetBuffer(const Napi::Value& v, const char* name, Napi::Buffer<uint8_t>* out);

void InitObject(Napi::Env env, Napi::Object exports);
void InitMap(Napi::Env env, Napi::Object exports);
void InitRingBuffer(Napi::Env env, Napi::Object exports);
void InitPerf(Napi::Env env, Napi::Object exports);
void InitProbe(Napi::Env env, Napi::Object exports);
void InitMemory(Napi::Env env, Napi::Object exports);
void InitSched(Napi::Env env, Napi::Object exports);
void InitIdleGuard(Napi::Env env, Napi::Object exports);

}  // namespace lbts
