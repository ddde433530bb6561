// perf_event_open for sampling programs, and fd hygiene for the fds it returns.
#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

namespace lbts {

namespace {

// perfEventOpen({ type, config, sampleFreq?, samplePeriod?, pid, cpu, inherit? }) → fd
// Either a frequency (samples per second, the kernel adapts the period) or a fixed period.
Napi::Value PerfEventOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = o.Get("type").As<Napi::Number>().Uint32Value();
  attr.config = static_cast<__u64>(o.Get("config").As<Napi::Number>().Int64Value());
  if (o.Get("sampleFreq").IsNumber()) {
    attr.freq = 1;
    attr.sample_freq = static_cast<__u64>(o.Get("sampleFreq").As<Napi::Number>().Int64Value());
  } else if (o.Get("samplePeriod").IsNumber()) {
    attr.sample_period = static_cast<__u64>(o.Get("samplePeriod").As<Napi::Number>().Int64Value());
  }
  attr.inherit = o.Get("inherit").ToBoolean().Value();
  int pid = o.Get("pid").IsNumber() ? o.Get("pid").As<Napi::Number>().Int32Value() : -1;
  int cpu = o.Get("cpu").IsNumber() ? o.Get("cpu").As<Napi::Number>().Int32Value() : -1;
  int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) {
    int err = errno;
    LBTS_THROW(env, "LIBBPF_ERR_PERF_EVENT",
               "perf_event_open(type " + std::to_string(attr.type) + ", config " + std::to_string(attr.config) +
                   ", cpu " + std::to_string(cpu) + ") failed",
               err, "");
  }
  return Napi::Number::New(env, fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

}  // namespace

void InitPerf(Napi::Env env, Napi::Object exports) {
  exports.Set("perfEventOpen", Napi::Function::New(env, PerfEventOpen));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
}

}  // namespace lbts
