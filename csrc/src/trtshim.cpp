// trtshim.cpp — csrc/include/trtshim.h implemented with TensorRT >= 10.1
// (10.x and 11.x). Everything that can be checked without TensorRT lives in
// shim_util.cpp; this file converts between TensorRT objects and the C
// structs and keeps TensorRT's version differences behind #if guards.
//
// TensorRT is opened at run time (trtshim_init, "Loading TensorRT" below),
// not linked: the shim needs TensorRT's headers to build and nothing else,
// and one libtrtshim.so runs on the full libnvinfer, the lean runtime or the
// dispatch runtime. Only TensorRT's extern "C" entry points are resolved
// (createInferRuntime_INTERNAL, createInferBuilder_INTERNAL,
// getInferLibVersion, createNvOnnxParser_INTERNAL, getNvOnnxParserVersion,
// initLibNvInferPlugins); everything else is a virtual call on the objects
// they return. The headers' inline createInferRuntime() / createInferBuilder()
// / createParser() must never be called: they reference the entry points as
// link-time symbols, which -Wl,--no-undefined turns into a link error.
//
// Error text: TensorRT reports most failures as log lines and returns only
// false/nullptr. Every export therefore collects the ERROR lines logged while
// it runs, from its own thread and, for builds and loads, from TensorRT's
// worker threads too (shim_util.h, ErrorCapture), and failures quote them.

// Give the C API default visibility even though the library is compiled with
// -fvisibility=hidden: a declaration's visibility is fixed by its first
// declaration, which is this include. Everything else (the helpers, the
// TensorRT glue) stays internal to libtrtshim.so.
#pragma GCC visibility push(default)
#include "trtshim.h"
#pragma GCC visibility pop

#include <NvInfer.h>
#include <NvOnnxParser.h>
#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "shim_util.h"

#if NV_TENSORRT_MAJOR < 10 || (NV_TENSORRT_MAJOR == 10 && NV_TENSORRT_MINOR < 1)
#error "trtshim needs TensorRT >= 10.1 (getDeviceMemorySizeV2 / setDeviceMemoryV2)"
#endif

// kSAME_COMPUTE_CAPABILITY appeared in TensorRT 10.9.
#if NV_TENSORRT_MAJOR > 10 || NV_TENSORRT_MINOR >= 9
#define TRTSHIM_HAVE_SAME_CC 1
#else
#define TRTSHIM_HAVE_SAME_CC 0
#endif
// DataType::kFP4 appeared in TensorRT 10.8.
#if NV_TENSORRT_MAJOR > 10 || NV_TENSORRT_MINOR >= 8
#define TRTSHIM_HAVE_FP4 1
#else
#define TRTSHIM_HAVE_FP4 0
#endif

// The CUDA runtime version the shim is built for (trtshim_info.cuda_version):
// a real cuda_runtime_api.h says it; with CMake's stub header, the build
// passes -DTRTSHIM_CUDA_VERSION=... (scripts/shim-real-check.sh sets it from
// the TensorRT wheel it builds for); otherwise 0, unknown.
#if defined(CUDART_VERSION)
#define TRTSHIM_CUDA_VERSION_VALUE CUDART_VERSION
#elif defined(TRTSHIM_CUDA_VERSION)
#define TRTSHIM_CUDA_VERSION_VALUE TRTSHIM_CUDA_VERSION
#else
#define TRTSHIM_CUDA_VERSION_VALUE 0
#endif

using namespace trtshim_internal;
namespace nv = nvinfer1;

static_assert(nv::Dims::MAX_DIMS == TRTSHIM_MAX_DIMS, "trtshim_dims must hold any TensorRT Dims");

// ===========================================================================
// Logging
// ===========================================================================
namespace {

struct LogSink {
  trtshim_log_fn fn = nullptr;
  uintptr_t user = 0;
  int32_t max_severity = TRTSHIM_LOG_WARNING;
};

// Readers (log lines) hold the lock shared while they call out, so that when
// trtshim_set_logger returns, the previous callback is never called again and
// the Go side may release its handle. Consequence: a log callback must not
// call trtshim_set_logger.
std::shared_mutex g_sink_mu;
LogSink g_sink;

constexpr size_t kMaxCaptured = ErrorCapture::kMaxBytes;

// The ERROR / INTERNAL_ERROR lines logged for the current export so far
// (see the file comment).
std::string logged_errors() {
  ErrorCapture* c = current_capture();
  return c ? c->text() : std::string();
}
size_t logged_error_count() noexcept {
  ErrorCapture* c = current_capture();
  return c ? c->count() : 0;
}
void clear_logged_errors() noexcept {
  if (ErrorCapture* c = current_capture()) c->clear();
}

// ": <captured errors>" or "" — ready to append to a message.
std::string logged_errors_suffix() {
  std::string t = logged_errors();
  return t.empty() ? std::string() : ": " + t;
}

int32_t to_shim_severity(nv::ILogger::Severity s) noexcept {
  switch (s) {
    case nv::ILogger::Severity::kINTERNAL_ERROR: return TRTSHIM_LOG_INTERNAL_ERROR;
    case nv::ILogger::Severity::kERROR: return TRTSHIM_LOG_ERROR;
    case nv::ILogger::Severity::kWARNING: return TRTSHIM_LOG_WARNING;
    case nv::ILogger::Severity::kINFO: return TRTSHIM_LOG_INFO;
    case nv::ILogger::Severity::kVERBOSE: return TRTSHIM_LOG_VERBOSE;
  }
  return TRTSHIM_LOG_VERBOSE;
}

const char* severity_tag(int32_t s) noexcept {
  switch (s) {
    case TRTSHIM_LOG_INTERNAL_ERROR: return "INTERNAL_ERROR";
    case TRTSHIM_LOG_ERROR: return "ERROR";
    case TRTSHIM_LOG_WARNING: return "WARNING";
    case TRTSHIM_LOG_INFO: return "INFO";
    default: return "VERBOSE";
  }
}

void emit(int32_t sev, const char* msg) noexcept {
  if (msg == nullptr) msg = "";
  if (sev <= TRTSHIM_LOG_ERROR) record_error(msg);
  std::shared_lock<std::shared_mutex> lock(g_sink_mu);
  if (!severity_passes(sev, g_sink.max_severity)) return;
  if (g_sink.fn != nullptr) {
    g_sink.fn(g_sink.user, sev, msg);
  } else {
    std::fprintf(stderr, "[trtshim] %s: %s\n", severity_tag(sev), msg);
  }
}

class Logger final : public nv::ILogger {
 public:
  void log(Severity severity, nv::AsciiChar const* msg) noexcept override { emit(to_shim_severity(severity), msg); }
};

// TensorRT keeps a reference to the logger in every builder/runtime, and a
// plan may be freed during static destruction at exit: never destroy it.
Logger& logger() {
  static Logger* l = new Logger();
  return *l;
}

// Runs body for an export with its own error capture (builds and loads also
// collect TensorRT's worker threads' errors: shim_util.h), turns any
// exception into a status (no exception may cross into C). failf is used in
// the handlers because it does not allocate.
template <class F>
trtshim_status guarded(const char* fn, trtshim_err* err, F&& body, Reach reach = Reach::kOwnThread) noexcept {
  try {
    ErrorCapture capture;
    CaptureScope scope(capture, reach);
    return body();
  } catch (const std::bad_alloc&) {
    return failf(err, TRTSHIM_ERR_OUT_OF_MEMORY, "%s: out of host memory", fn);
  } catch (const std::exception& e) {
    return failf(err, TRTSHIM_ERR_INTERNAL, "%s: unexpected exception: %s", fn, e.what());
  } catch (...) {
    return failf(err, TRTSHIM_ERR_INTERNAL, "%s: unexpected exception", fn);
  }
}

// ===========================================================================
// Loading TensorRT (see the file comment)
// ===========================================================================

// TensorRT's extern "C" entry points, as declared in its headers.
using CreateFn = void* (*)(void* logger, int32_t version);
using CreateParserFn = void* (*)(void* network, void* logger, int version);
using VersionFn = int32_t (*)();
using ParserVersionFn = int (*)();
using InitPluginsFn = bool (*)(void* logger, char const* ns);

// What trtshim_init opened. Written once under g_trt_mu before g_trt_ready
// is set (release); read without the lock after g_trt_ready is seen
// (acquire). The libraries are never closed: TensorRT objects and the
// plugin registry live until the process ends.
struct Trt {
  int32_t kind = TRTSHIM_RUNTIME_NONE;
  std::string requested;  // trtshim_init_options.tensorrt_lib as given
  std::string path;       // the file opened
  int32_t allow_host_code = 1;
  int32_t lib_version = 0;
  int32_t parser_version = 0;
  bool plugins = false;
  CreateFn create_runtime = nullptr;
  CreateFn create_builder = nullptr;        // full libnvinfer only
  CreateParserFn create_parser = nullptr;   // libnvonnxparser, when found
};
std::mutex g_trt_mu;
Trt g_trt;
std::atomic<bool> g_trt_ready{false};

const char* kind_name(int32_t k) noexcept {
  switch (k) {
    case TRTSHIM_RUNTIME_FULL: return "full";
    case TRTSHIM_RUNTIME_LEAN: return "lean";
    case TRTSHIM_RUNTIME_DISPATCH: return "dispatch";
    default: return "none";
  }
}

// The path dlopen resolved for h (a soname becomes the file it found).
std::string loaded_path(void* h, const std::string& fallback) {
  struct link_map* lm = nullptr;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != nullptr && lm->l_name != nullptr && lm->l_name[0] != '\0')
    return lm->l_name;
  return fallback;
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

// dlopen of name beside the TensorRT library first (pip wheels and
// tarballs keep them together, outside the loader's path), then by name.
void* open_companion(const std::string& dir, const std::string& name) {
  void* h = nullptr;
  if (!dir.empty()) h = dlopen((dir + name).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  return h;
}

template <class Fn>
Fn sym(void* h, const char* name) {
  return reinterpret_cast<Fn>(dlsym(h, name));
}

// Opens TensorRT as opts says; fills t. The caller holds g_trt_mu.
trtshim_status load_tensorrt(const trtshim_init_options& opts, Trt& t, trtshim_err* err) {
  const std::string major = std::to_string(NV_TENSORRT_MAJOR);
  std::vector<std::string> names;
  if (opts.tensorrt_lib != nullptr && opts.tensorrt_lib[0] != '\0') {
    names.push_back(opts.tensorrt_lib);
  } else {
    // Only the headers' major: TensorRT refuses an API of another major.
    for (const char* base : {"libnvinfer", "libnvinfer_lean", "libnvinfer_dispatch"}) {
      names.push_back(std::string(base) + ".so." + major);
      names.push_back(std::string(base) + ".so");
    }
  }
  void* h = nullptr;
  std::string tried;
  for (const std::string& n : names) {
    dlerror();
    h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h != nullptr) {
      t.path = loaded_path(h, n);
      break;
    }
    const char* e = dlerror();
    if (!tried.empty()) tried += "; ";
    tried += e ? e : n + ": dlopen failed";
  }
  if (h == nullptr)
    return fail(err, TRTSHIM_ERR_NO_TENSORRT,
                "no TensorRT library could be opened (" + tried +
                    "): install TensorRT " + major + " (libnvinfer, or the lean runtime libnvinfer_lean) or name it "
                    "with --tensorrt-lib");

  auto version = sym<VersionFn>(h, "getInferLibVersion");
  t.create_runtime = sym<CreateFn>(h, "createInferRuntime_INTERNAL");
  if (version == nullptr || t.create_runtime == nullptr) {
    dlclose(h);
    return fail(err, TRTSHIM_ERR_NO_TENSORRT,
                t.path + " is not a TensorRT runtime library (no createInferRuntime_INTERNAL/getInferLibVersion)");
  }
  t.lib_version = version();
  // getInferLibVersion() is major*10000 + minor*100 + patch from TensorRT 10.
  const int32_t lib_major = t.lib_version / 10000;
  if (lib_major != NV_TENSORRT_MAJOR) {
    dlclose(h);
    return failf(err, TRTSHIM_ERR_NO_TENSORRT,
                 "%s is TensorRT %d.%d.%d, but this shim was built with TensorRT %d.%d headers: rebuild it against "
                 "TensorRT %d headers or open a TensorRT %d library",
                 t.path.c_str(), lib_major, t.lib_version / 100 % 100, t.lib_version % 100, NV_TENSORRT_MAJOR,
                 NV_TENSORRT_MINOR, lib_major, NV_TENSORRT_MAJOR);
  }
  // Same major, and not older than the headers: the shim calls TensorRT
  // through the headers' interface tables, and an older library's tables
  // lack what newer headers may call. (A newer minor is fine: the 11.1
  // headers run the 11.4 runtime.)
  if (t.lib_version / 100 % 100 < NV_TENSORRT_MINOR) {
    dlclose(h);
    return failf(err, TRTSHIM_ERR_NO_TENSORRT,
                 "%s is TensorRT %d.%d.%d, older than the TensorRT %d.%d headers this shim was built with: use TensorRT "
                 ">= %d.%d or rebuild the shim against its headers",
                 t.path.c_str(), lib_major, t.lib_version / 100 % 100, t.lib_version % 100, NV_TENSORRT_MAJOR,
                 NV_TENSORRT_MINOR, NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR);
  }
  t.create_builder = sym<CreateFn>(h, "createInferBuilder_INTERNAL");
  if (t.create_builder != nullptr) {
    t.kind = TRTSHIM_RUNTIME_FULL;
  } else {
    // Lean and dispatch export the same runtime entry points; only the
    // file tells them apart.
    std::string base = t.path.substr(t.path.rfind('/') == std::string::npos ? 0 : t.path.rfind('/') + 1);
    t.kind = base.find("dispatch") != std::string::npos ? TRTSHIM_RUNTIME_DISPATCH : TRTSHIM_RUNTIME_LEAN;
  }
  t.allow_host_code = opts.allow_engine_host_code;
  t.requested = opts.tensorrt_lib ? opts.tensorrt_lib : "";

  if (t.kind != TRTSHIM_RUNTIME_FULL) {
    emit(TRTSHIM_LOG_INFO, ("TensorRT " + std::string(kind_name(t.kind)) + " runtime " + t.path +
                            ": engines are deserialized only (no builds, no ONNX parser, no plugin library)")
                               .c_str());
    return TRTSHIM_OK;
  }
  const std::string dir = dir_of(t.path);
  if (void* ph = open_companion(dir, "libnvonnxparser.so." + major)) {
    auto pv = sym<ParserVersionFn>(ph, "getNvOnnxParserVersion");
    t.create_parser = sym<CreateParserFn>(ph, "createNvOnnxParser_INTERNAL");
    if (t.create_parser != nullptr && pv != nullptr) {
      t.parser_version = pv();
    } else {
      t.create_parser = nullptr;
      emit(TRTSHIM_LOG_WARNING, "libnvonnxparser lacks createNvOnnxParser_INTERNAL: builds are refused");
    }
  } else {
    emit(TRTSHIM_LOG_WARNING, ("no ONNX parser (libnvonnxparser.so." + major + ") beside " + t.path +
                               " or on the loader path: builds are refused")
                                  .c_str());
  }
  // Plugins: ONNX ops TensorRT imports as plugins (RoiAlign, ScatterElements
  // with a reduction, ...) need the plugin library registered before any
  // parse or deserialize; without it those models fail to parse.
  if (void* plh = open_companion(dir, "libnvinfer_plugin.so." + major)) {
    auto init_plugins = sym<InitPluginsFn>(plh, "initLibNvInferPlugins");
    if (init_plugins != nullptr && init_plugins(&logger(), "")) {
      t.plugins = true;
    } else {
      emit(TRTSHIM_LOG_WARNING, "libnvinfer_plugin found but initLibNvInferPlugins failed: plugin ops will not parse");
    }
  } else {
    emit(TRTSHIM_LOG_INFO, ("no libnvinfer_plugin.so." + major + ": ONNX ops TensorRT implements as plugins will not parse")
                               .c_str());
  }
  return TRTSHIM_OK;
}

// The TensorRT opened by trtshim_init, or NULL with *st set.
const Trt* tensorrt(trtshim_err* err, trtshim_status* st) {
  if (g_trt_ready.load(std::memory_order_acquire)) return &g_trt;
  *st = fail(err, TRTSHIM_ERR_NO_TENSORRT, "TensorRT is not loaded: trtshim_init has not succeeded");
  return nullptr;
}

// Creates a runtime (or, with builder = true, a builder) through TensorRT's
// entry point, trusting the result only when TensorRT logged no error.
//
// Why the log and not only the pointer (issue 15, defect 1): when TensorRT
// cannot initialise CUDA (no GPU; a driver older than TensorRT's CUDA) it
// logs "CUDA initialization failure with error: 35" and still returns a
// non-null pointer that is not an object (seen: 0x228); the first call on it
// crashed the server. Such a pointer is dropped without delete — deleting
// it would be the same invalid call — so the little TensorRT allocated
// behind it leaks, once per failed attempt. The message is TensorRT's own.
template <class T>
trtshim_status create_checked(const Trt& t, bool builder, std::unique_ptr<T>& out, trtshim_err* err) {
  const char* what = builder ? "builder" : "runtime";
  const size_t before = logged_error_count();
  void* p = (builder ? t.create_builder : t.create_runtime)(&logger(), NV_TENSORRT_VERSION);
  const bool logged = logged_error_count() > before;
  if (p != nullptr && !logged) {
    out.reset(static_cast<T*>(p));
    return TRTSHIM_OK;
  }
  // p (if any) is deliberately leaked: see above.
  const std::string detail = logged_errors();
  const bool cuda = detail.find("CUDA") != std::string::npos || detail.find("cuda") != std::string::npos;
  return fail(err, cuda ? TRTSHIM_ERR_CUDA_INIT : TRTSHIM_ERR_RUNTIME,
              std::string("cannot create a TensorRT ") + what +
                  (cuda ? " (TensorRT could not initialise CUDA: no usable GPU, or a driver older than its CUDA)" : "") +
                  (detail.empty() ? std::string(": TensorRT returned nothing and logged no error") : ": " + detail));
}

// Device allocation failures reach us only as log text.
bool looks_like_oom(const std::string& s) {
  return s.find("out of memory") != std::string::npos || s.find("Out of memory") != std::string::npos ||
         s.find("OutOfMemory") != std::string::npos || s.find("cudaErrorMemoryAllocation") != std::string::npos;
}

// ===========================================================================
// Conversions
// ===========================================================================

trtshim_dims from_trt(const nv::Dims& d) noexcept {
  trtshim_dims out{};
  out.nb = d.nbDims;
  if (d.nbDims < 0 || d.nbDims > TRTSHIM_MAX_DIMS) return out;  // nb tells the caller it is invalid
  for (int32_t i = 0; i < d.nbDims; ++i) out.d[i] = d.d[i];
  return out;
}

nv::Dims to_trt(const trtshim_dims& d) noexcept {
  nv::Dims out{};
  out.nbDims = d.nb;
  for (int32_t i = 0; i < d.nb && i < TRTSHIM_MAX_DIMS; ++i) out.d[i] = d.d[i];
  return out;
}

int32_t to_shim_dtype(nv::DataType t) noexcept {
  switch (t) {
    case nv::DataType::kFLOAT: return TRTSHIM_DTYPE_FLOAT;
    case nv::DataType::kHALF: return TRTSHIM_DTYPE_HALF;
    case nv::DataType::kBF16: return TRTSHIM_DTYPE_BF16;
    case nv::DataType::kINT8: return TRTSHIM_DTYPE_INT8;
    case nv::DataType::kUINT8: return TRTSHIM_DTYPE_UINT8;
    case nv::DataType::kINT32: return TRTSHIM_DTYPE_INT32;
    case nv::DataType::kINT64: return TRTSHIM_DTYPE_INT64;
    case nv::DataType::kBOOL: return TRTSHIM_DTYPE_BOOL;
    case nv::DataType::kFP8: return TRTSHIM_DTYPE_FP8;
    case nv::DataType::kINT4: return TRTSHIM_DTYPE_INT4;
#if TRTSHIM_HAVE_FP4
    case nv::DataType::kFP4: return TRTSHIM_DTYPE_FP4;
#endif
    default: return TRTSHIM_DTYPE_OTHER;  // kE8M0 (scale factors) and anything newer
  }
}

bool has_dynamic(const nv::Dims& d) noexcept {
  for (int32_t i = 0; i < d.nbDims && i < nv::Dims::MAX_DIMS; ++i)
    if (d.d[i] < 0) return true;
  return false;
}

// ===========================================================================
// Build
// ===========================================================================

// Forwards TensorRT's build progress to the caller's callback; a nonzero
// return from a STEP cancels: stepComplete returns false, TensorRT abandons
// the build and buildSerializedNetwork returns nullptr.
class Progress final : public nv::IProgressMonitor {
 public:
  Progress(trtshim_progress_fn fn, uintptr_t user) : fn_(fn), user_(user) {}

  void phaseStart(char const* phaseName, char const* parentPhase, int32_t nbSteps) noexcept override {
    fn_(user_, TRTSHIM_PROGRESS_START, phaseName ? phaseName : "", parentPhase, nbSteps);
  }
  bool stepComplete(char const* phaseName, int32_t step) noexcept override {
    if (cancelled_.load()) return false;
    if (fn_(user_, TRTSHIM_PROGRESS_STEP, phaseName ? phaseName : "", nullptr, step) != 0) {
      cancelled_.store(true);
      return false;
    }
    return true;
  }
  void phaseFinish(char const* phaseName) noexcept override {
    fn_(user_, TRTSHIM_PROGRESS_FINISH, phaseName ? phaseName : "", nullptr, 0);
  }
  bool cancelled() const noexcept { return cancelled_.load(); }

 private:
  trtshim_progress_fn fn_;
  uintptr_t user_;
  // TensorRT may report steps from worker threads.
  std::atomic<bool> cancelled_{false};
};

#if NV_TENSORRT_MAJOR >= 11
const char kTrt11PrecisionMsg[] =
    "TensorRT 11 builds strongly typed networks only, so the precision comes from the ONNX file: for fp16/bf16 "
    "convert the model to mixed precision first (NVIDIA ModelOpt AutoCast: python -m modelopt.onnx.autocast "
    "--onnx_path model.onnx) and build it with --precision=fp32 (or strongly-typed); for int8/fp8 bring a Q/DQ "
    "ONNX (ModelOpt quantization)";
#endif

// Builder flags for the requested precision (TensorRT 10; no-op on 11, where
// trtshim_build refuses FP16/BF16/INT8 before getting here).
void apply_precision(nv::IBuilderConfig& cfg, int32_t precision) {
#if NV_TENSORRT_MAJOR < 11
  // TensorRT 10.12 deprecated these flags in favour of strongly typed
  // networks, but they are still the only way a TensorRT 10 user gets fp16 /
  // bf16 / int8 kernels out of an fp32 ONNX; TensorRT 11 removed them (see the
  // #else). The pragma keeps -Werror for every other deprecated use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  switch (precision) {
    case TRTSHIM_PRECISION_FP16: cfg.setFlag(nv::BuilderFlag::kFP16); break;
    case TRTSHIM_PRECISION_BF16: cfg.setFlag(nv::BuilderFlag::kBF16); break;
    // INT8 without a calibrator: only Q/DQ layers in the ONNX give scales.
    case TRTSHIM_PRECISION_INT8: cfg.setFlag(nv::BuilderFlag::kINT8); break;
    default: break;  // FP32 (TensorRT's default, TF32 allowed) / STRONGLY_TYPED (a network flag)
  }
#pragma GCC diagnostic pop
#else
  (void)cfg;
  (void)precision;
#endif
}

trtshim_status set_timing_cache(nv::IBuilderConfig& cfg, const trtshim_build_options& o,
                                std::unique_ptr<nv::ITimingCache>& tc, trtshim_err* err) {
  if (o.timing_cache != nullptr && o.timing_cache_len > 0) {
    tc.reset(cfg.createTimingCache(o.timing_cache, o.timing_cache_len));
    if (tc && cfg.setTimingCache(*tc, /*ignoreMismatch=*/false)) return TRTSHIM_OK;
    // A cache from another GPU or TensorRT version, or a corrupt file, only
    // costs build time: start empty instead of failing the build.
    emit(TRTSHIM_LOG_WARNING, "the timing cache does not fit this GPU/TensorRT (or is corrupt); starting empty");
    clear_logged_errors();
  }
  tc.reset(cfg.createTimingCache(nullptr, 0));
  if (!tc || !cfg.setTimingCache(*tc, false))
    return fail(err, TRTSHIM_ERR_BUILD, "could not create a timing cache" + logged_errors_suffix());
  return TRTSHIM_OK;
}

trtshim_status copy_blob(const nv::IHostMemory& mem, trtshim_blob* out, trtshim_err* err) {
  size_t n = mem.size();
  void* p = std::malloc(n > 0 ? n : 1);
  if (p == nullptr) return failf(err, TRTSHIM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes for the result", n);
  if (n > 0) std::memcpy(p, mem.data(), n);
  out->data = p;
  out->len = n;
  return TRTSHIM_OK;
}

std::string parser_errors(const nvonnxparser::IParser& p) {
  std::string s;
  for (int32_t i = 0; i < p.getNbErrors() && s.size() < kMaxCaptured; ++i) {
    const nvonnxparser::IParserError* e = p.getError(i);
    if (e == nullptr) continue;
    if (!s.empty()) s += "; ";
    if (e->node() >= 0) {
      s += "node ";
      s += std::to_string(e->node());
      const char* nm = e->nodeName();
      const char* op = e->nodeOperator();
      if (nm && *nm) s += std::string(" '") + nm + "'";
      if (op && *op) s += std::string(" (") + op + ")";
      s += ": ";
    }
    s += e->desc() ? e->desc() : "unknown error";
  }
  return s;
}

trtshim_status build_impl(const void* onnx, size_t onnx_len, const char* model_dir, const trtshim_build_options* opts,
                          trtshim_blob* plan_out, trtshim_blob* cache_out, trtshim_err* err) {
  if (onnx == nullptr || onnx_len == 0) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "empty ONNX model");
  if (plan_out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "plan is NULL");
  std::string why;
  if (validate_build_options(opts, &why) != TRTSHIM_OK) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, why);
  const trtshim_build_options& o = *opts;

#if NV_TENSORRT_MAJOR >= 11
  if (o.precision == TRTSHIM_PRECISION_FP16 || o.precision == TRTSHIM_PRECISION_BF16 ||
      o.precision == TRTSHIM_PRECISION_INT8)
    return fail(err, TRTSHIM_ERR_UNSUPPORTED, kTrt11PrecisionMsg);
#endif
#if !TRTSHIM_HAVE_SAME_CC
  if (o.hardware_compat == TRTSHIM_HWCOMPAT_SAME_COMPUTE_CAPABILITY)
    return fail(err, TRTSHIM_ERR_UNSUPPORTED,
                "hardware compatibility 'same compute capability' needs TensorRT >= 10.9 (built against " +
                    std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + ")");
#endif

  trtshim_status st = TRTSHIM_OK;
  const Trt* t = tensorrt(err, &st);
  if (t == nullptr) return st;
  if (t->kind != TRTSHIM_RUNTIME_FULL)
    return fail(err, TRTSHIM_ERR_UNSUPPORTED,
                std::string("the ") + kind_name(t->kind) + " TensorRT runtime (" + t->path +
                    ") cannot build engines: it only deserializes version-compatible plans built elsewhere with "
                    "the full TensorRT (libnvinfer and libnvonnxparser)");
  if (t->create_parser == nullptr)
    return fail(err, TRTSHIM_ERR_UNSUPPORTED,
                "no ONNX parser (libnvonnxparser) was found beside " + t->path + ": cannot build engines");

  // Declaration order is destruction order reversed: the config goes before
  // the parser (which owns weights the network points into) and the
  // network; the timing cache and progress monitor outlive the config that
  // points at them.
  std::unique_ptr<nv::IBuilder> builder;
  st = create_checked(*t, /*builder=*/true, builder, err);
  if (st != TRTSHIM_OK) return st;
  std::unique_ptr<Progress> progress;
  std::unique_ptr<nv::ITimingCache> tc;

  uint32_t net_flags = 0;
#if NV_TENSORRT_MAJOR < 11
  if (o.precision == TRTSHIM_PRECISION_STRONGLY_TYPED)
    net_flags |= 1U << static_cast<uint32_t>(nv::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#endif
  // TensorRT 11: networks are always strongly typed; no flag needed.
  std::unique_ptr<nv::INetworkDefinition> net{builder->createNetworkV2(net_flags)};
  if (!net) return fail(err, TRTSHIM_ERR_BUILD, "cannot create a network definition" + logged_errors_suffix());

  std::unique_ptr<nvonnxparser::IParser> parser{
      static_cast<nvonnxparser::IParser*>(t->create_parser(net.get(), &logger(), NV_ONNX_PARSER_VERSION))};
  if (!parser) return fail(err, TRTSHIM_ERR_INTERNAL, "cannot create the ONNX parser" + logged_errors_suffix());
  // parse() wants "the model file's path" and resolves external weight files
  // relative to its directory; the bytes come from memory, so any file name
  // inside model_dir will do.
  std::string model_path;
  if (model_dir != nullptr && *model_dir != '\0') model_path = std::string(model_dir) + "/model.onnx";
  if (!parser->parse(onnx, onnx_len, model_path.empty() ? nullptr : model_path.c_str())) {
    std::string detail = parser_errors(*parser);
    if (detail.empty()) detail = logged_errors();
    return fail(err, TRTSHIM_ERR_PARSE, "ONNX parse failed: " + (detail.empty() ? std::string("see the log") : detail));
  }

  // Profile: compare with the parsed inputs first, so a mistake reads as
  // "input 'x' needs a profile" rather than as a builder log line.
  std::vector<NetInput> inputs;
  for (int32_t i = 0; i < net->getNbInputs(); ++i) {
    nv::ITensor* t = net->getInput(i);
    NetInput in;
    in.name = t->getName();
    in.dims = from_trt(t->getDimensions());
    in.shape_tensor = t->isShapeTensor();
    inputs.push_back(std::move(in));
  }
  st = check_profile_against_inputs(inputs, o.profile, o.nb_profile, &why);
  if (st != TRTSHIM_OK) return fail(err, st, why);

  std::unique_ptr<nv::IBuilderConfig> cfg{builder->createBuilderConfig()};
  if (!cfg) return fail(err, TRTSHIM_ERR_BUILD, "cannot create a builder config" + logged_errors_suffix());

  if (o.nb_profile > 0) {
    nv::IOptimizationProfile* prof = builder->createOptimizationProfile();  // owned by the builder
    if (prof == nullptr) return fail(err, TRTSHIM_ERR_BUILD, "cannot create an optimization profile");
    for (int32_t i = 0; i < o.nb_profile; ++i) {
      const trtshim_profile_dim& p = o.profile[i];
      if (!prof->setDimensions(p.name, nv::OptProfileSelector::kMIN, to_trt(p.min)) ||
          !prof->setDimensions(p.name, nv::OptProfileSelector::kOPT, to_trt(p.opt)) ||
          !prof->setDimensions(p.name, nv::OptProfileSelector::kMAX, to_trt(p.max)))
        return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                    "TensorRT rejected the profile for input '" + std::string(p.name) + "'" + logged_errors_suffix());
    }
    if (cfg->addOptimizationProfile(prof) < 0)
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "TensorRT rejected the optimization profile" + logged_errors_suffix());
  }

  if (o.workspace_bytes > 0)
    cfg->setMemoryPoolLimit(nv::MemoryPoolType::kWORKSPACE, static_cast<size_t>(o.workspace_bytes));
  if (o.optimization_level >= 0) cfg->setBuilderOptimizationLevel(o.optimization_level);
  switch (o.hardware_compat) {
    case TRTSHIM_HWCOMPAT_AMPERE_PLUS:
      cfg->setHardwareCompatibilityLevel(nv::HardwareCompatibilityLevel::kAMPERE_PLUS);
      break;
#if TRTSHIM_HAVE_SAME_CC
    case TRTSHIM_HWCOMPAT_SAME_COMPUTE_CAPABILITY:
      cfg->setHardwareCompatibilityLevel(nv::HardwareCompatibilityLevel::kSAME_COMPUTE_CAPABILITY);
      break;
#endif
    default: break;  // NONE: TensorRT's default
  }
  if (o.version_compat == 1) cfg->setFlag(nv::BuilderFlag::kVERSION_COMPATIBLE);
  // kTF32 is on in a fresh IBuilderConfig (TensorRT 10 and 11): fp32 layers
  // may then multiply 10-bit mantissas. Clearing it is the builder's own
  // switch, so strict fp32 no longer depends on NVIDIA_TF32_OVERRIDE being
  // set in the environment of whoever builds.
  if (o.disable_tf32 == 1) cfg->clearFlag(nv::BuilderFlag::kTF32);
  apply_precision(*cfg, o.precision);

  if (o.timing_cache != nullptr || cache_out != nullptr) {
    st = set_timing_cache(*cfg, o, tc, err);
    if (st != TRTSHIM_OK) return st;
  }
  if (o.progress != nullptr) {
    progress.reset(new Progress(o.progress, o.progress_user));
    cfg->setProgressMonitor(progress.get());
  }

  std::unique_ptr<nv::IHostMemory> plan{builder->buildSerializedNetwork(*net, *cfg)};
  // A cancellation that raced with the last step still counts: the caller
  // asked to stop and must not receive a plan it no longer expects.
  if (progress && progress->cancelled()) return fail(err, TRTSHIM_ERR_CANCELLED, "build cancelled by the progress callback");
  if (!plan || plan->size() == 0) {
    std::string detail = logged_errors();
    if (looks_like_oom(detail))
      return fail(err, TRTSHIM_ERR_OUT_OF_MEMORY, "TensorRT build ran out of memory: " + detail);
    return fail(err, TRTSHIM_ERR_BUILD, "TensorRT build failed" + (detail.empty() ? std::string(" (see the log)") : ": " + detail));
  }

  trtshim_blob plan_blob{nullptr, 0};
  trtshim_blob cache_blob{nullptr, 0};
  st = copy_blob(*plan, &plan_blob, err);
  if (st != TRTSHIM_OK) return st;
  if (cache_out != nullptr) {
    std::unique_ptr<nv::IHostMemory> ser{tc->serialize()};
    if (!ser) {
      std::free(plan_blob.data);
      return fail(err, TRTSHIM_ERR_BUILD, "cannot serialize the timing cache" + logged_errors_suffix());
    }
    st = copy_blob(*ser, &cache_blob, err);
    if (st != TRTSHIM_OK) {
      std::free(plan_blob.data);
      return st;
    }
  }
  // Out-params only on success.
  *plan_out = plan_blob;
  if (cache_out != nullptr) *cache_out = cache_blob;
  return TRTSHIM_OK;
}

}  // namespace

// ===========================================================================
// Handles
// ===========================================================================

struct IoEntry {
  trtshim_io_info info;
  bool name_fits;  // false: the name is longer than TRTSHIM_NAME_LEN-1 bytes
  bool shape_inference_io;
};

struct trtshim_engine {
  // The runtime must outlive the engine it deserialized: it is declared
  // first, so it is destroyed last.
  std::unique_ptr<nv::IRuntime> runtime;
  std::unique_ptr<nv::ICudaEngine> engine;
  std::vector<IoEntry> io;
  std::unordered_map<std::string, size_t> by_name;
  int32_t nb_profiles = 0;
  int64_t device_memory = 0;

  const IoEntry* find(const char* name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &io[it->second];
  }
};

struct trtshim_context {
  trtshim_engine* engine = nullptr;
  std::unique_ptr<nv::IExecutionContext> ctx;
  bool user_memory = false;
  bool memory_set = false;
};

namespace {

// Which outputs are data-dependent (shape known only after enqueue, e.g. NMS
// or NonZero)? TensorRT has no engine-level flag, but its contract for
// IExecutionContext::getTensorShape is: once every input shape is set, an
// output dimension that is still -1 depends on tensor values. So we probe
// with a throw-away context (kUSER_MANAGED: it allocates no activation
// memory), set every dynamic input to profile 0's opt shape and read the
// outputs. When the probe is impossible — inputs that are shape tensors need
// their values, or the context cannot be created — guess_data_dependent()
// decides from the engine shapes alone (see shim_util.h).
void mark_data_dependent(trtshim_engine& e) {
  bool any = false;
  bool shape_io = false;
  for (const IoEntry& io : e.io) {
    if (io.info.mode == TRTSHIM_IO_OUTPUT && dims_has_dynamic(io.info.shape)) any = true;
    if (io.info.mode == TRTSHIM_IO_INPUT && io.shape_inference_io) shape_io = true;
  }
  if (!any) return;

  bool probed = false;
  if (!shape_io && e.nb_profiles > 0) {
    std::unique_ptr<nv::IExecutionContext> probe{
        e.engine->createExecutionContext(nv::ExecutionContextAllocationStrategy::kUSER_MANAGED)};
    if (probe) {
      probed = true;
      for (const IoEntry& io : e.io) {
        if (io.info.mode != TRTSHIM_IO_INPUT || !io.info.has_profile) continue;
        if (!probe->setInputShape(io.info.name, to_trt(io.info.opt))) probed = false;
      }
      if (probed) {
        for (IoEntry& io : e.io) {
          if (io.info.mode != TRTSHIM_IO_OUTPUT || !dims_has_dynamic(io.info.shape)) continue;
          nv::Dims s = probe->getTensorShape(io.info.name);
          io.info.data_dependent = (s.nbDims < 0 || has_dynamic(s)) ? 1 : 0;
        }
      }
    }
    // The probe's failures are not this call's errors.
    clear_logged_errors();
  }
  if (probed) return;
  std::vector<trtshim_dims> inputs;
  for (const IoEntry& io : e.io)
    if (io.info.mode == TRTSHIM_IO_INPUT) inputs.push_back(io.info.shape);
  for (IoEntry& io : e.io)
    if (io.info.mode == TRTSHIM_IO_OUTPUT) io.info.data_dependent = guess_data_dependent(io.info.shape, inputs) ? 1 : 0;
}

trtshim_status describe_engine(trtshim_engine& e, trtshim_err* err) {
  nv::ICudaEngine& eng = *e.engine;
  e.nb_profiles = eng.getNbOptimizationProfiles();
  e.device_memory = eng.getDeviceMemorySizeV2();
  const int32_t n = eng.getNbIOTensors();
  e.io.reserve(static_cast<size_t>(n > 0 ? n : 0));
  for (int32_t i = 0; i < n; ++i) {
    const char* name = eng.getIOTensorName(i);
    if (name == nullptr) return failf(err, TRTSHIM_ERR_INTERNAL, "engine has no name for I/O tensor %d", i);
    IoEntry io{};
    io.name_fits = copy_text(io.info.name, sizeof(io.info.name), name, false);
    switch (eng.getTensorIOMode(name)) {
      case nv::TensorIOMode::kINPUT: io.info.mode = TRTSHIM_IO_INPUT; break;
      case nv::TensorIOMode::kOUTPUT: io.info.mode = TRTSHIM_IO_OUTPUT; break;
      default: return failf(err, TRTSHIM_ERR_INTERNAL, "I/O tensor %d has no direction", i);
    }
    io.info.dtype = to_shim_dtype(eng.getTensorDataType(name));
    io.info.shape = from_trt(eng.getTensorShape(name));
    io.info.linear = eng.getTensorFormat(name) == nv::TensorFormat::kLINEAR ? 1 : 0;
    io.shape_inference_io = eng.isShapeInferenceIO(name);
    if (io.info.mode == TRTSHIM_IO_INPUT && dims_has_dynamic(io.info.shape) && e.nb_profiles > 0) {
      io.info.has_profile = 1;
      io.info.min = from_trt(eng.getProfileShape(name, 0, nv::OptProfileSelector::kMIN));
      io.info.opt = from_trt(eng.getProfileShape(name, 0, nv::OptProfileSelector::kOPT));
      io.info.max = from_trt(eng.getProfileShape(name, 0, nv::OptProfileSelector::kMAX));
    }
    e.by_name.emplace(name, e.io.size());
    e.io.push_back(io);
  }
  mark_data_dependent(e);
  return TRTSHIM_OK;
}

// Name lookup shared by the context calls: NOT_FOUND with the name quoted.
const IoEntry* lookup(const trtshim_engine& e, const char* name, trtshim_err* err, trtshim_status* st) {
  if (name == nullptr) {
    *st = fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "tensor name is NULL");
    return nullptr;
  }
  const IoEntry* io = e.find(name);
  if (io == nullptr) *st = fail(err, TRTSHIM_ERR_NOT_FOUND, "the engine has no tensor named '" + std::string(name) + "'");
  return io;
}

}  // namespace

// ===========================================================================
// The calls (trtshim.h's struct trtshim_api)
// ===========================================================================
// static: the library exports only trtshim_get_api. The C linkage keeps the
// functions' type that of the table's pointers.
extern "C" {

static trtshim_status trtshim_get_info(trtshim_info* out, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "out is NULL");
    trtshim_info info{};
    info.abi_version = TRTSHIM_ABI_VERSION;
    info.trt_major = NV_TENSORRT_MAJOR;
    info.trt_minor = NV_TENSORRT_MINOR;
    info.trt_patch = NV_TENSORRT_PATCH;
    info.needs_cuda_device = 1;
    info.cuda_version = TRTSHIM_CUDA_VERSION_VALUE;
    if (g_trt_ready.load(std::memory_order_acquire)) {
      info.trt_runtime = g_trt.lib_version;
      info.onnx_parser = g_trt.parser_version;
      info.runtime_kind = g_trt.kind;
      info.can_build = g_trt.kind == TRTSHIM_RUNTIME_FULL && g_trt.create_parser != nullptr;
      info.plugins = g_trt.plugins;
      info.allow_engine_host_code = g_trt.allow_host_code;
      copy_text(info.tensorrt_path, sizeof(info.tensorrt_path), g_trt.path.c_str(), true);
      std::snprintf(info.description, sizeof(info.description),
                    "trtshim (TensorRT headers %d.%d.%d, CUDA %d; %s runtime %d, onnx parser %d, plugins %s)",
                    NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR, NV_TENSORRT_PATCH, info.cuda_version, kind_name(info.runtime_kind),
                    info.trt_runtime, info.onnx_parser, info.plugins ? "yes" : "no");
    } else {
      info.runtime_kind = TRTSHIM_RUNTIME_NONE;
      std::snprintf(info.description, sizeof(info.description),
                    "trtshim (TensorRT headers %d.%d.%d, CUDA %d; TensorRT not loaded yet)", NV_TENSORRT_MAJOR,
                    NV_TENSORRT_MINOR, NV_TENSORRT_PATCH, info.cuda_version);
    }
    *out = info;
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_init(const trtshim_init_options* opts, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (opts == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "opts is NULL");
    if (opts->allow_engine_host_code != 0 && opts->allow_engine_host_code != 1)
      return failf(err, TRTSHIM_ERR_INVALID_ARGUMENT, "allow_engine_host_code must be 0 or 1, got %d",
                   opts->allow_engine_host_code);
    const std::string requested = opts->tensorrt_lib ? opts->tensorrt_lib : "";
    std::lock_guard<std::mutex> lock(g_trt_mu);
    if (g_trt_ready.load(std::memory_order_acquire)) {
      if (g_trt.requested == requested && g_trt.allow_host_code == opts->allow_engine_host_code) return TRTSHIM_OK;
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                  "TensorRT is already loaded (" + g_trt.path + ", allow_engine_host_code " +
                      std::to_string(g_trt.allow_host_code) + ") with other options; it is process-wide");
    }
    Trt t;
    trtshim_status st = load_tensorrt(*opts, t, err);
    if (st != TRTSHIM_OK) return st;
    g_trt = t;
    g_trt_ready.store(true, std::memory_order_release);
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_set_logger(trtshim_log_fn fn, uintptr_t user, int32_t max_severity, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    LogSink s;
    if (fn != nullptr) {
      if (!severity_valid(max_severity))
        return failf(err, TRTSHIM_ERR_INVALID_ARGUMENT, "max_severity %d is outside 0..4", max_severity);
      s.fn = fn;
      s.user = user;
      s.max_severity = max_severity;
    }  // else: the default sink (stderr, warnings and worse)
    std::unique_lock<std::shared_mutex> lock(g_sink_mu);
    g_sink = s;
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_build(const void* onnx, size_t onnx_len, const char* model_dir,
                             const trtshim_build_options* opts, trtshim_blob* plan, trtshim_blob* timing_cache_out,
                             trtshim_err* err) {
  return guarded(
      __func__, err, [&]() { return build_impl(onnx, onnx_len, model_dir, opts, plan, timing_cache_out, err); },
      Reach::kWorkersExclusive);
}

static void trtshim_blob_free(trtshim_blob* b) {
  if (b == nullptr) return;
  std::free(b->data);
  b->data = nullptr;
  b->len = 0;
}

static trtshim_status trtshim_engine_load(const void* plan, size_t len, trtshim_engine** out, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "out is NULL");
    if (plan == nullptr || len == 0) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "empty plan");
    trtshim_status st = TRTSHIM_OK;
    const Trt* t = tensorrt(err, &st);
    if (t == nullptr) return st;
    std::unique_ptr<trtshim_engine> e{new trtshim_engine()};
    st = create_checked(*t, /*builder=*/false, e->runtime, err);
    if (st != TRTSHIM_OK) return st;
    // Version-compatible plans (trtshim_build_options.version_compat) embed
    // the lean runtime as host code and do not load without this. A plan is
    // code anyway (kernels run on the GPU), so plans must come from a trusted
    // source — trtserve's own engine cache — whether or not this is set;
    // --allow-engine-host-code=false refuses the host-code kind.
    e->runtime->setEngineHostCodeAllowed(t->allow_host_code == 1);
    e->engine.reset(e->runtime->deserializeCudaEngine(plan, len));
    if (!e->engine) {
      std::string detail = logged_errors();
      if (looks_like_oom(detail)) return fail(err, TRTSHIM_ERR_OUT_OF_MEMORY, "loading the plan ran out of memory: " + detail);
      return fail(err, TRTSHIM_ERR_DESERIALIZE,
                  "cannot deserialize the plan (built by another TensorRT version or for another GPU, or corrupt)" +
                      (detail.empty() ? std::string() : ": " + detail));
    }
    st = describe_engine(*e, err);
    if (st != TRTSHIM_OK) return st;
    *out = e.release();
    return TRTSHIM_OK;
  }, Reach::kWorkers);
}

static void trtshim_engine_free(trtshim_engine* e) {
  // Errors TensorRT logs while destroying belong to nobody: without a scope
  // of their own they would reach a build or load running on another thread.
  ErrorCapture capture;
  CaptureScope scope(capture, Reach::kOwnThread);
  try {
    delete e;
  } catch (...) {
    // Destructors of TensorRT objects are noexcept; nothing to report to.
  }
}

static trtshim_status trtshim_engine_io_count(const trtshim_engine* e, int32_t* out, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (e == nullptr || out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine or out is NULL");
    *out = static_cast<int32_t>(e->io.size());
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_engine_io_info(const trtshim_engine* e, int32_t index, trtshim_io_info* out, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (e == nullptr || out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine or out is NULL");
    if (index < 0 || static_cast<size_t>(index) >= e->io.size())
      return failf(err, TRTSHIM_ERR_INVALID_ARGUMENT, "I/O index %d is outside 0..%zu", index, e->io.size());
    const IoEntry& io = e->io[static_cast<size_t>(index)];
    // A cut name would silently address another tensor (or none) later.
    if (!io.name_fits)
      return failf(err, TRTSHIM_ERR_UNSUPPORTED, "I/O tensor %d has a name longer than %d bytes ('%s')", index,
                   TRTSHIM_NAME_LEN - 1, io.info.name);
    *out = io.info;
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_engine_profile_count(const trtshim_engine* e, int32_t* out, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (e == nullptr || out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine or out is NULL");
    *out = e->nb_profiles;
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_engine_device_memory_size(const trtshim_engine* e, int64_t* out, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (e == nullptr || out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine or out is NULL");
    *out = e->device_memory;
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_context_create(trtshim_engine* e, int32_t user_memory, trtshim_context** out,
                                      trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (e == nullptr || out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine or out is NULL");
    if (user_memory != 0 && user_memory != 1)
      return failf(err, TRTSHIM_ERR_INVALID_ARGUMENT, "user_memory must be 0 or 1, got %d", user_memory);
    std::unique_ptr<trtshim_context> c{new trtshim_context()};
    c->engine = e;
    c->user_memory = user_memory == 1;
    c->ctx.reset(user_memory == 1
                     ? e->engine->createExecutionContext(nv::ExecutionContextAllocationStrategy::kUSER_MANAGED)
                     : e->engine->createExecutionContext());
    if (!c->ctx) {
      std::string detail = logged_errors();
      return fail(err, looks_like_oom(detail) ? TRTSHIM_ERR_OUT_OF_MEMORY : TRTSHIM_ERR_RUNTIME,
                  "cannot create an execution context" + (detail.empty() ? std::string() : ": " + detail));
    }
    *out = c.release();
    return TRTSHIM_OK;
  });
}

static void trtshim_context_free(trtshim_context* c) {
  ErrorCapture capture;  // as in trtshim_engine_free
  CaptureScope scope(capture, Reach::kOwnThread);
  try {
    delete c;
  } catch (...) {
  }
}

static trtshim_status trtshim_context_set_device_memory(trtshim_context* c, void* mem, int64_t size, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (c == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context is NULL");
    if (!c->user_memory)
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                  "the context allocates its own memory (created with user_memory = 0)");
    const int64_t need = c->engine->device_memory;
    if (size < need)
      return failf(err, TRTSHIM_ERR_INVALID_ARGUMENT, "device memory of %lld bytes is less than the %lld the engine needs",
                   static_cast<long long>(size), static_cast<long long>(need));
    if (mem == nullptr && need > 0) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "device memory is NULL");
    c->ctx->setDeviceMemoryV2(mem, size);
    if (logged_error_count() > 0) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "setDeviceMemoryV2 failed" + logged_errors_suffix());
    c->memory_set = true;
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_context_set_profile(trtshim_context* c, int32_t profile, void* stream, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (c == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context is NULL");
    if (profile < 0 || profile >= c->engine->nb_profiles)
      return failf(err, TRTSHIM_ERR_INVALID_ARGUMENT, "profile %d is outside 0..%d", profile, c->engine->nb_profiles - 1);
    if (!c->ctx->setOptimizationProfileAsync(profile, static_cast<cudaStream_t>(stream)))
      return fail(err, TRTSHIM_ERR_RUNTIME, "setOptimizationProfileAsync failed" + logged_errors_suffix());
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_context_set_input_shape(trtshim_context* c, const char* name, const trtshim_dims* dims,
                                               trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (c == nullptr || dims == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context or dims is NULL");
    trtshim_status st = TRTSHIM_OK;
    const IoEntry* io = lookup(*c->engine, name, err, &st);
    if (io == nullptr) return st;
    if (io->info.mode != TRTSHIM_IO_INPUT)
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "'" + std::string(name) + "' is an output, not an input");
    std::string why;
    if (!dims_valid(*dims, false, &why))
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "shape for input '" + std::string(name) + "': " + why);
    if (!shape_matches(*dims, io->info.shape, &why))
      return fail(err, TRTSHIM_ERR_SHAPE, "shape for input '" + std::string(name) + "': " + why);
    if (io->info.has_profile) {
      const int32_t prof = c->ctx->getOptimizationProfile();
      trtshim_dims mn = from_trt(c->engine->engine->getProfileShape(name, prof, nv::OptProfileSelector::kMIN));
      trtshim_dims mx = from_trt(c->engine->engine->getProfileShape(name, prof, nv::OptProfileSelector::kMAX));
      if (!dims_within(*dims, mn, mx))
        return fail(err, TRTSHIM_ERR_SHAPE,
                    "shape " + dims_str(*dims) + " for input '" + std::string(name) + "' is outside profile " +
                        std::to_string(prof) + " (" + dims_str(mn) + " .. " + dims_str(mx) + ")");
    }
    if (!c->ctx->setInputShape(name, to_trt(*dims)))
      return fail(err, TRTSHIM_ERR_SHAPE,
                  "TensorRT rejected shape " + dims_str(*dims) + " for input '" + std::string(name) + "'" +
                      logged_errors_suffix());
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_context_tensor_shape(const trtshim_context* c, const char* name, trtshim_dims* out,
                                            trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (c == nullptr || out == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context or out is NULL");
    trtshim_status st = TRTSHIM_OK;
    const IoEntry* io = lookup(*c->engine, name, err, &st);
    if (io == nullptr) return st;
    nv::Dims d = c->ctx->getTensorShape(name);
    if (d.nbDims < 0) return fail(err, TRTSHIM_ERR_NOT_FOUND, "no shape for tensor '" + std::string(name) + "'");
    if (has_dynamic(d)) {
      // Inputs still at -1 were never set; an output at -1 either waits for
      // an input (SHAPE) or is data-dependent (returned as is: its -1 dims
      // are known only after enqueue).
      for (const IoEntry& in : c->engine->io) {
        if (in.info.mode != TRTSHIM_IO_INPUT || !dims_has_dynamic(in.info.shape)) continue;
        if (has_dynamic(c->ctx->getTensorShape(in.info.name)))
          return fail(err, TRTSHIM_ERR_SHAPE,
                      "the shape of input '" + std::string(in.info.name) + "' is not set" +
                          (in.info.name == std::string(name) ? "" : " (needed for '" + std::string(name) + "')"));
      }
    }
    *out = from_trt(d);
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_context_set_tensor_address(trtshim_context* c, const char* name, void* addr,
                                                  trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (c == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context is NULL");
    trtshim_status st = TRTSHIM_OK;
    if (lookup(*c->engine, name, err, &st) == nullptr) return st;
    if (!c->ctx->setTensorAddress(name, addr))
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                  "TensorRT rejected the address for '" + std::string(name) + "'" + logged_errors_suffix());
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_context_set_input_consumed_event(trtshim_context* c, void* event, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (c == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context is NULL");
    if (!c->ctx->setInputConsumedEvent(static_cast<cudaEvent_t>(event)))
      return fail(err, TRTSHIM_ERR_RUNTIME, "setInputConsumedEvent failed" + logged_errors_suffix());
    return TRTSHIM_OK;
  });
}

static trtshim_status trtshim_context_enqueue(trtshim_context* c, void* stream, trtshim_err* err) {
  return guarded(__func__, err, [&]() -> trtshim_status {
    if (c == nullptr) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context is NULL");
    if (c->user_memory && !c->memory_set)
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                  "the context was created with user_memory = 1: call trtshim_context_set_device_memory first");
    if (!c->ctx->enqueueV3(static_cast<cudaStream_t>(stream))) {
      std::string detail = logged_errors();
      return fail(err, TRTSHIM_ERR_RUNTIME,
                  "enqueueV3 failed" + (detail.empty() ? std::string(" (see the log)") : ": " + detail));
    }
    return TRTSHIM_OK;
  });
}

}  // extern "C"

namespace {

trtshim_api make_api() {
  trtshim_api a{};
  a.init = trtshim_init;
  a.get_info = trtshim_get_info;
  a.set_logger = trtshim_set_logger;
  a.build = trtshim_build;
  a.blob_free = trtshim_blob_free;
  a.engine_load = trtshim_engine_load;
  a.engine_free = trtshim_engine_free;
  a.engine_io_count = trtshim_engine_io_count;
  a.engine_io_info = trtshim_engine_io_info;
  a.engine_profile_count = trtshim_engine_profile_count;
  a.engine_device_memory_size = trtshim_engine_device_memory_size;
  a.context_create = trtshim_context_create;
  a.context_free = trtshim_context_free;
  a.context_set_device_memory = trtshim_context_set_device_memory;
  a.context_set_profile = trtshim_context_set_profile;
  a.context_set_input_shape = trtshim_context_set_input_shape;
  a.context_tensor_shape = trtshim_context_tensor_shape;
  a.context_set_tensor_address = trtshim_context_set_tensor_address;
  a.context_set_input_consumed_event = trtshim_context_set_input_consumed_event;
  a.context_enqueue = trtshim_context_enqueue;
  return a;
}

}  // namespace

extern "C" const trtshim_api* trtshim_get_api(uint32_t abi) {
  static const trtshim_api api = make_api();
  return abi == TRTSHIM_ABI_VERSION ? &api : nullptr;
}
