// Feature probes: what this kernel accepts, asked of the kernel itself through libbpf.
#include <bpf/libbpf.h>
#include <errno.h>

#include <string>

#include "common.h"

namespace lbts {

namespace {

// Enum values are looked up by libbpf's own names ("kprobe", "ringbuf", ...) so JS needs no copy of
// the kernel's numbering.
template <typename E>
int FindEnum(const std::string& name, const char* (*str)(E)) {
  for (int i = 0; i < 256; i++) {
    const char* s = str(static_cast<E>(i));
    if (s != nullptr && name == s) return i;
  }
  return -1;
}

// probeProgramType(name) → true | false; throws for names libbpf does not know.
Napi::Value ProbeProgramType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  int t = FindEnum<bpf_prog_type>(name, libbpf_bpf_prog_type_str);
  if (t < 0) LBTS_THROW(env, "LIBBPF_ERR_UNKNOWN_TYPE", "unknown program type " + name, 0, "");
  int rc = libbpf_probe_bpf_prog_type(static_cast<bpf_prog_type>(t), nullptr);
  if (rc < 0) LBTS_THROW(env, "LIBBPF_ERR_PROBE", "probing program type " + name + " failed", rc, "");
  return Napi::Boolean::New(env, rc == 1);
}

Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  int t = FindEnum<bpf_map_type>(name, libbpf_bpf_map_type_str);
  if (t < 0) LBTS_THROW(env, "LIBBPF_ERR_UNKNOWN_TYPE", "unknown map type " + name, 0, "");
  int rc = libbpf_probe_bpf_map_type(static_cast<bpf_map_type>(t), nullptr);
  if (rc < 0) LBTS_THROW(env, "LIBBPF_ERR_PROBE", "probing map type " + name + " failed", rc, "");
  return Napi::Boolean::New(env, rc == 1);
}

// probeHelper(programType, helperId) → whether programs of that type may call the helper (its
// BPF_FUNC_* number: libbpf has no names for them).
Napi::Value ProbeHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  int t = FindEnum<bpf_prog_type>(name, libbpf_bpf_prog_type_str);
  if (t < 0) LBTS_THROW(env, "LIBBPF_ERR_UNKNOWN_TYPE", "unknown program type " + name, 0, "");
  uint32_t helper = info[1].As<Napi::Number>().Uint32Value();
  int rc = libbpf_probe_bpf_helper(static_cast<bpf_prog_type>(t), static_cast<bpf_func_id>(helper), nullptr);
  if (rc < 0) LBTS_THROW(env, "LIBBPF_ERR_PROBE", "probing helper " + std::to_string(helper) + " failed", rc, "");
  return Napi::Boolean::New(env, rc == 1);
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

}  // namespace

void InitProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("probeProgramType", Napi::Function::New(env, ProbeProgramType));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  exports.Set("probeHelper", Napi::Function::New(env, ProbeHelper));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
}

}  // namespace lbts
