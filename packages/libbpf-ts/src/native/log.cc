// libbpf print hook: captures libbpf's messages so failures carry them, and forwards them to JS in
// verbose mode.
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mutex>

#include "common.h"

namespace lbts {

namespace {

std::mutex g_mutex;
std::string g_capture;
int g_depth = 0;
// Verbose sink: a JS function called synchronously from the JS thread (libbpf prints during the
// calls we make from it); lines printed from another thread are kept only in the capture.
Napi::FunctionReference g_sink;

int PrintHook(enum libbpf_print_level level, const char* fmt, va_list args) {
  // libbpf prints a whole verifier log in one call: measure first, then format in full.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string line(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, args);
  line.resize(static_cast<size_t>(n));
  std::lock_guard<std::mutex> lock(g_mutex);
  // DEBUG lines are libbpf's running commentary; keep WARN/INFO (errors and the verifier log).
  if (g_depth > 0 && level != LIBBPF_DEBUG) {
    // Bound the capture: a verifier log can be megabytes; its tail holds the reason.
    if (g_capture.size() > (1 << 20)) g_capture.erase(0, g_capture.size() - (512 << 10));
    g_capture.append(line);
  }
  return 0;
}

}  // namespace

LogCapture::LogCapture() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_depth++ == 0) g_capture.clear();
}

LogCapture::~LogCapture() {
  std::lock_guard<std::mutex> lock(g_mutex);
  --g_depth;
}

std::string LogCapture::Text() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_capture;
}

void InstallPrintHook() { libbpf_set_print(PrintHook); }

std::string ErrnoText(int err) {
  if (err < 0) err = -err;
  char buf[256];
  const char* s = strerror_r(err, buf, sizeof buf);
  return std::string(s) + " (errno " + std::to_string(err) + ")";
}

static std::string ExtractVerifierLog(const std::string& log) {
  const std::string begin = "-- BEGIN PROG LOAD LOG --";
  const std::string end = "-- END PROG LOAD LOG --";
  size_t b = log.find(begin);
  if (b == std::string::npos) return "";
  b = log.find('\n', b);
  if (b == std::string::npos) return "";
  size_t e = log.find(end, b);
  return log.substr(b + 1, e == std::string::npos ? std::string::npos : e - b - 1);
}

Napi::Error BpfError(Napi::Env env, const std::string& code, const std::string& what, int err,
                     const std::string& log) {
  std::string message = what;
  if (err != 0) message += ": " + ErrnoText(err);
  std::string verifier = ExtractVerifierLog(log);
  if (!verifier.empty()) {
    // The verifier's last lines name the failing instruction and the reason: put them in the
    // message so a plain `console.error(err.message)` is already readable.
    size_t cut = verifier.size() > 1500 ? verifier.size() - 1500 : 0;
    message += "\nverifier log (tail):\n" + verifier.substr(cut);
  } else if (!log.empty()) {
    message += "\nlibbpf: " + log;
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err < 0 ? -err : err));
  e.Set("libbpfLog", Napi::String::New(env, log));
  if (!verifier.empty()) e.Set("verifierLog", Napi::String::New(env, verifier));
  return e;
}

bool GetBuffer(const Napi::Value& v, const char* name, Napi::Buffer<uint8_t>* out) {
  if (!v.IsBuffer()) {
    Napi::TypeError::New(v.Env(), std::string(name) + " must be a Buffer").ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::Buffer<uint8_t>>();
  return true;
}

}  // namespace lbts
