// shim_util.h — the TensorRT-independent half of the shim: argument checks,
// dims/profile validation, error filling, status names.
//
// Why a separate unit: everything here decides whether a caller's request is
// well formed *before* TensorRT sees it (TensorRT's own diagnostics for bad
// profiles or shapes arrive as log lines, not return values), and all of it
// can be unit-tested on machines that have no TensorRT at all. trtshim.cpp
// turns TensorRT objects into the plain structs below and asks these
// functions; nothing here includes a TensorRT or CUDA header.
#ifndef TRTSHIM_SHIM_UTIL_H
#define TRTSHIM_SHIM_UTIL_H

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "trtshim.h"

namespace trtshim_internal {

// ---- errors -------------------------------------------------------------

// The symbolic name of a status ("TRTSHIM_ERR_SHAPE"), "TRTSHIM_ERR_UNKNOWN"
// for values the header does not define.
const char* status_name(trtshim_status s) noexcept;

// Writes code and msg into *err (if err is not NULL), NUL-terminated and
// truncated to fit TRTSHIM_ERR_LEN. A truncated message ends in "..." so a
// reader knows text is missing, and a cut never splits a UTF-8 sequence
// (TensorRT and ONNX node names may hold non-ASCII text, and Go turns invalid
// UTF-8 into U+FFFD). Returns code so callers can `return fail(...)`.
trtshim_status fail(trtshim_err* err, trtshim_status code, const std::string& msg) noexcept;
// printf-style variant.
trtshim_status failf(trtshim_err* err, trtshim_status code, const char* fmt, ...) noexcept
    __attribute__((format(printf, 3, 4)));

// Copies src into dst[cap] with the same truncation rules as fail(), without
// the "..." marker when mark is false. Returns true when all of src fit.
bool copy_text(char* dst, size_t cap, const char* src, bool mark) noexcept;

// ---- error capture ------------------------------------------------------
//
// TensorRT reports most failures as ERROR log lines and returns only
// false/nullptr, so each export collects the errors logged while it runs
// and quotes them. TensorRT logs from the calling thread and, during builds
// and deserialization, also from its own worker threads; an error captured
// per thread only would lose the latter ("see the log"). Rule:
//   - an error logged on a thread that is inside an export goes to that
//     export's capture;
//   - an error logged on any other thread (a TensorRT worker) goes to every
//     "wide" export running: builds and engine loads are wide. Builds run
//     one at a time (their scope holds a process-wide mutex; the backend
//     builds one engine per GPU at a time anyway), so a build's worker
//     errors are its own; loads are not serialized (a model whose engine is
//     cached must not wait minutes for another model's build), so a load
//     running beside a build or another load may also quote a worker error
//     of theirs — an extra line at worst, never a lost one.

// ERROR lines of one export, capped (a failing build can log thousands).
class ErrorCapture {
 public:
  static constexpr size_t kMaxBytes = TRTSHIM_ERR_LEN * 2;
  void add(const char* msg) noexcept;  // thread-safe
  std::string text() const;            // "a; b; c"
  size_t count() const noexcept;       // lines added, also past the cap
  void clear() noexcept;

 private:
  mutable std::mutex mu_;
  std::string text_;
  size_t count_ = 0;
};

// Who reaches a capture besides the thread that made its scope.
enum class Reach {
  kOwnThread,        // nobody else
  kWorkers,          // errors from threads in no export (engine loads)
  kWorkersExclusive  // as kWorkers, one such scope at a time (builds)
};

// While alive, the constructing thread's errors go to c, and others' as
// reach says; a kWorkersExclusive scope first waits for any other to end. A
// scope inside another on the same thread wins while it lives (never an
// exclusive one inside an exclusive one: it would wait for itself). Destroy
// it on the thread that made it.
class CaptureScope {
 public:
  CaptureScope(ErrorCapture& c, Reach reach);
  ~CaptureScope();
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

 private:
  ErrorCapture* prev_;
  ErrorCapture* capture_;
  std::unique_lock<std::mutex> serial_;
  bool wide_;
};

// The logger's entry point for ERROR / INTERNAL_ERROR lines (see above).
void record_error(const char* msg) noexcept;
// This thread's capture, or nullptr outside an export.
ErrorCapture* current_capture() noexcept;

// ---- dims ---------------------------------------------------------------

// "[1,3,-1,640]"; "[?nb=12]" for a struct whose nb is out of range.
std::string dims_str(const trtshim_dims& d);

// Structural validity: 0 <= nb <= TRTSHIM_MAX_DIMS and every used d[i] >= 0,
// or == -1 when allow_dynamic. On failure *why says what is wrong.
bool dims_valid(const trtshim_dims& d, bool allow_dynamic, std::string* why);

bool dims_has_dynamic(const trtshim_dims& d) noexcept;

// True when min[i] <= d[i] <= max[i] for every i (all three same nb).
bool dims_within(const trtshim_dims& d, const trtshim_dims& min, const trtshim_dims& max) noexcept;

// A concrete shape for an input of engine shape `shape` (-1 = dynamic): same
// rank, no -1, and every static dimension equal. Used before
// IExecutionContext::setInputShape so a caller mistake is reported as such
// rather than as a TensorRT log line.
bool shape_matches(const trtshim_dims& concrete, const trtshim_dims& shape, std::string* why);

// ---- build options ------------------------------------------------------

bool precision_valid(int32_t p) noexcept;
bool hwcompat_valid(int32_t h) noexcept;
bool severity_valid(int32_t s) noexcept;
// Whether a message of severity sev passes a filter of max_severity
// (TRTSHIM_LOG_* numbering: 0 is the most severe).
bool severity_passes(int32_t sev, int32_t max_severity) noexcept;

// Checks everything in *o that does not need the parsed network: enum
// ranges, workspace, optimisation level, timing cache pointer/length, and
// each profile entry on its own (name present and unique, min/opt/max of
// equal rank, no -1, min <= opt <= max). Returns TRTSHIM_OK or
// TRTSHIM_ERR_INVALID_ARGUMENT with *why set.
trtshim_status validate_build_options(const trtshim_build_options* o, std::string* why);

// A network input as the builder sees it after parsing.
struct NetInput {
  std::string name;
  trtshim_dims dims;      // -1 where dynamic
  bool shape_tensor = false;
};

// Matches the profile against the parsed network's inputs:
//  - every profile name must be a network input;
//  - every input with a -1 dimension must have an entry (TensorRT would fail
//    the build later with a less direct message);
//  - an entry's rank must equal the input's, and a static dimension must have
//    min == opt == max == that dimension;
//  - inputs that are shape tensors are reported as unsupported (their
//    profile needs values, not dimensions, and the C API has no field for
//    them).
// Returns TRTSHIM_OK, TRTSHIM_ERR_INVALID_ARGUMENT or TRTSHIM_ERR_UNSUPPORTED.
trtshim_status check_profile_against_inputs(const std::vector<NetInput>& inputs,
                                            const trtshim_profile_dim* profile, int32_t nb_profile,
                                            std::string* why);

// ---- engine introspection -----------------------------------------------

// Fallback used only when the shim cannot probe an engine with a context
// (see trtshim.cpp, compute_io_infos): an output is taken as data-dependent
// when it has a -1 in a non-leading dimension while no input has a -1
// outside its leading (batch) dimension — then no input shape can explain
// that dimension, so only tensor values can (NMS counts, NonZero, ...).
// An output that is dynamic only in dimension 0 follows the batch.
bool guess_data_dependent(const trtshim_dims& output, const std::vector<trtshim_dims>& inputs) noexcept;

}  // namespace trtshim_internal

#endif  // TRTSHIM_SHIM_UTIL_H
