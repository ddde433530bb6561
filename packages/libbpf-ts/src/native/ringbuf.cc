// RingConsumer: drains one or more BPF ring buffers on a native thread into large batches and hands
// JS one batch at a time through a ThreadSafeFunction, one per event-loop turn.
//
// Why: a JS call per event costs microseconds; at 100k+ events/s that alone would eat a core. A
// batch is a single Buffer holding many records, each laid out as
//     u32 length | u32 ring index | payload | padding to 8 bytes
// so JS walks it with a DataView. At most `maxPendingBatches` batches wait for JS at once; past that,
// either a batch is dropped whole and its records are counted as lost, or (leaveInRing) the records
// stay in the kernel rings until JS takes a batch, where the producers see the ring fill and may shed
// or count what does not fit: never an unbounded queue.
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace lbts {

namespace {

constexpr size_t kHeader = 8;

uint64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

struct Counters {
  std::atomic<uint64_t> records{0}, bytes{0}, batches{0};
  std::atomic<uint64_t> droppedRecords{0}, droppedBatches{0}, oversizeRecords{0}, pollErrors{0};
  std::atomic<uint64_t> ringWaits{0};
  std::atomic<uint32_t> pending{0};
};

// Buffers are recycled: each comes back when JS's callback for it returns (see Deliver).
class BufferPool {
 public:
  BufferPool(size_t size, size_t keep) : size_(size), keep_(keep) {}
  ~BufferPool() {
    for (uint8_t* b : free_) ::free(b);
  }
  uint8_t* Get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      uint8_t* b = free_.back();
      free_.pop_back();
      return b;
    }
    allocations_++;
    return static_cast<uint8_t*>(::malloc(size_));
  }
  uint64_t allocations() const { return allocations_.load(); }
  void Put(uint8_t* b) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < keep_) {
      free_.push_back(b);
    } else {
      ::free(b);
    }
  }
  size_t size() const { return size_; }

 private:
  const size_t size_, keep_;
  std::mutex mu_;
  std::vector<uint8_t*> free_;
  std::atomic<uint64_t> allocations_{0};
};

struct Batch;

// State shared by the consumer thread, the JS-side object and in-flight batches, which may outlive
// the consumer object itself.
//
// One batch is in the ThreadSafeFunction at a time (`handed`); the others wait here in order
// (`ready`) until JS asks for the next (Consumer::Next, from a setImmediate after each batch). A
// ThreadSafeFunction dispatches everything queued in it, and whatever is queued while it does, in
// one event-loop turn (up to 1,000 calls): behind a backlog JS handled up to sixteen batches, over
// 100 ms, with no turn of the loop in between, so no file write or socket read completed, no timer
// ran, and the export queues filled with spans whose sends had finished (nginx at 50k req/s: their
// room gone at the load's onset, thousands of spans shed). One per turn, the loop's other work
// comes between batches.
struct Shared {
  Counters counters;
  std::shared_ptr<BufferPool> pool;
  uint32_t maxPending = 0;
  std::mutex handMu;
  std::deque<Batch*> ready;
  bool handed = false;
};

struct Batch {
  std::shared_ptr<Shared> shared;
  uint8_t* data = nullptr;
  size_t used = 0;
  uint32_t count = 0;
  bool returned = false;  // data is back in the pool already (detached after the callback)
};

class Consumer : public Napi::ObjectWrap<Consumer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "NativeRingConsumer",
                                   {InstanceMethod("stats", &Consumer::Stats),
                                    InstanceMethod("pendingBatches", &Consumer::PendingBatches),
                                    InstanceMethod("next", &Consumer::Next),
                                    InstanceMethod("close", &Consumer::Close),
                                    InstanceMethod("ref", &Consumer::Ref),
                                    InstanceMethod("unref", &Consumer::Unref)});
    exports.Set("NativeRingConsumer", f);
  }

  // new NativeRingConsumer(fds: number[], { batchBytes, maxPendingBatches, flushMs, pollMs, leaveInRing }, onBatch)
  explicit Consumer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Consumer>(info) {
    Napi::Env env = info.Env();
    Napi::Array fds = info[0].As<Napi::Array>();
    Napi::Object opts = info[1].As<Napi::Object>();
    size_t batchBytes = opts.Get("batchBytes").As<Napi::Number>().Uint32Value();
    shared_ = std::make_shared<Shared>();
    shared_->maxPending = opts.Get("maxPendingBatches").As<Napi::Number>().Uint32Value();
    shared_->pool = std::make_shared<BufferPool>(batchBytes, shared_->maxPending + 2);
    flushMs_ = opts.Get("flushMs").As<Napi::Number>().Uint32Value();
    pollMs_ = opts.Get("pollMs").As<Napi::Number>().Uint32Value();
    leaveInRing_ = opts.Get("leaveInRing").ToBoolean().Value();

    LogCapture capture;
    for (uint32_t i = 0; i < fds.Length(); i++) {
      int fd = fds.Get(i).As<Napi::Number>().Int32Value();
      // The ring index travels in the callback context so records say which ring they came from.
      void* ctx = reinterpret_cast<void*>(static_cast<uintptr_t>(i));
      int err = 0;
      if (rb_ == nullptr) {
        rb_ = ring_buffer__new(fd, &Consumer::OnRecordThunk, ctx, nullptr);
        if (rb_ == nullptr) err = errno;
      } else {
        err = ring_buffer__add(rb_, fd, &Consumer::OnRecordThunk, ctx);
      }
      if (err != 0) {
        BpfError(env, "LIBBPF_ERR_RINGBUF", "cannot open ring buffer fd " + std::to_string(fd), err, capture.Text())
            .ThrowAsJavaScriptException();
        return;
      }
    }
    // close() wakes the poll through an eventfd in the rings' epoll set, so a consumer whose rings
    // wake it (producers that submit with wake-ups) may sweep on a long timer and still stop at once.
    // Its event names ring 0, as libbpf reads an event's data as the ring to consume.
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = 0;
      if (epoll_ctl(ring_buffer__epoll_fd(rb_), EPOLL_CTL_ADD, wakeFd_, &ev) != 0) {
        close(wakeFd_);
        wakeFd_ = -1;
      }
    }
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "libbpf-ts ring consumer", 0, 1);
    current_ = NewBatch();
    thread_ = std::thread([this] { Run(); });
  }

  ~Consumer() override { Stop(); }

 private:
  static int OnRecordThunk(void* ctx, void* data, size_t size) {
    // ring_buffer callbacks carry only ctx; the consumer running the poll is thread-local.
    return tl_self->OnRecord(static_cast<uint32_t>(reinterpret_cast<uintptr_t>(ctx)), data, size);
  }

  Batch* NewBatch() {
    Batch* b = new Batch();
    b->shared = shared_;
    b->data = shared_->pool->Get();
    return b;
  }

  static size_t RecordBytes(size_t size) { return kHeader + ((size + 7) & ~static_cast<size_t>(7)); }

  int OnRecord(uint32_t ring, const void* data, size_t size) {
    size_t need = RecordBytes(size);
    if (need > shared_->pool->size()) {
      shared_->counters.oversizeRecords++;
      return 0;
    }
    if (current_->used + need > shared_->pool->size()) {
      if (leaveInRing_ && !draining_ && !JsHasRoom()) {
        // The batch is full and JS holds every slot: stop reading, the rest stays in the ring. libbpf
        // has moved the ring's consumer position past this record already (a callback's error ends
        // the poll after its record), so this one waits here.
        const uint8_t* bytes = static_cast<const uint8_t*>(data);
        waiting_.assign(bytes, bytes + size);
        waitingRing_ = ring;
        stalled_ = true;
        shared_->counters.ringWaits++;
        return -EAGAIN;
      }
      Flush();
    }
    Append(ring, data, size);
    return 0;
  }

  // Copies one record into the current batch, which has room for it.
  void Append(uint32_t ring, const void* data, size_t size) {
    size_t need = RecordBytes(size);
    Counters& c = shared_->counters;
    uint8_t* p = current_->data + current_->used;
    uint32_t len = static_cast<uint32_t>(size);
    memcpy(p, &len, 4);
    memcpy(p + 4, &ring, 4);
    memcpy(p + kHeader, data, size);
    current_->used += need;
    if (current_->count++ == 0) firstRecordMs_ = NowMs();
    c.records++;
    c.bytes += size;
  }

  // After a stall (leaveInRing): the full batch goes to JS and the record kept aside starts the next.
  // While stopping, JS may have no slot: the batch is then dropped, counted, as without leaveInRing.
  void Resume() {
    Flush();  // delivered, or dropped: either way the batch is empty now
    Append(waitingRing_, waiting_.data(), waiting_.size());
    waiting_.clear();
    stalled_ = false;
  }

  // A pending slot is free: a batch handed over now would be delivered, not dropped.
  bool JsHasRoom() const { return shared_->counters.pending.load() < shared_->maxPending; }

  void Flush() {
    Batch* b = current_;
    if (b->count == 0) return;
    Counters& c = shared_->counters;
    if (!JsHasRoom()) {
      // JS is behind: drop this batch whole, keep draining the kernel ring.
      c.droppedBatches++;
      c.droppedRecords += b->count;
      b->used = 0;
      b->count = 0;
      return;
    }
    c.pending++;
    c.batches++;
    current_ = NewBatch();
    {
      std::lock_guard<std::mutex> lock(shared_->handMu);
      if (shared_->handed || !shared_->ready.empty()) {
        shared_->ready.push_back(b);
        return;
      }
      shared_->handed = true;
    }
    Call(b);
  }

  // Queues `b` in the ThreadSafeFunction; a batch it refuses (being torn down) is dropped, counted.
  void Call(Batch* b) {
    if (tsfn_.NonBlockingCall(b, &Consumer::Deliver) == napi_ok) return;
    Counters& c = shared_->counters;
    c.pending--;
    c.droppedBatches++;
    c.droppedRecords += b->count;
    {
      std::lock_guard<std::mutex> lock(shared_->handMu);
      shared_->handed = false;
    }
    shared_->pool->Put(b->data);
    delete b;
  }

  // next(): the JS thread is through its last batch and has turned the event loop; the oldest ready
  // batch goes to the ThreadSafeFunction (delivered on the next turn).
  Napi::Value Next(const Napi::CallbackInfo& info) {
    Batch* b = nullptr;
    {
      std::lock_guard<std::mutex> lock(shared_->handMu);
      if (!shared_->handed && !shared_->ready.empty()) {
        b = shared_->ready.front();
        shared_->ready.pop_front();
        shared_->handed = true;
      }
    }
    if (b != nullptr) Call(b);
    return info.Env().Undefined();
  }

  // Runs on the JS thread.
  static void Deliver(Napi::Env env, Napi::Function fn, Batch* b) {
    std::shared_ptr<Shared> shared = b->shared;
    shared->counters.pending--;
    if (env == nullptr) {  // the function is being torn down
      shared->pool->Put(b->data);
      delete b;
      return;
    }
    uint32_t count = b->count;
    uint8_t* data = b->data;
    auto buf = Napi::Buffer<uint8_t>::New(env, data, b->used, [](Napi::Env, uint8_t*, Batch* batch) {
      if (!batch->returned) batch->shared->pool->Put(batch->data);
      delete batch;
    }, b);
    fn.Call({buf, Napi::Number::New(env, count)});
    // The batch is the callback's only: once it returns, the memory goes back to the pool and the
    // ArrayBuffer is detached (a view kept past the callback reads as empty, never as a later
    // batch's bytes). Waiting for V8 to collect the Buffer instead held every batch whose small
    // wrapper object had been promoted until the next full GC: ~100 MiB of batches under load.
    Napi::Error pending;
    if (env.IsExceptionPending()) pending = env.GetAndClearPendingException();
    b->returned = true;  // before Detach: the finalizer may run inside it and free b
    shared->pool->Put(data);
    Napi::ArrayBuffer ab = buf.ArrayBuffer();
    if (!ab.IsDetached()) ab.Detach();
    {
      std::lock_guard<std::mutex> lock(shared->handMu);
      shared->handed = false;
    }
    if (!pending.IsEmpty()) pending.ThrowAsJavaScriptException();
  }

  void Run() {
    tl_self = this;
    while (!stop_.load()) {
      if (stalled_) {
        // JS is behind with every slot taken and this batch full: the records wait in the kernel
        // ring (its producers see it fill) until a slot frees.
        if (!JsHasRoom()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        Resume();
      }
      // Producers may submit without waking us (BPF_RB_NO_WAKEUP): the idle timeout is a sweep.
      int timeout = static_cast<int>(pollMs_);
      // While JS is behind (every pending slot taken) a partial batch is not handed over: it keeps
      // filling up to its size, so a stall of the JS thread costs buffer bytes, not whole batches of
      // a few milliseconds each. Only a full batch that finds no slot is dropped.
      if (current_->count > 0 && JsHasRoom()) {
        uint64_t age = NowMs() - firstRecordMs_;
        timeout = age >= flushMs_ ? 0 : static_cast<int>(flushMs_ - age);
      }
      int n = ring_buffer__poll(rb_, timeout);
      // Producers that submit with BPF_RB_NO_WAKEUP never wake the poll: a quiet poll still
      // sweeps every ring once.
      if (n == 0) n = ring_buffer__consume(rb_);
      if (stalled_) continue;  // OnRecord ended the poll
      if (n < 0 && n != -EINTR) {
        shared_->counters.pollErrors++;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (current_->count > 0 && NowMs() - firstRecordMs_ >= flushMs_ && JsHasRoom()) Flush();
    }
    // Final drain so that close() delivers everything already in the rings: nothing is left in them
    // now, what finds no slot is dropped.
    draining_ = true;
    if (stalled_) Resume();
    ring_buffer__consume(rb_);
    Flush();
    shared_->pool->Put(current_->data);
    delete current_;
    current_ = nullptr;
  }

  void Stop() {
    if (thread_.joinable()) {
      stop_.store(true);
      if (wakeFd_ >= 0) {
        uint64_t one = 1;
        (void)!write(wakeFd_, &one, sizeof(one));
      }
      thread_.join();
      // What waits for JS is queued in the ThreadSafeFunction, in order, before it is released: it
      // delivers what it holds before it goes (closeAndFlush waits for that).
      std::deque<Batch*> left;
      {
        std::lock_guard<std::mutex> lock(shared_->handMu);
        left.swap(shared_->ready);
      }
      for (Batch* b : left) Call(b);
      tsfn_.Release();
    }
    if (rb_ != nullptr) ring_buffer__free(rb_);
    rb_ = nullptr;
    if (wakeFd_ >= 0) close(wakeFd_);
    wakeFd_ = -1;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Counters& c = shared_->counters;
    Napi::Object o = Napi::Object::New(env);
    auto num = [&](const char* k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
    num("records", c.records);
    num("bytes", c.bytes);
    num("batches", c.batches);
    num("droppedRecords", c.droppedRecords);
    num("droppedBatches", c.droppedBatches);
    num("oversizeRecords", c.oversizeRecords);
    num("pollErrors", c.pollErrors);
    num("pendingBatches", c.pending);
    num("ringWaits", c.ringWaits);
    num("bufferAllocations", shared_->pool->allocations());
    return o;
  }

  // pendingBatches(): stats().pendingBatches alone, for each batch's pressure. A stats() object (ten
  // named properties set through Node-API, each name internalized) cost tens of µs of the JS thread
  // per batch, called ~50 times a second at 10k requests/s.
  Napi::Value PendingBatches(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), shared_->counters.pending.load());
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (thread_.joinable()) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (thread_.joinable()) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  static thread_local Consumer* tl_self;

  std::shared_ptr<Shared> shared_;
  ring_buffer* rb_ = nullptr;
  int wakeFd_ = -1;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  Batch* current_ = nullptr;
  uint64_t firstRecordMs_ = 0;
  uint32_t flushMs_ = 10;
  uint32_t pollMs_ = 10;
  bool leaveInRing_ = false;
  // Consumer thread only: leaveInRing's stall, and the record read before it began.
  bool stalled_ = false;
  bool draining_ = false;
  std::vector<uint8_t> waiting_;
  uint32_t waitingRing_ = 0;
};

thread_local Consumer* Consumer::tl_self = nullptr;

}  // namespace

void InitRingBuffer(Napi::Env env, Napi::Object exports) { Consumer::Init(env, exports); }

}  // namespace lbts
