// BpfObject: open → configure (globals, map sizes, autoload) → load → attach programs.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <vector>

#include "common.h"

namespace {
// The verifier stops at any signal to the loading thread and the load fails with EAGAIN; libbpf
// retries a few times, then gives up. A thread signalled often — SIGPROF every millisecond under
// `node --cpu-prof` or perf's timers — never gets a program loaded. Asynchronous signals wait until
// the load is done (they stay pending, none is lost); faults are never blocked.
class SignalsHeld {
 public:
  SignalsHeld() {
    sigset_t all;
    sigfillset(&all);
    for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&all, s);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
  }
  ~SignalsHeld() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  SignalsHeld(const SignalsHeld&) = delete;
  SignalsHeld& operator=(const SignalsHeld&) = delete;

 private:
  sigset_t saved_;
};
}  // namespace

namespace lbts {

namespace {

// A link owned by JS; destroyed on close() or when collected (which detaches the probe).
class Link : public Napi::ObjectWrap<Link> {
 public:
  static Napi::FunctionReference ctor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "NativeLink",
                                   {InstanceMethod("destroy", &Link::Destroy),
                                    InstanceMethod("destroyInBackground", &Link::DestroyInBackground),
                                    InstanceMethod("fd", &Link::Fd)});
    ctor = Napi::Persistent(f);
    exports.Set("NativeLink", f);
  }

  static Napi::Object Wrap(Napi::Env env, bpf_link* link) {
    Napi::Object o = ctor.New({});
    Unwrap(o)->link_ = link;
    return o;
  }

  explicit Link(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Link>(info) {}
  ~Link() override { Release(); }

 private:
  void Release() {
    if (link_ != nullptr) {
      bpf_link__destroy(link_);
      link_ = nullptr;
    }
  }
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }
  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), link_ ? bpf_link__fd(link_) : -1);
  }

  // Detaching a uprobe waits out an RCU grace period in the kernel (~0.1 s here), on the calling
  // thread: a hundred uprobes closed one after another kept the agent from stopping for seconds.
  // On the libuv pool they wait side by side. The link is the worker's from the call on.
  class Destroyer : public Napi::AsyncWorker {
   public:
    Destroyer(Napi::Env env, bpf_link* link) : Napi::AsyncWorker(env), link_(link), deferred_(Napi::Promise::Deferred::New(env)) {}
    void Execute() override { bpf_link__destroy(link_); }
    void OnOK() override { deferred_.Resolve(Env().Undefined()); }
    Napi::Promise Promise() { return deferred_.Promise(); }

   private:
    bpf_link* link_;
    Napi::Promise::Deferred deferred_;
  };

  Napi::Value DestroyInBackground(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (link_ == nullptr) {
      auto done = Napi::Promise::Deferred::New(env);
      done.Resolve(env.Undefined());
      return done.Promise();
    }
    auto* worker = new Destroyer(env, link_);
    link_ = nullptr;
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  bpf_link* link_ = nullptr;
};

Napi::FunctionReference Link::ctor;

class Object : public Napi::ObjectWrap<Object> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(
        env, "NativeObject",
        {InstanceMethod("name", &Object::Name),
         InstanceMethod("load", &Object::Load),
         InstanceMethod("close", &Object::Close),
         InstanceMethod("programs", &Object::Programs),
         InstanceMethod("maps", &Object::Maps),
         InstanceMethod("setGlobal", &Object::SetGlobal),
         InstanceMethod("setMapMaxEntries", &Object::SetMapMaxEntries),
         InstanceMethod("setAutoload", &Object::SetAutoload),
         InstanceMethod("reuseMapFd", &Object::ReuseMapFd),
         InstanceMethod("attach", &Object::Attach),
         InstanceMethod("attachTracepoint", &Object::AttachTracepoint),
         InstanceMethod("attachRawTracepoint", &Object::AttachRawTracepoint),
         InstanceMethod("attachUprobe", &Object::AttachUprobe),
         InstanceMethod("attachKprobe", &Object::AttachKprobe),
         InstanceMethod("attachPerfEvent", &Object::AttachPerfEvent)});
    exports.Set("NativeObject", f);
  }

  // new NativeObject(path, { btfCustomPath? })
  explicit Object(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Object>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) {
      Napi::TypeError::New(env, "path must be a string").ThrowAsJavaScriptException();
      return;
    }
    std::string path = info[0].As<Napi::String>();
    std::string btf;
    if (info[1].IsObject()) {
      Napi::Value v = info[1].As<Napi::Object>().Get("btfCustomPath");
      if (v.IsString()) btf = v.As<Napi::String>();
    }
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    if (!btf.empty()) opts.btf_custom_path = btf.c_str();
    LogCapture capture;
    obj_ = bpf_object__open_file(path.c_str(), &opts);
    if (obj_ == nullptr) {
      int err = errno;
      BpfError(env, "LIBBPF_ERR_OPEN", "cannot open BPF object " + path, err, capture.Text())
          .ThrowAsJavaScriptException();
    }
  }

  ~Object() override {
    if (obj_ != nullptr) bpf_object__close(obj_);
  }

 private:
  bool Check(Napi::Env env) {
    if (obj_ == nullptr) {
      BpfError(env, "LIBBPF_ERR_CLOSED", "BPF object is closed", 0, "").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  bpf_program* FindProgram(Napi::Env env, const Napi::Value& name) {
    if (!Check(env)) return nullptr;
    if (!name.IsString()) {
      Napi::TypeError::New(env, "program name must be a string").ThrowAsJavaScriptException();
      return nullptr;
    }
    std::string n = name.As<Napi::String>();
    bpf_program* p = bpf_object__find_program_by_name(obj_, n.c_str());
    if (p == nullptr)
      BpfError(env, "LIBBPF_ERR_NO_PROGRAM", "no program named '" + n + "' in " + bpf_object__name(obj_), 0, "")
          .ThrowAsJavaScriptException();
    return p;
  }

  bpf_map* FindMap(Napi::Env env, const Napi::Value& name) {
    if (!Check(env)) return nullptr;
    std::string n = name.As<Napi::String>();
    bpf_map* m = bpf_object__find_map_by_name(obj_, n.c_str());
    if (m == nullptr)
      BpfError(env, "LIBBPF_ERR_NO_MAP", "no map named '" + n + "' in " + bpf_object__name(obj_), 0, "")
          .ThrowAsJavaScriptException();
    return m;
  }

  Napi::Value Name(const Napi::CallbackInfo& info) {
    if (!Check(info.Env())) return Napi::Value();
    return Napi::String::New(info.Env(), bpf_object__name(obj_));
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return Napi::Value();
    LogCapture capture;
    int err;
    {
      SignalsHeld held;
      err = bpf_object__load(obj_);
    }
    loaded_ = true;  // even a failed load leaves the object unusable for configuration
    if (err != 0)
      LBTS_THROW(env, "LIBBPF_ERR_LOAD", std::string("cannot load BPF object ") + bpf_object__name(obj_), err,
                 capture.Text());
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (obj_ != nullptr) bpf_object__close(obj_);
    obj_ = nullptr;
    return info.Env().Undefined();
  }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return Napi::Value();
    Napi::Array out = Napi::Array::New(env);
    bpf_program* p;
    uint32_t i = 0;
    bpf_object__for_each_program(p, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(p));
      o.Set("section", bpf_program__section_name(p));
      const char* type = libbpf_bpf_prog_type_str(bpf_program__type(p));
      o.Set("type", type ? type : "unknown");
      o.Set("fd", bpf_program__fd(p));
      o.Set("autoload", bpf_program__autoload(p));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Maps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return Napi::Value();
    Napi::Array out = Napi::Array::New(env);
    bpf_map* m;
    uint32_t i = 0;
    bpf_object__for_each_map(m, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_map__name(m));
      const char* type = libbpf_bpf_map_type_str(bpf_map__type(m));
      o.Set("type", type ? type : "unknown");
      o.Set("fd", bpf_map__fd(m));
      o.Set("keySize", bpf_map__key_size(m));
      o.Set("valueSize", bpf_map__value_size(m));
      o.Set("maxEntries", bpf_map__max_entries(m));
      o.Set("flags", bpf_map__map_flags(m));
      o.Set("internal", bpf_map__is_internal(m));
      out.Set(i++, o);
    }
    return out;
  }

  // setGlobal(name, bytes): writes a global variable (`const volatile` settings in .rodata, or
  // .data/.bss) before load, located through the object's BTF DATASEC records.
  Napi::Value SetGlobal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Check(env)) return Napi::Value();
    std::string name = info[0].As<Napi::String>();
    Napi::Buffer<uint8_t> bytes;
    if (!GetBuffer(info[1], "value", &bytes)) return Napi::Value();
    btf* b = bpf_object__btf(obj_);
    if (b == nullptr) LBTS_THROW(env, "LIBBPF_ERR_NO_BTF", "object has no BTF: cannot locate globals", 0, "");
    uint32_t n = btf__type_cnt(b);
    for (uint32_t id = 1; id < n; id++) {
      const btf_type* t = btf__type_by_id(b, id);
      if (!btf_is_datasec(t)) continue;
      std::string sec = btf__name_by_offset(b, t->name_off);
      const btf_var_secinfo* vs = btf_var_secinfos(t);
      for (uint16_t k = 0; k < btf_vlen(t); k++, vs++) {
        const btf_type* var = btf__type_by_id(b, vs->type);
        if (name != btf__name_by_offset(b, var->name_off)) continue;
        if (vs->size != bytes.Length())
          LBTS_THROW(env, "LIBBPF_ERR_GLOBAL_SIZE",
                     "global '" + name + "' is " + std::to_string(vs->size) + " bytes, got " +
                         std::to_string(bytes.Length()),
                     0, "");
        return WriteInternal(env, sec, vs->offset, bytes);
      }
    }
    LBTS_THROW(env, "LIBBPF_ERR_NO_GLOBAL", "no global variable named '" + name + "'", 0, "");
  }

  Napi::Value WriteInternal(Napi::Env env, const std::string& sec, uint32_t offset,
                            const Napi::Buffer<uint8_t>& bytes) {
    bpf_map* m;
    bpf_object__for_each_map(m, obj_) {
      if (!bpf_map__is_internal(m)) continue;
      std::string mname = bpf_map__name(m);
      // libbpf names internal maps "<object prefix><section>", e.g. "probe_t.rodata".
      if (mname.size() < sec.size() || mname.compare(mname.size() - sec.size(), sec.size(), sec) != 0) continue;
      size_t size = 0;
      const void* cur = bpf_map__initial_value(m, &size);
      if (cur == nullptr || offset + bytes.Length() > size) break;
      std::vector<uint8_t> copy(static_cast<const uint8_t*>(cur), static_cast<const uint8_t*>(cur) + size);
      memcpy(copy.data() + offset, bytes.Data(), bytes.Length());
      LogCapture capture;
      int err = bpf_map__set_initial_value(m, copy.data(), size);
      if (err != 0) LBTS_THROW(env, "LIBBPF_ERR_GLOBAL", "cannot set globals (after load?)", err, capture.Text());
      return env.Undefined();
    }
    LBTS_THROW(env, "LIBBPF_ERR_NO_GLOBAL", "no map backs section " + sec, 0, "");
  }

  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = FindMap(env, info[0]);
    if (m == nullptr) return Napi::Value();
    int err = bpf_map__set_max_entries(m, info[1].As<Napi::Number>().Uint32Value());
    if (err != 0) LBTS_THROW(env, "LIBBPF_ERR_MAP_RESIZE", "cannot resize map (after load?)", err, "");
    return env.Undefined();
  }

  Napi::Value SetAutoload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = FindProgram(env, info[0]);
    if (p == nullptr) return Napi::Value();
    int err = bpf_program__set_autoload(p, info[1].As<Napi::Boolean>().Value());
    if (err != 0) LBTS_THROW(env, "LIBBPF_ERR_AUTOLOAD", "cannot change autoload (after load?)", err, "");
    return env.Undefined();
  }

  // reuseMapFd(name, fd): before load, make this object's map `name` the kernel map behind `fd`
  // (another object's, say), so both objects' programs share it. libbpf adopts the fd's definition
  // wholesale, so a map of another shape is refused here rather than left for the verifier (or
  // worse, for programs that read past a shorter value).
  Napi::Value ReuseMapFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = FindMap(env, info[0]);
    if (m == nullptr) return Napi::Value();
    int fd = info[1].As<Napi::Number>().Int32Value();
    std::string name = bpf_map__name(m);
    // libbpf 1.1 would swap the fd of a loaded map under its programs' feet: refuse.
    if (loaded_) LBTS_THROW(env, "LIBBPF_ERR_MAP_REUSE", "cannot reuse a map fd for '" + name + "' after load", EBUSY, "");
    bpf_map_info other;
    memset(&other, 0, sizeof other);
    uint32_t len = sizeof other;
    if (bpf_obj_get_info_by_fd(fd, &other, &len) != 0) {
      int err = errno;
      LBTS_THROW(env, "LIBBPF_ERR_MAP_REUSE", "cannot reuse fd " + std::to_string(fd) + " for map '" + name + "': not a BPF map", err, "");
    }
    auto mismatch = [&](const char* what, uint32_t mine, uint32_t theirs) {
      return std::string("cannot reuse map '") + other.name + "' for '" + name + "': " + what + " " +
             std::to_string(theirs) + ", this object's map has " + std::to_string(mine);
    };
    if (other.type != static_cast<uint32_t>(bpf_map__type(m)))
      LBTS_THROW(env, "LIBBPF_ERR_MAP_REUSE", mismatch("map type", bpf_map__type(m), other.type), EINVAL, "");
    if (other.key_size != bpf_map__key_size(m))
      LBTS_THROW(env, "LIBBPF_ERR_MAP_REUSE", mismatch("key size", bpf_map__key_size(m), other.key_size), EINVAL, "");
    if (other.value_size != bpf_map__value_size(m))
      LBTS_THROW(env, "LIBBPF_ERR_MAP_REUSE", mismatch("value size", bpf_map__value_size(m), other.value_size), EINVAL, "");
    LogCapture capture;
    int err = bpf_map__reuse_fd(m, fd);
    if (err != 0) LBTS_THROW(env, "LIBBPF_ERR_MAP_REUSE", "cannot reuse fd for map '" + name + "' (after load?)", err, capture.Text());
    return env.Undefined();
  }

  Napi::Value Linked(Napi::Env env, bpf_link* link, const std::string& what, const LogCapture& capture) {
    if (link == nullptr) {
      int err = errno;
      LBTS_THROW(env, "LIBBPF_ERR_ATTACH", "cannot attach " + what, err, capture.Text());
    }
    return Link::Wrap(env, link);
  }

  static uint64_t Cookie(const Napi::Object& o) {
    Napi::Value v = o.Get("cookie");
    if (v.IsBigInt()) {
      bool lossless;
      return v.As<Napi::BigInt>().Uint64Value(&lossless);
    }
    return v.IsNumber() ? static_cast<uint64_t>(v.As<Napi::Number>().Int64Value()) : 0;
  }

  // attach(prog): libbpf's auto-attach from the section name.
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = FindProgram(env, info[0]);
    if (p == nullptr) return Napi::Value();
    LogCapture capture;
    return Linked(env, bpf_program__attach(p), std::string("program ") + bpf_program__name(p), capture);
  }

  // attachTracepoint(prog, category, name, { cookie? })
  Napi::Value AttachTracepoint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = FindProgram(env, info[0]);
    if (p == nullptr) return Napi::Value();
    std::string cat = info[1].As<Napi::String>(), name = info[2].As<Napi::String>();
    LIBBPF_OPTS(bpf_tracepoint_opts, opts);
    if (info[3].IsObject()) opts.bpf_cookie = Cookie(info[3].As<Napi::Object>());
    LogCapture capture;
    return Linked(env, bpf_program__attach_tracepoint_opts(p, cat.c_str(), name.c_str(), &opts),
                  "tracepoint " + cat + ":" + name, capture);
  }

  Napi::Value AttachRawTracepoint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = FindProgram(env, info[0]);
    if (p == nullptr) return Napi::Value();
    std::string name = info[1].As<Napi::String>();
    LogCapture capture;
    return Linked(env, bpf_program__attach_raw_tracepoint(p, name.c_str()), "raw tracepoint " + name, capture);
  }

  // attachUprobe(prog, { binaryPath, funcName?, offset?, pid?, retprobe?, cookie?, refCtrOffset? })
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = FindProgram(env, info[0]);
    if (p == nullptr) return Napi::Value();
    Napi::Object o = info[1].As<Napi::Object>();
    std::string path = o.Get("binaryPath").As<Napi::String>();
    std::string func = o.Get("funcName").IsString() ? std::string(o.Get("funcName").As<Napi::String>()) : "";
    int64_t offset = o.Get("offset").IsNumber() ? o.Get("offset").As<Napi::Number>().Int64Value() : 0;
    int pid = o.Get("pid").IsNumber() ? o.Get("pid").As<Napi::Number>().Int32Value() : -1;
    LIBBPF_OPTS(bpf_uprobe_opts, opts);
    opts.retprobe = o.Get("retprobe").ToBoolean().Value();
    opts.bpf_cookie = Cookie(o);
    if (o.Get("refCtrOffset").IsNumber()) opts.ref_ctr_offset = o.Get("refCtrOffset").As<Napi::Number>().Int64Value();
    if (!func.empty()) opts.func_name = func.c_str();
    LogCapture capture;
    std::string what = std::string(opts.retprobe ? "uretprobe " : "uprobe ") + path + ":" +
                       (func.empty() ? "" : func + "+") + std::to_string(offset);
    return Linked(env, bpf_program__attach_uprobe_opts(p, pid, path.c_str(), static_cast<size_t>(offset), &opts),
                  what, capture);
  }

  // attachKprobe(prog, { funcName, offset?, retprobe?, cookie? })
  Napi::Value AttachKprobe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = FindProgram(env, info[0]);
    if (p == nullptr) return Napi::Value();
    Napi::Object o = info[1].As<Napi::Object>();
    std::string func = o.Get("funcName").As<Napi::String>();
    LIBBPF_OPTS(bpf_kprobe_opts, opts);
    opts.retprobe = o.Get("retprobe").ToBoolean().Value();
    opts.bpf_cookie = Cookie(o);
    if (o.Get("offset").IsNumber()) opts.offset = o.Get("offset").As<Napi::Number>().Int64Value();
    LogCapture capture;
    return Linked(env, bpf_program__attach_kprobe_opts(p, func.c_str(), &opts),
                  std::string(opts.retprobe ? "kretprobe " : "kprobe ") + func, capture);
  }

  // attachPerfEvent(prog, perfFd, { cookie? }): the link takes ownership of perfFd.
  Napi::Value AttachPerfEvent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_program* p = FindProgram(env, info[0]);
    if (p == nullptr) return Napi::Value();
    int pfd = info[1].As<Napi::Number>().Int32Value();
    LIBBPF_OPTS(bpf_perf_event_opts, opts);
    if (info[2].IsObject()) opts.bpf_cookie = Cookie(info[2].As<Napi::Object>());
    LogCapture capture;
    return Linked(env, bpf_program__attach_perf_event_opts(p, pfd, &opts), "perf event", capture);
  }

  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
};

}  // namespace

void InitObject(Napi::Env env, Napi::Object exports) {
  Link::Init(env, exports);
  Object::Init(env, exports);
}

}  // namespace lbts
