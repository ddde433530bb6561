// Map operations on a map fd: element get/set/delete, key iteration and the batch operations.
// Sizes come from JS (which knows the map's key/value layout, including per-CPU expansion).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>

#include "common.h"

namespace lbts {

namespace {

int Fd(const Napi::CallbackInfo& info) { return info[0].As<Napi::Number>().Int32Value(); }
uint32_t U32(const Napi::Value& v) { return v.As<Napi::Number>().Uint32Value(); }

// lookup(fd, key, valueSize) → Buffer | null
Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> key;
  if (!GetBuffer(info[1], "key", &key)) return Napi::Value();
  Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, U32(info[2]));
  if (bpf_map_lookup_elem(Fd(info), key.Data(), value.Data()) != 0) {
    int err = errno;
    if (err == ENOENT) return env.Null();
    LBTS_THROW(env, "LIBBPF_ERR_MAP_LOOKUP", "map lookup failed", err, "");
  }
  return value;
}

// lookupInto(fd, key, out) → whether the key was there; its value is written into `out` (sized by the
// caller, per-CPU expansion included): no buffer made per lookup, for values read again and again.
Napi::Value LookupInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> key, out;
  if (!GetBuffer(info[1], "key", &key) || !GetBuffer(info[2], "out", &out)) return Napi::Value();
  if (bpf_map_lookup_elem(Fd(info), key.Data(), out.Data()) != 0) {
    int err = errno;
    if (err == ENOENT) return Napi::Boolean::New(env, false);
    LBTS_THROW(env, "LIBBPF_ERR_MAP_LOOKUP", "map lookup failed", err, "");
  }
  return Napi::Boolean::New(env, true);
}

// lookupAndDelete(fd, key, valueSize) → Buffer | null (queues, stacks and hashes)
Napi::Value LookupAndDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> key;
  if (!info[1].IsNull() && !GetBuffer(info[1], "key", &key)) return Napi::Value();
  Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, U32(info[2]));
  if (bpf_map_lookup_and_delete_elem(Fd(info), info[1].IsNull() ? nullptr : key.Data(), value.Data()) != 0) {
    int err = errno;
    if (err == ENOENT) return env.Null();
    LBTS_THROW(env, "LIBBPF_ERR_MAP_LOOKUP", "map lookup-and-delete failed", err, "");
  }
  return value;
}

// update(fd, key, value, flags)
Napi::Value Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> key, value;
  if (!GetBuffer(info[1], "key", &key) || !GetBuffer(info[2], "value", &value)) return Napi::Value();
  if (bpf_map_update_elem(Fd(info), key.Data(), value.Data(), info[3].As<Napi::Number>().Int64Value()) != 0)
    LBTS_THROW(env, "LIBBPF_ERR_MAP_UPDATE", "map update failed", errno, "");
  return env.Undefined();
}

// delete(fd, key) → boolean (false when the key was absent)
Napi::Value Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> key;
  if (!GetBuffer(info[1], "key", &key)) return Napi::Value();
  if (bpf_map_delete_elem(Fd(info), key.Data()) != 0) {
    int err = errno;
    if (err == ENOENT) return Napi::Boolean::New(env, false);
    LBTS_THROW(env, "LIBBPF_ERR_MAP_DELETE", "map delete failed", err, "");
  }
  return Napi::Boolean::New(env, true);
}

// nextKey(fd, key | null, keySize) → Buffer | null at the end
Napi::Value NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> key;
  if (!info[1].IsNull() && !GetBuffer(info[1], "key", &key)) return Napi::Value();
  Napi::Buffer<uint8_t> next = Napi::Buffer<uint8_t>::New(env, U32(info[2]));
  if (bpf_map_get_next_key(Fd(info), info[1].IsNull() ? nullptr : key.Data(), next.Data()) != 0) {
    int err = errno;
    if (err == ENOENT) return env.Null();
    LBTS_THROW(env, "LIBBPF_ERR_MAP_ITERATE", "map iteration failed", err, "");
  }
  return next;
}

// lookupBatch(fd, inBatch | null, keySize, valueSize, count, deleteToo)
//   → { keys, values, count, next: Buffer | null }
// The kernel's batch token for hash maps is a bucket cursor of key size; `next` is null once the
// map has been walked to its end.
Napi::Value LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t keySize = U32(info[2]), valueSize = U32(info[3]), count = U32(info[4]);
  bool andDelete = info[5].ToBoolean().Value();
  Napi::Buffer<uint8_t> in;
  if (!info[1].IsNull() && !GetBuffer(info[1], "inBatch", &in)) return Napi::Value();
  // The token's size is the key size for hash maps and 4 for arrays; key size bounds both.
  uint32_t tokenSize = keySize < 8 ? 8 : keySize;
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, tokenSize);
  Napi::Buffer<uint8_t> keys = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(keySize) * count);
  Napi::Buffer<uint8_t> values = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(valueSize) * count);
  uint32_t n = count;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  int rc = andDelete ? bpf_map_lookup_and_delete_batch(Fd(info), info[1].IsNull() ? nullptr : in.Data(),
                                                       out.Data(), keys.Data(), values.Data(), &n, &opts)
                     : bpf_map_lookup_batch(Fd(info), info[1].IsNull() ? nullptr : in.Data(), out.Data(),
                                            keys.Data(), values.Data(), &n, &opts);
  bool done = false;
  if (rc != 0) {
    int err = errno;
    if (err != ENOENT) LBTS_THROW(env, "LIBBPF_ERR_MAP_BATCH", "map batch lookup failed", err, "");
    done = true;  // ENOENT: this call returned the last elements (n may be 0)
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("keys", keys);
  result.Set("values", values);
  result.Set("count", n);
  result.Set("next", done ? env.Null() : static_cast<Napi::Value>(out));
  return result;
}

// updateBatch(fd, keys, values, count, flags) → count updated
Napi::Value UpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> keys, values;
  if (!GetBuffer(info[1], "keys", &keys) || !GetBuffer(info[2], "values", &values)) return Napi::Value();
  uint32_t n = U32(info[3]);
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  opts.elem_flags = static_cast<__u64>(info[4].As<Napi::Number>().Int64Value());
  if (bpf_map_update_batch(Fd(info), keys.Data(), values.Data(), &n, &opts) != 0)
    LBTS_THROW(env, "LIBBPF_ERR_MAP_BATCH", "map batch update failed after " + std::to_string(n) + " elements",
               errno, "");
  return Napi::Number::New(env, n);
}

// deleteBatch(fd, keys, count) → count deleted
Napi::Value DeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> keys;
  if (!GetBuffer(info[1], "keys", &keys)) return Napi::Value();
  uint32_t n = U32(info[2]);
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_delete_batch(Fd(info), keys.Data(), &n, &opts) != 0 && errno != ENOENT)
    LBTS_THROW(env, "LIBBPF_ERR_MAP_BATCH", "map batch delete failed", errno, "");
  return Napi::Number::New(env, n);
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

}  // namespace

void InitMap(Napi::Env env, Napi::Object exports) {
  Napi::Object m = Napi::Object::New(env);
  m.Set("lookup", Napi::Function::New(env, Lookup));
  m.Set("lookupInto", Napi::Function::New(env, LookupInto));
  m.Set("lookupAndDelete", Napi::Function::New(env, LookupAndDelete));
  m.Set("update", Napi::Function::New(env, Update));
  m.Set("delete", Napi::Function::New(env, Delete));
  m.Set("nextKey", Napi::Function::New(env, NextKey));
  m.Set("lookupBatch", Napi::Function::New(env, LookupBatch));
  m.Set("updateBatch", Napi::Function::New(env, UpdateBatch));
  m.Set("deleteBatch", Napi::Function::New(env, DeleteBatch));
  exports.Set("map", m);
  exports.Set("possibleCpus", Napi::Function::New(env, PossibleCpus));
}

}  // namespace lbts
