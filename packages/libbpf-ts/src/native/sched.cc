// The scheduling policy of the agent's own threads. A tracing agent shares the CPUs with the
// applications it observes; under SCHED_IDLE its threads run only when nothing else wants the CPU,
// and a waking application thread preempts them at once (with SCHED_OTHER and any nice value, the
// kernel lets the running thread finish its slice first: up to a few milliseconds of an
// application's request spent waiting). Node has no binding for sched_setscheduler.
#include <errno.h>
#include <sched.h>
#include <sys/types.h>

#include "common.h"

namespace lbts {

namespace {

// setThreadIdle(tid, idle) → 0, or the errno: SCHED_IDLE when idle, else SCHED_OTHER (the nice
// value is kept). Leaving SCHED_IDLE needs CAP_SYS_NICE unless RLIMIT_NICE allows it.
Napi::Value SetThreadIdle(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) {
    Napi::TypeError::New(info.Env(), "setThreadIdle(tid: number, idle: boolean)").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  pid_t tid = info[0].As<Napi::Number>().Int32Value();
  sched_param param{};
  param.sched_priority = 0;
  int policy = info[1].As<Napi::Boolean>().Value() ? SCHED_IDLE : SCHED_OTHER;
  int rc = sched_setscheduler(tid, policy, &param);
  return Napi::Number::New(info.Env(), rc == 0 ? 0 : errno);
}

// threadIsIdle(tid) → whether the thread runs under SCHED_IDLE (false when it cannot be read).
Napi::Value ThreadIsIdle(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "threadIsIdle(tid: number)").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), sched_getscheduler(info[0].As<Napi::Number>().Int32Value()) == SCHED_IDLE);
}

}  // namespace

void InitSched(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadIdle", Napi::Function::New(env, SetThreadIdle, "setThreadIdle"));
  exports.Set("threadIsIdle", Napi::Function::New(env, ThreadIsIdle, "threadIsIdle"));
}

}  // namespace lbts
