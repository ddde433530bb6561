// IdleGuard: takes this process's threads back out of SCHED_IDLE when they are starved.
//
// Why: a thread under SCHED_IDLE runs only when no other thread wants its CPU. That is what an
// agent wants while it keeps up (a waking application thread preempts it at once), but beside
// CPU-bound work it gets no CPU at all: not even enough to notice that it is behind, since that is
// judged on the starved threads themselves. The guard is a thread of its own, never under
// SCHED_IDLE and asleep almost always, that notices it from outside: while armed it wakes every
// `checkMs` and puts every SCHED_IDLE thread of the process back under SCHED_OTHER when
//   - the JS thread (the one that armed it) spent more than `waitPercent` of the last `waitWindowMs`
//     runnable but waiting for a CPU (its schedstat): an idle thread beside a busy one still gets a
//     sliver of CPU (its weight is 3 against 1024), enough to beat now and then, far too little to
//     keep up;
//   - the JS thread has not called beat() for `heartbeatMs` (its timers cannot run at all), or
//   - a watched BPF ring buffer holds more than `ringFillPercent` of its size unread (the consumer
//     thread cannot run, and the producers will soon have to shed or lose records).
// It then disarms itself; the caller sees the restore in stats() and decides when to yield again.
// A ring's fill is read from its consumer and producer positions, mapped read-only: no syscall per
// check.
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common.h"

namespace lbts {

namespace {

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// One ring buffer's positions, mapped read-only (the kernel's layout: the consumer position on the
// first page, the producer position on the second, data after them).
struct WatchedRing {
  void* consumerPage = nullptr;
  void* producerPage = nullptr;
  size_t pageSize = 0;
  uint64_t size = 0;

  uint64_t Unread() const {
    uint64_t cons = __atomic_load_n(static_cast<const unsigned long*>(consumerPage), __ATOMIC_ACQUIRE);
    uint64_t prod = __atomic_load_n(static_cast<const unsigned long*>(producerPage), __ATOMIC_ACQUIRE);
    return prod - cons;
  }
  void Unmap() {
    if (consumerPage != nullptr) munmap(consumerPage, pageSize);
    if (producerPage != nullptr) munmap(producerPage, pageSize);
    consumerPage = producerPage = nullptr;
  }
};

// Why the guard last restored the threads (stats().lastReason).
enum Reason : uint32_t { kNone = 0, kHeartbeat = 1, kRingFilling = 2, kWaiting = 3 };

const char* ReasonText(Reason r) {
  switch (r) {
    case kHeartbeat: return "heartbeat";
    case kRingFilling: return "ring filling";
    case kWaiting: return "waiting for a CPU";
    default: return "";
  }
}

// How long one thread of this process has waited on a run queue (ns, its schedstat's second field).
// The file is opened at the first arm() by that thread and stays open until the guard stops; each
// check reads it again from its start (a seq_file regenerates its text then): one pread every
// checkMs, where an open, a buffered read and a close each time had an idle agent's guard thread at
// ~0.45 % of a core (~0.23 % with the pread, per-thread CPU over 20-30 s).
class RunQueueWait {
 public:
  ~RunQueueWait() { Close(); }

  void Open(pid_t tid) {
    Close();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", static_cast<int>(tid));
    fd_ = open(path, O_RDONLY | O_CLOEXEC);
  }

  bool IsOpen() const { return fd_ >= 0; }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // The wait so far, or -1 when it cannot be read (a kernel without CONFIG_SCHED_INFO).
  int64_t Ns() const {
    if (fd_ < 0) return -1;
    char buf[96];
    ssize_t n = pread(fd_, buf, sizeof(buf) - 1, 0);
    if (n <= 0) return -1;
    buf[n] = '\0';
    unsigned long long run = 0, wait = 0;
    return sscanf(buf, "%llu %llu", &run, &wait) == 2 ? static_cast<int64_t>(wait) : -1;
  }

 private:
  int fd_ = -1;
};

// One reading of the armed thread's run-queue wait.
struct WaitSample {
  int64_t atMs;
  int64_t waitNs;
};

// Every thread of this process under SCHED_IDLE goes back under SCHED_OTHER (its nice value is
// kept). Returns how many it moved.
uint32_t RestoreIdleThreads() {
  uint32_t moved = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid_t tid = static_cast<pid_t>(atoi(e->d_name));
    if (sched_getscheduler(tid) != SCHED_IDLE) continue;
    sched_param param{};
    if (sched_setscheduler(tid, SCHED_OTHER, &param) == 0) moved++;
  }
  closedir(d);
  return moved;
}

class IdleGuard : public Napi::ObjectWrap<IdleGuard> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "NativeIdleGuard",
                                   {InstanceMethod("arm", &IdleGuard::Arm),
                                    InstanceMethod("disarm", &IdleGuard::Disarm),
                                    InstanceMethod("beat", &IdleGuard::Beat),
                                    InstanceMethod("watchRing", &IdleGuard::WatchRing),
                                    InstanceMethod("unwatchRing", &IdleGuard::UnwatchRing),
                                    InstanceMethod("stats", &IdleGuard::Stats),
                                    InstanceMethod("restores", &IdleGuard::Restores),
                                    InstanceMethod("close", &IdleGuard::Close),
                                    InstanceAccessor("tid", &IdleGuard::Tid, nullptr)});
    exports.Set("NativeIdleGuard", f);
  }

  // new NativeIdleGuard({ checkMs, heartbeatMs, ringFillPercent, waitPercent, waitWindowMs })
  explicit IdleGuard(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IdleGuard>(info) {
    Napi::Object opts = info[0].As<Napi::Object>();
    checkMs_ = opts.Get("checkMs").As<Napi::Number>().Uint32Value();
    heartbeatMs_ = opts.Get("heartbeatMs").As<Napi::Number>().Uint32Value();
    fillPercent_ = opts.Get("ringFillPercent").As<Napi::Number>().Uint32Value();
    waitPercent_ = opts.Get("waitPercent").As<Napi::Number>().Uint32Value();
    waitWindowMs_ = opts.Get("waitWindowMs").As<Napi::Number>().Uint32Value();
    std::promise<pid_t> started;
    std::future<pid_t> tid = started.get_future();
    thread_ = std::thread([this, &started] {
      // Made by a thread that may be yielding already: the guard itself must never be idle.
      sched_param param{};
      sched_setscheduler(0, SCHED_OTHER, &param);
      started.set_value(static_cast<pid_t>(syscall(SYS_gettid)));
      Run();
    });
    tid_ = tid.get();
  }

  ~IdleGuard() { Stop(); }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (!armed_) {
        wake_.wait(lock);
        continue;
      }
      wake_.wait_for(lock, std::chrono::milliseconds(checkMs_));
      if (stop_ || !armed_) continue;
      checks_++;
      Reason why = Starved();
      if (why == kNone) continue;
      armed_ = false;
      lastReason_ = why;
      restores_++;
      threadsRestored_ += RestoreIdleThreads();
    }
  }

  // Under mu_.
  Reason Starved() {
    int64_t now = MonotonicMs();
    if (now - lastBeatMs_.load() > static_cast<int64_t>(heartbeatMs_)) return kHeartbeat;
    for (const auto& [id, ring] : rings_) {
      if (ring.Unread() * 100 > ring.size * fillPercent_) return kRingFilling;
    }
    return WaitedTooLong(now) ? kWaiting : kNone;
  }

  // Whether the armed thread waited for a CPU more than waitPercent_ of the last waitWindowMs_ (a
  // window at least that long, from the readings kept since arm()). Under mu_.
  bool WaitedTooLong(int64_t now) {
    int64_t wait = armedWait_.Ns();
    if (wait < 0) return false;
    waits_.push_back({now, wait});
    while (waits_.size() > 2 && now - waits_[1].atMs >= static_cast<int64_t>(waitWindowMs_)) waits_.pop_front();
    const WaitSample& first = waits_.front();
    int64_t spanMs = now - first.atMs;
    if (spanMs < static_cast<int64_t>(waitWindowMs_)) return false;
    return (wait - first.waitNs) / 1000000 * 100 > spanMs * static_cast<int64_t>(waitPercent_);
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& [id, ring] : rings_) ring.Unmap();
    rings_.clear();
  }

  // arm(): from now on the guard watches (the caller has just put threads under SCHED_IDLE); the
  // calling thread is the one whose waits it reads.
  Napi::Value Arm(const Napi::CallbackInfo& info) {
    lastBeatMs_.store(MonotonicMs());
    {
      std::lock_guard<std::mutex> lock(mu_);
      armed_ = true;
      pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
      if (tid != armedTid_ || !armedWait_.IsOpen()) armedWait_.Open(tid);
      armedTid_ = tid;
      waits_.clear();
    }
    wake_.notify_all();
    return info.Env().Undefined();
  }

  Napi::Value Disarm(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
    return info.Env().Undefined();
  }

  // beat(): the JS thread ran (called from a timer: no lock, one atomic store).
  Napi::Value Beat(const Napi::CallbackInfo& info) {
    lastBeatMs_.store(MonotonicMs());
    return info.Env().Undefined();
  }

  // watchRing(mapFd) → an id for unwatchRing. The mappings hold the map: the fd may be closed after.
  Napi::Value WatchRing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "watchRing(mapFd: number)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    bpf_map_info mi{};
    uint32_t len = sizeof(mi);
    if (bpf_obj_get_info_by_fd(fd, &mi, &len) != 0) LBTS_THROW(env, "LIBBPF_ERR_MAP", "cannot read map info", errno, "");
    if (mi.type != BPF_MAP_TYPE_RINGBUF) LBTS_THROW(env, "LIBBPF_ERR_MAP", "not a ring buffer map", EINVAL, "");
    WatchedRing ring;
    ring.pageSize = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    ring.size = mi.max_entries;
    ring.consumerPage = mmap(nullptr, ring.pageSize, PROT_READ, MAP_SHARED, fd, 0);
    ring.producerPage = mmap(nullptr, ring.pageSize, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(ring.pageSize));
    if (ring.consumerPage == MAP_FAILED || ring.producerPage == MAP_FAILED) {
      int err = errno;
      if (ring.consumerPage == MAP_FAILED) ring.consumerPage = nullptr;
      if (ring.producerPage == MAP_FAILED) ring.producerPage = nullptr;
      ring.Unmap();
      LBTS_THROW(env, "LIBBPF_ERR_MAP", "cannot map the ring buffer's positions", err, "");
    }
    std::lock_guard<std::mutex> lock(mu_);
    uint32_t id = ++lastRingId_;
    rings_[id] = ring;
    return Napi::Number::New(env, id);
  }

  Napi::Value UnwatchRing(const Napi::CallbackInfo& info) {
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = rings_.find(id);
    if (it != rings_.end()) {
      it->second.Unmap();
      rings_.erase(it);
    }
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::lock_guard<std::mutex> lock(mu_);
    Napi::Object o = Napi::Object::New(env);
    o.Set("armed", Napi::Boolean::New(env, armed_));
    o.Set("checks", Napi::Number::New(env, static_cast<double>(checks_)));
    o.Set("restores", Napi::Number::New(env, static_cast<double>(restores_)));
    o.Set("threadsRestored", Napi::Number::New(env, static_cast<double>(threadsRestored_)));
    o.Set("lastReason", Napi::String::New(env, ReasonText(lastReason_)));
    o.Set("rings", Napi::Number::New(env, static_cast<double>(rings_.size())));
    return o;
  }

  // restores(): stats().restores alone, asked with every ring batch (the object is built only when it changed).
  Napi::Value Restores(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    return Napi::Number::New(info.Env(), static_cast<double>(restores_));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  Napi::Value Tid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tid_); }

  uint32_t checkMs_ = 20, heartbeatMs_ = 500, fillPercent_ = 12, waitPercent_ = 75, waitWindowMs_ = 300;
  pid_t tid_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<int64_t> lastBeatMs_{0};
  // Under mu_.
  bool stop_ = false;
  bool armed_ = false;
  pid_t armedTid_ = 0;
  RunQueueWait armedWait_;
  std::deque<WaitSample> waits_;
  uint64_t checks_ = 0, restores_ = 0, threadsRestored_ = 0;
  Reason lastReason_ = kNone;
  uint32_t lastRingId_ = 0;
  std::map<uint32_t, WatchedRing> rings_;
};

}  // namespace

void InitIdleGuard(Napi::Env env, Napi::Object exports) { IdleGuard::Init(env, exports); }

}  // namespace lbts
