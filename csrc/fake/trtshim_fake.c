/*
 * trtshim_fake.c — a CPU fake of the TensorRT shim (csrc/include/trtshim.h).
 *
 * It implements exactly the trtshim.h API (its one export is
 * trtshim_get_api; the calls are this file's static trtshim_* functions)
 * and does documented CPU math, so the Go binding (trt/) and the GPU
 * backend are tested for real on machines without TensorRT or a GPU
 * (docs/development.md, Tests). It is NOT TensorRT: it runs no network, it
 * computes the function below. Build:
 *
 *   cc -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -Icsrc/include \
 *      csrc/fake/trtshim_fake.c -o libtrtshim_fake.so -lpthread
 *
 * ---- 1. Plan format ------------------------------------------------------
 * trtshim_build writes, and trtshim_engine_load reads, a text plan (so tests
 * can write plans by hand):
 *
 *   trtshim-fake-plan 1
 *   precision fp32
 *   input images FLOAT -1x3x32x32 min=1x3x32x32 opt=4x3x32x32 max=8x3x32x32
 *   output scores FLOAT -1x10
 *
 * - Line 1 is the magic "trtshim-fake-plan 1". Anything else (a real
 *   TensorRT plan, junk, an empty plan) fails TRTSHIM_ERR_DESERIALIZE with a
 *   message saying the plan is not a fake plan, as a real TensorRT plan
 *   from another version fails.
 * - Lines end with "\n" ("\r\n" accepted). Blank lines and lines starting
 *   with '#' are ignored. Tokens are separated by spaces or tabs, so tensor
 *   names cannot contain whitespace.
 * - "precision NAME", optional, at most once: fp32 fp16 bf16 int8
 *   strongly_typed (trtshim_build writes the build's precision).
 * - "input NAME DTYPE DIMS [min=DIMS opt=DIMS max=DIMS]" and
 *   "output NAME DTYPE DIMS": DTYPE is one of FLOAT HALF BF16 INT8 UINT8
 *   INT32 INT64 BOOL; DIMS are 1..8 dims joined by 'x', each a positive
 *   integer (< 2^31) or -1 (dynamic). An input with a -1 needs min= opt=
 *   max=, in that order (same rank; fixed dims equal to the shape; for -1
 *   dims 1 <= min <= opt <= max); an input without one must not have them.
 *   IO tensors are indexed in plan order (io_info index); names are unique;
 *   1..16 IO tensors, at least one input and one output. An output may be
 *   -1 only in dim 0 (it takes the batch); any other -1 in an output makes
 *   its shape data-dependent, which the fake refuses to load with
 *   TRTSHIM_ERR_UNSUPPORTED "data-dependent output shapes are not supported
 *   by the fake".
 * - An output's DIMS may be the word "scalar": a rank-0 output, which
 *   TensorRT engines can have and servers must refuse (nothing to split by
 *   batch). Such a plan loads and lists its IO; enqueue fails
 *   TRTSHIM_ERR_UNSUPPORTED (the output has no batch dimension).
 * - "fail_enqueue_every N" (N >= 1), optional: every Nth enqueue of each
 *   context (counting enqueues that passed validation) fails with
 *   TRTSHIM_ERR_RUNTIME and writes nothing — fault injection for tests.
 * - "device_memory N" (N >= 0), optional: the bytes
 *   trtshim_engine_device_memory_size reports (default 4096).
 * - "host_code", optional: the plan carries host code, as TensorRT's
 *   version-compatible plans do; loading it after trtshim_init with
 *   allow_engine_host_code = 0 fails TRTSHIM_ERR_DESERIALIZE (TensorRT
 *   refuses such a plan the same way).
 * - "no_tf32", optional: the plan was built with disable_tf32 = 1
 *   (trtshim_build writes it then, so tests see the option reached the
 *   shim; the fake's math is the same either way).
 * - Any malformed or unknown line, or a repeated optional line, fails
 *   TRTSHIM_ERR_DESERIALIZE with a message naming the line number and text.
 *
 * ---- 2. Math -------------------------------------------------------------
 * Only FLOAT tensors are computed: engines with any other dtype load and list
 * their IO, but enqueue fails TRTSHIM_ERR_UNSUPPORTED.
 * Let B be dim 0 of input 0's shape (input 0 = the first input in plan
 * order). For each batch item b in [0, B):
 *   m_b = mean of item b of input 0 (all elements after dim 0; the sum is
 *         accumulated in double, then rounded to float);
 *   output k (0-based, in plan order among the outputs), element j of item b
 *   (row-major flat index within the item) =
 *         (float)(k+1) * m_b + (float)j * 0.001f        (float arithmetic).
 * Output shapes: a -1 in an output's dim 0 takes B. Every input whose dim 0
 * is dynamic must be set with dim 0 = B (else enqueue fails TRTSHIM_ERR_SHAPE);
 * every output's dim 0 must resolve to B (an output with a fixed dim 0 that
 * differs from B fails enqueue with TRTSHIM_ERR_UNSUPPORTED). Inputs other
 * than input 0 are not read (their address must still be set). All means
 * are computed before any output is written, so outputs may alias inputs.
 * Compare with a small tolerance (1e-5 relative), not bit-exactly.
 *
 * ---- 3. Engine and context semantics (mirroring TensorRT's) ----------------
 * - io_info: name, mode, dtype, shape as built (-1 where dynamic), linear = 1,
 *   data_dependent = 0. Inputs: min/opt/max of profile 0, has_profile = 1
 *   when the input has a -1 (a static input reports has_profile = 0 and
 *   min = opt = max = its shape). Outputs: has_profile = 0, min/opt/max
 *   zeroed. profile_count = 1. device_memory_size as in the plan.
 * - The engine is immutable after load and may be shared by threads. Calls
 *   on different contexts run concurrently; one context is used by one
 *   thread at a time (as TensorRT's IExecutionContext).
 * - context_create(user_memory 0 or 1). With 1, set_device_memory must give
 *   a non-NULL block (NULL is allowed when the size needed is 0) of at least
 *   device_memory_size bytes before enqueue, else set_device_memory fails
 *   TRTSHIM_ERR_INVALID_ARGUMENT (keeping the previous block), and enqueue
 *   without a block fails TRTSHIM_ERR_INVALID_ARGUMENT. set_device_memory on
 *   a context created with user_memory = 0 fails TRTSHIM_ERR_INVALID_ARGUMENT.
 *   The fake never reads or writes that block.
 * - set_profile accepts only 0 (else TRTSHIM_ERR_INVALID_ARGUMENT); the
 *   stream is ignored.
 * - set_input_shape: an unknown name fails TRTSHIM_ERR_NOT_FOUND, an output
 *   TRTSHIM_ERR_INVALID_ARGUMENT; a wrong rank, a fixed dim that differs, or
 *   a dim outside profile 0's min..max fails TRTSHIM_ERR_SHAPE with a message
 *   naming the tensor, the given dims and the allowed range; on failure the
 *   previous shape stays. Static inputs count as set from the start.
 * - tensor_shape: an input's set shape (TRTSHIM_ERR_SHAPE if a dynamic input
 *   is unset); an output's resolved shape (TRTSHIM_ERR_SHAPE until every
 *   dynamic input is set).
 * - set_tensor_address stores the address (in the fake, "device" memory is
 *   host memory); NULL unsets it. set_input_consumed_event stores the event
 *   and never touches it.
 * - enqueue checks, in order: every tensor is FLOAT (UNSUPPORTED), user
 *   memory (INVALID_ARGUMENT), every input shape set and batches agree
 *   (SHAPE), every address set (INVALID_ARGUMENT, naming the tensor), output
 *   batch (UNSUPPORTED), fault injection (RUNTIME); then it computes
 *   synchronously, reading the input addresses and writing the output
 *   addresses. Stream and event values are opaque and ignored (NULL allowed).
 * - Freeing an engine before its contexts is a caller bug (TensorRT would
 *   crash). The fake refcounts the engine, so it lives until its last context
 *   is freed and context calls stay safe; do not rely on it.
 *
 * ---- 4. Build ------------------------------------------------------------
 * trtshim_build parses the ONNX bytes itself with a minimal protobuf
 * wire-format reader: ModelProto 7 = graph; GraphProto 5 = initializer
 * (TensorProto, 8 = name), 11 = input, 12 = output (graph inputs that are
 * initializers are skipped); ValueInfoProto 1 = name, 2 = type; TypeProto
 * 1 = tensor_type (1 = elem_type: FLOAT=1 UINT8=2 INT8=3 INT32=6 INT64=7
 * BOOL=9 FLOAT16=10 BFLOAT16=16; 2 = shape: 1 = dim, Dimension 1 = dim_value,
 * 2 = dim_param → -1, neither → -1). model_dir is not used (no weights are
 * read). Errors:
 * - NULL onnx/plan/opts → INVALID_ARGUMENT; empty or malformed bytes, no
 *   graph, an IO without a name or type → PARSE; no outputs → BUILD.
 * - opts: precision FP32/FP16/BF16/STRONGLY_TYPED (written to the plan's
 *   precision line); disable_tf32 = 1 adds a "no_tf32" line after it;
 *   INT8 → UNSUPPORTED "the fake cannot build int8"; a bad enum,
 *   optimization_level outside -1..5, a negative workspace, version_compat
 *   or disable_tf32 not 0/1, nb_profile < 0 → INVALID_ARGUMENT.
 * - Inputs with a -1 need an opts->profile entry of that name (else BUILD
 *   "input X has dynamic dimensions but no optimization profile"); entries
 *   must have the input's rank, fixed dims equal, 1 <= min <= opt <= max
 *   (else INVALID_ARGUMENT); an entry naming no input (or a repeated one) →
 *   INVALID_ARGUMENT. A static input may have an entry equal to its shape.
 * - Output dim 0 that is a dim_param (or absent) becomes -1; any other
 *   dynamic output dim → UNSUPPORTED (data-dependent, or shape-dependent,
 *   which the fake cannot compute). Non-tensor IO, other element types,
 *   rank 0 or > 8, dim_value 0, more than 16 IO tensors, names of 256+
 *   bytes or with whitespace, a network without inputs → UNSUPPORTED.
 * - Timing cache: an input cache (timing_cache_len > 0) must start with
 *   "trtshim-fake-timing-cache 1\n", else INVALID_ARGUMENT (a mismatched
 *   cache). timing_cache_out, when not NULL, receives exactly those bytes.
 * - Progress: with opts->progress, after parsing and validation the fake
 *   calls START("Building engine", parent NULL, 3), STEP for steps 0, 1, 2
 *   (a nonzero return cancels: no more steps), then FINISH (also after a
 *   cancel, so START/FINISH always pair); a cancel fails
 *   TRTSHIM_ERR_CANCELLED with nothing allocated. Return values of START
 *   and FINISH are ignored.
 * - TRTSHIM_FAKE_BUILD_STEP_MS=N in the environment makes each of the 3
 *   build steps take N ms (at most 60000), so tests can watch a model stay
 *   LOADING while its engine builds and other models serve.
 * - Blobs are malloc'd; trtshim_blob_free frees and zeroes (NULL-safe).
 * - After trtshim_init opened a lean or dispatch "runtime" (see 5), build
 *   fails TRTSHIM_ERR_UNSUPPORTED as the real shim's does.
 *
 * ---- 4b. CUDA initialisation failure -------------------------------------
 * TRTSHIM_FAKE_CUDA_INIT_ERROR=N (N > 0) in the environment, read at every
 * call, makes trtshim_build and trtshim_engine_load fail
 * TRTSHIM_ERR_CUDA_INIT with "cannot create a TensorRT runtime: CUDA
 * initialization failure with error: N" (TensorRT's words on a machine
 * without a usable GPU: 35 = driver too old, 100 = no device), after
 * argument checks: tests of the per-model fallback use it.
 *
 * ---- 5. Library ----------------------------------------------------------
 * - trtshim_get_api(TRTSHIM_ABI_VERSION) is the table, any other version
 *   NULL; get_info: abi_version = TRTSHIM_ABI_VERSION, trt_* = 0,
 *   onnx_parser = 0, needs_cuda_device = 0, cuda_version = 0, plugins = 0,
 *   description "trtserve fake TensorRT shim: CPU math, not TensorRT",
 *   notice "the TensorRT shim is the FAKE (csrc/fake): outputs are synthetic
 *   CPU math, not your model — for tests only"; runtime_kind,
 *   can_build, allow_engine_host_code and tensorrt_path as trtshim_init set
 *   them (before any init: FAKE, 1, 1, "").
 * - trtshim_init: the fake needs no init (it opens nothing) but honours it:
 *   opts NULL or allow_engine_host_code not 0/1 → INVALID_ARGUMENT; a
 *   tensorrt_lib that is not "" must name an existing file (else
 *   TRTSHIM_ERR_NO_TENSORRT, as the real shim fails to open it); a file
 *   whose name contains "nvinfer_lean" or "nvinfer_dispatch" makes the fake
 *   report that runtime kind with can_build = 0 (so the lean-runtime paths
 *   are testable without TensorRT), any other file FAKE. tensorrt_path is
 *   the given string. A second successful init with other options →
 *   INVALID_ARGUMENT, with the same ones → OK.
 * - Logger (global, guarded by a recursive mutex; the callback runs under
 *   it, so after trtshim_set_logger returns the old callback is never called
 *   again, and a callback may itself call trtshim_* functions).
 *   max_severity must be 0..4 when fn is not NULL; messages with
 *   severity > max_severity are dropped. fn = NULL restores the default:
 *   stderr, warnings and worse. engine_load logs at TRTSHIM_LOG_INFO
 *   "fake: loaded engine with N IO tensors"; every failure of every function
 *   logs its message at TRTSHIM_LOG_ERROR, prefixed "fake: ".
 * - Every function: NULL handles/out-params → TRTSHIM_ERR_INVALID_ARGUMENT;
 *   err may be NULL; on failure *err gets the code and a NUL-terminated
 *   message truncated to TRTSHIM_ERR_LEN; *err is not touched on success;
 *   out-params are filled only on success.
 */
#define _XOPEN_SOURCE 700 /* pthread_mutexattr_settype */

#include "trtshim.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_MAX_IO 16
#define FAKE_PLAN_MAGIC "trtshim-fake-plan 1"
#define FAKE_CACHE_MAGIC "trtshim-fake-timing-cache 1\n"
#define FAKE_DEFAULT_DEVICE_MEMORY 4096
#define FAKE_MAX_DIM 2147483647LL
#define FAKE_PHASE "Building engine"

#if defined(__GNUC__)
#define FAKE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define FAKE_EXPORT __attribute__((visibility("default")))
#else
#define FAKE_PRINTF(a, b)
#define FAKE_EXPORT
#endif

/* ---- logging and errors -------------------------------------------------- */

static pthread_once_t g_log_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_log_mu;
static trtshim_log_fn g_log_fn = NULL;
static uintptr_t g_log_user = 0;
static int32_t g_log_max = TRTSHIM_LOG_WARNING;

static void log_init(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&g_log_mu, &a);
  pthread_mutexattr_destroy(&a);
}

static void log_lock(void) {
  pthread_once(&g_log_once, log_init);
  pthread_mutex_lock(&g_log_mu);
}

static void log_unlock(void) { pthread_mutex_unlock(&g_log_mu); }

static const char* severity_name(int32_t s) {
  switch (s) {
    case TRTSHIM_LOG_INTERNAL_ERROR: return "INTERNAL_ERROR";
    case TRTSHIM_LOG_ERROR: return "ERROR";
    case TRTSHIM_LOG_WARNING: return "WARNING";
    case TRTSHIM_LOG_INFO: return "INFO";
    default: return "VERBOSE";
  }
}

static void log_msg(int32_t severity, const char* msg) {
  log_lock();
  if (g_log_fn != NULL) {
    if (severity <= g_log_max) g_log_fn(g_log_user, severity, msg);
  } else if (severity <= TRTSHIM_LOG_WARNING) {
    fprintf(stderr, "[trtshim-fake] %s: %s\n", severity_name(severity), msg);
  }
  log_unlock();
}

static void log_fmt(int32_t severity, const char* fmt, ...) FAKE_PRINTF(2, 3);
static void log_fmt(int32_t severity, const char* fmt, ...) {
  char buf[TRTSHIM_ERR_LEN + 16];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  log_msg(severity, buf);
}

/* Fills *err (when not NULL), logs at ERROR, returns code. */
static trtshim_status fail(trtshim_err* err, trtshim_status code, const char* fmt, ...)
    FAKE_PRINTF(3, 4);
static trtshim_status fail(trtshim_err* err, trtshim_status code, const char* fmt, ...) {
  char buf[TRTSHIM_ERR_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  buf[TRTSHIM_ERR_LEN - 1] = '\0';
  if (err != NULL) {
    err->code = code;
    memcpy(err->msg, buf, TRTSHIM_ERR_LEN);
  }
  log_fmt(TRTSHIM_LOG_ERROR, "fake: %s", buf);
  return code;
}

/* A short error carried between helpers before it becomes a trtshim_err. */
typedef struct {
  trtshim_status code;
  char msg[TRTSHIM_ERR_LEN];
} why_t;

static int why(why_t* w, trtshim_status code, const char* fmt, ...) FAKE_PRINTF(3, 4);
static int why(why_t* w, trtshim_status code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->msg, sizeof w->msg, fmt, ap);
  va_end(ap);
  w->code = code;
  return 0;
}

/* ---- dims helpers -------------------------------------------------------- */

typedef struct {
  char s[TRTSHIM_MAX_DIMS * 22 + 4];
} dimstr;

/* "[1,3,32,32]"; a bad rank prints as "[rank N]". */
static dimstr fmt_dims(const trtshim_dims* d) {
  dimstr r;
  size_t n = 0;
  r.s[0] = '\0';
  if (d->nb < 0 || d->nb > TRTSHIM_MAX_DIMS) {
    snprintf(r.s, sizeof r.s, "[rank %d]", (int)d->nb);
    return r;
  }
  r.s[n++] = '[';
  for (int32_t i = 0; i < d->nb; i++) {
    int k = snprintf(r.s + n, sizeof r.s - n, "%s%lld", i ? "," : "", (long long)d->d[i]);
    if (k < 0 || (size_t)k >= sizeof r.s - n) break;
    n += (size_t)k;
  }
  if (n + 2 <= sizeof r.s) {
    r.s[n++] = ']';
    r.s[n] = '\0';
  }
  return r;
}

/* "-1x3x32x32", as in plans. */
static dimstr fmt_plan_dims(const trtshim_dims* d) {
  dimstr r;
  size_t n = 0;
  r.s[0] = '\0';
  for (int32_t i = 0; i < d->nb && i < TRTSHIM_MAX_DIMS; i++) {
    int k = snprintf(r.s + n, sizeof r.s - n, "%s%lld", i ? "x" : "", (long long)d->d[i]);
    if (k < 0 || (size_t)k >= sizeof r.s - n) break;
    n += (size_t)k;
  }
  return r;
}

static int has_dynamic(const trtshim_dims* d) {
  for (int32_t i = 0; i < d->nb; i++)
    if (d->d[i] == -1) return 1;
  return 0;
}

/* Product of d[from..nb); 0 on overflow (> 2^62) or a bad dim. */
static int volume(const trtshim_dims* d, int32_t from, int64_t* out) {
  int64_t v = 1;
  for (int32_t i = from; i < d->nb; i++) {
    int64_t x = d->d[i];
    if (x < 0) return 0;
    if (x != 0 && v > ((int64_t)1 << 62) / x) return 0;
    v *= x;
  }
  *out = v;
  return 1;
}

/* Validates a profile range against a built shape (-1 = dynamic). */
static int check_profile(const char* name, const trtshim_dims* shape, const trtshim_dims* mn,
                         const trtshim_dims* op, const trtshim_dims* mx, why_t* w) {
  const trtshim_dims* all[3] = {mn, op, mx};
  static const char* const which[3] = {"min", "opt", "max"};
  for (int k = 0; k < 3; k++) {
    if (all[k]->nb != shape->nb)
      return why(w, TRTSHIM_ERR_INVALID_ARGUMENT,
                 "profile for input '%s': %s has rank %d but the input has rank %d", name,
                 which[k], (int)all[k]->nb, (int)shape->nb);
  }
  for (int32_t i = 0; i < shape->nb; i++) {
    if (shape->d[i] != -1) {
      for (int k = 0; k < 3; k++)
        if (all[k]->d[i] != shape->d[i])
          return why(w, TRTSHIM_ERR_INVALID_ARGUMENT,
                     "profile for input '%s': %s %s differs from the input's fixed dimension "
                     "%d = %lld (shape %s)",
                     name, which[k], fmt_dims(all[k]).s, (int)i, (long long)shape->d[i],
                     fmt_dims(shape).s);
    } else if (mn->d[i] < 1 || mn->d[i] > op->d[i] || op->d[i] > mx->d[i] ||
               mx->d[i] > FAKE_MAX_DIM) {
      return why(w, TRTSHIM_ERR_INVALID_ARGUMENT,
                 "profile for input '%s': dimension %d needs 1 <= min <= opt <= max, got "
                 "min %s opt %s max %s",
                 name, (int)i, fmt_dims(mn).s, fmt_dims(op).s, fmt_dims(mx).s);
    }
  }
  return 1;
}

/* ---- dtypes -------------------------------------------------------------- */

static const struct {
  const char* name;
  int32_t dtype;
} k_dtypes[] = {
    {"FLOAT", TRTSHIM_DTYPE_FLOAT}, {"HALF", TRTSHIM_DTYPE_HALF},   {"BF16", TRTSHIM_DTYPE_BF16},
    {"INT8", TRTSHIM_DTYPE_INT8},   {"UINT8", TRTSHIM_DTYPE_UINT8}, {"INT32", TRTSHIM_DTYPE_INT32},
    {"INT64", TRTSHIM_DTYPE_INT64}, {"BOOL", TRTSHIM_DTYPE_BOOL},
};
#define K_NDTYPES ((int)(sizeof k_dtypes / sizeof k_dtypes[0]))

static const char* dtype_name(int32_t dt) {
  for (int i = 0; i < K_NDTYPES; i++)
    if (k_dtypes[i].dtype == dt) return k_dtypes[i].name;
  return "OTHER";
}

/* ---- engine and context -------------------------------------------------- */

typedef struct {
  char name[TRTSHIM_NAME_LEN];
  int32_t mode;
  int32_t dtype;
  trtshim_dims shape;
  int32_t has_profile;
  trtshim_dims min, opt, max;
} fake_io;

struct trtshim_engine {
  atomic_int refs; /* 1 for the engine handle + 1 per live context */
  int32_t nb_io;
  fake_io io[FAKE_MAX_IO];
  int32_t input0;  /* index of the first input */
  int32_t non_float; /* index of the first non-FLOAT tensor, or -1 */
  char precision[32];
  int64_t fail_every;    /* 0: never */
  int64_t device_memory;
  int32_t host_code;     /* the plan said "host_code" */
  int32_t no_tf32;       /* the plan said "no_tf32" */
};

struct trtshim_context {
  trtshim_engine* e;
  int32_t user_memory;
  int32_t mem_set;
  void* mem;
  int64_t mem_size;
  int32_t shape_set[FAKE_MAX_IO];
  trtshim_dims shapes[FAKE_MAX_IO];
  void* addr[FAKE_MAX_IO];
  void* consumed_event;
  int64_t enqueues;
};

static void engine_unref(trtshim_engine* e) {
  if (e != NULL && atomic_fetch_sub(&e->refs, 1) == 1) free(e);
}

static int32_t find_io(const trtshim_engine* e, const char* name) {
  for (int32_t i = 0; i < e->nb_io; i++)
    if (strcmp(e->io[i].name, name) == 0) return i;
  return -1;
}

static int name_ok_for_plan(const char* p, size_t n) {
  if (n == 0 || n >= TRTSHIM_NAME_LEN) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch <= ' ' || ch == 0x7f) return 0;
  }
  return 1;
}

/* A copy of up to TRTSHIM_NAME_LEN-1 bytes fit for a message: control bytes
 * and DEL become '?'. */
typedef struct {
  char s[TRTSHIM_NAME_LEN];
} printable_t;

static printable_t printable(const char* p, size_t n) {
  printable_t r;
  if (n >= sizeof r.s) n = sizeof r.s - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    r.s[i] = (ch < ' ' || ch == 0x7f) ? '?' : (char)ch;
  }
  r.s[n] = '\0';
  return r;
}

/* Engine-level checks shared by plan loading and build. */
static int validate_engine(trtshim_engine* e, why_t* w) {
  int nin = 0, nout = 0;
  e->input0 = -1;
  e->non_float = -1;
  for (int32_t i = 0; i < e->nb_io; i++) {
    fake_io* io = &e->io[i];
    for (int32_t j = 0; j < i; j++)
      if (strcmp(e->io[j].name, io->name) == 0)
        return why(w, TRTSHIM_ERR_DESERIALIZE, "tensor name '%s' is used twice", io->name);
    if (io->mode == TRTSHIM_IO_INPUT) {
      if (e->input0 < 0) e->input0 = i;
      nin++;
    } else {
      nout++;
      for (int32_t d = 1; d < io->shape.nb; d++)
        if (io->shape.d[d] == -1)
          return why(w, TRTSHIM_ERR_UNSUPPORTED,
                     "output '%s' has dynamic dimension %d (shape %s): data-dependent output "
                     "shapes are not supported by the fake",
                     io->name, (int)d, fmt_dims(&io->shape).s);
    }
    if (io->dtype != TRTSHIM_DTYPE_FLOAT && e->non_float < 0) e->non_float = i;
  }
  if (nin == 0) return why(w, TRTSHIM_ERR_DESERIALIZE, "the plan has no input");
  if (nout == 0) return why(w, TRTSHIM_ERR_DESERIALIZE, "the plan has no output");
  return 1;
}

/* ---- plan parsing ---------------------------------------------------------- */

static int parse_i64(const char* s, int64_t* out) {
  int neg = 0;
  uint64_t v = 0;
  if (*s == '-') {
    neg = 1;
    s++;
  }
  if (*s < '0' || *s > '9') return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return 0;
    if (v > (UINT64_MAX - 9) / 10) return 0;
    v = v * 10 + (uint64_t)(*s - '0');
    if (v > (uint64_t)INT64_MAX) return 0;
  }
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 1;
}

/* "-1x3x32x32" → dims; -1 only when allow_dynamic. */
static int parse_dims(const char* s, int allow_dynamic, trtshim_dims* d, const char** bad) {
  char buf[256];
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof buf) {
    *bad = "dimensions are empty or too long";
    return 0;
  }
  memcpy(buf, s, n + 1);
  memset(d, 0, sizeof *d);
  char* p = buf;
  for (;;) {
    char* x = strchr(p, 'x');
    if (x) *x = '\0';
    int64_t v;
    if (d->nb >= TRTSHIM_MAX_DIMS) {
      *bad = "more than 8 dimensions";
      return 0;
    }
    if (!parse_i64(p, &v)) {
      *bad = "a dimension is not an integer";
      return 0;
    }
    if (v == -1 && !allow_dynamic) {
      *bad = "-1 is not allowed here";
      return 0;
    }
    if (v != -1 && (v < 1 || v > FAKE_MAX_DIM)) {
      *bad = "a dimension must be -1 or 1..2^31-1";
      return 0;
    }
    d->d[d->nb++] = v;
    if (!x) break;
    p = x + 1;
  }
  return 1;
}

#define PLAN_MAX_TOKENS 8

static int tokenize(char* line, char** tok) {
  int n = 0;
  char* p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) break;
    if (n == PLAN_MAX_TOKENS) return PLAN_MAX_TOKENS + 1;
    tok[n++] = p;
    while (*p && *p != ' ' && *p != '\t') p++;
    if (*p) *p++ = '\0';
  }
  return n;
}

/* Parses one non-magic line into e. Returns 1, or 0 with *w set. */
static int parse_line(trtshim_engine* e, char* line, int* seen_precision, int* seen_fail,
                      int* seen_mem, why_t* w) {
  char* tok[PLAN_MAX_TOKENS];
  for (const char* q = line; *q; q++)
    if ((*q > 0 && *q < ' ' && *q != '\t') || *q == 0x7f)
      return why(w, TRTSHIM_ERR_DESERIALIZE, "the line contains control bytes");
  int n = tokenize(line, tok);
  if (n == 0) return 1;
  if (n > PLAN_MAX_TOKENS) return why(w, TRTSHIM_ERR_DESERIALIZE, "too many fields");
  const char* kw = tok[0];
  if (strcmp(kw, "precision") == 0) {
    static const char* const ok[] = {"fp32", "fp16", "bf16", "int8", "strongly_typed"};
    int found = 0;
    if (n != 2) return why(w, TRTSHIM_ERR_DESERIALIZE, "want 'precision NAME'");
    if (*seen_precision) return why(w, TRTSHIM_ERR_DESERIALIZE, "precision given twice");
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
      if (strcmp(tok[1], ok[i]) == 0) found = 1;
    if (!found)
      return why(w, TRTSHIM_ERR_DESERIALIZE,
                 "unknown precision (want fp32, fp16, bf16, int8 or strongly_typed)");
    snprintf(e->precision, sizeof e->precision, "%s", tok[1]);
    *seen_precision = 1;
    return 1;
  }
  if (strcmp(kw, "host_code") == 0) {
    if (n != 1) return why(w, TRTSHIM_ERR_DESERIALIZE, "want 'host_code' alone");
    if (e->host_code) return why(w, TRTSHIM_ERR_DESERIALIZE, "host_code given twice");
    e->host_code = 1;
    return 1;
  }
  if (strcmp(kw, "no_tf32") == 0) {
    if (n != 1) return why(w, TRTSHIM_ERR_DESERIALIZE, "want 'no_tf32' alone");
    if (e->no_tf32) return why(w, TRTSHIM_ERR_DESERIALIZE, "no_tf32 given twice");
    e->no_tf32 = 1;
    return 1;
  }
  if (strcmp(kw, "fail_enqueue_every") == 0 || strcmp(kw, "device_memory") == 0) {
    int is_fail = kw[0] == 'f';
    int64_t v;
    if (n != 2) return why(w, TRTSHIM_ERR_DESERIALIZE, "want '%s N'", kw);
    if (is_fail ? *seen_fail : *seen_mem)
      return why(w, TRTSHIM_ERR_DESERIALIZE, "%s given twice", kw);
    if (!parse_i64(tok[1], &v) || v < (is_fail ? 1 : 0))
      return why(w, TRTSHIM_ERR_DESERIALIZE, "%s needs an integer >= %d", kw, is_fail ? 1 : 0);
    if (is_fail) {
      e->fail_every = v;
      *seen_fail = 1;
    } else {
      e->device_memory = v;
      *seen_mem = 1;
    }
    return 1;
  }
  if (strcmp(kw, "input") == 0 || strcmp(kw, "output") == 0) {
    int is_input = kw[0] == 'i';
    fake_io io;
    const char* bad = NULL;
    memset(&io, 0, sizeof io);
    if (n < 4) return why(w, TRTSHIM_ERR_DESERIALIZE, "want '%s NAME DTYPE DIMS'", kw);
    if (e->nb_io == FAKE_MAX_IO)
      return why(w, TRTSHIM_ERR_DESERIALIZE, "more than %d IO tensors", FAKE_MAX_IO);
    if (!name_ok_for_plan(tok[1], strlen(tok[1])))
      return why(w, TRTSHIM_ERR_DESERIALIZE,
                 "tensor name is longer than %d bytes or has control bytes",
                 TRTSHIM_NAME_LEN - 1);
    memcpy(io.name, tok[1], strlen(tok[1]) + 1);
    io.mode = is_input ? TRTSHIM_IO_INPUT : TRTSHIM_IO_OUTPUT;
    io.dtype = -1;
    for (int i = 0; i < K_NDTYPES; i++)
      if (strcmp(tok[2], k_dtypes[i].name) == 0) io.dtype = k_dtypes[i].dtype;
    if (io.dtype < 0)
      return why(w, TRTSHIM_ERR_DESERIALIZE,
                 "unknown dtype '%.32s' (want FLOAT HALF BF16 INT8 UINT8 INT32 INT64 BOOL)",
                 tok[2]);
    if (!is_input && strcmp(tok[3], "scalar") == 0)
      memset(&io.shape, 0, sizeof io.shape); /* rank 0 (section 1) */
    else if (!parse_dims(tok[3], 1, &io.shape, &bad))
      return why(w, TRTSHIM_ERR_DESERIALIZE, "bad dims '%.64s': %s", tok[3], bad);
    if (!is_input) {
      if (n != 4) return why(w, TRTSHIM_ERR_DESERIALIZE, "an output line has 4 fields");
    } else if (!has_dynamic(&io.shape)) {
      if (n != 4)
        return why(w, TRTSHIM_ERR_DESERIALIZE,
                   "min=/opt=/max= are only for inputs with a -1 dimension");
      io.min = io.opt = io.max = io.shape;
    } else {
      static const char* const pre[3] = {"min=", "opt=", "max="};
      trtshim_dims* dst[3] = {&io.min, &io.opt, &io.max};
      if (n != 7)
        return why(w, TRTSHIM_ERR_DESERIALIZE,
                   "an input with a -1 dimension needs min=DIMS opt=DIMS max=DIMS");
      for (int k = 0; k < 3; k++) {
        if (strncmp(tok[4 + k], pre[k], 4) != 0)
          return why(w, TRTSHIM_ERR_DESERIALIZE, "field %d must start with '%s'", 5 + k, pre[k]);
        if (!parse_dims(tok[4 + k] + 4, 0, dst[k], &bad))
          return why(w, TRTSHIM_ERR_DESERIALIZE, "bad %s dims: %s", pre[k], bad);
      }
      if (!check_profile(io.name, &io.shape, &io.min, &io.opt, &io.max, w)) {
        w->code = TRTSHIM_ERR_DESERIALIZE;
        return 0;
      }
      io.has_profile = 1;
    }
    e->io[e->nb_io++] = io;
    return 1;
  }
  return why(w, TRTSHIM_ERR_DESERIALIZE, "unknown keyword '%.32s'", kw);
}

static trtshim_status parse_plan(const char* plan, size_t len, trtshim_engine* e,
                                 trtshim_err* err) {
  size_t ml = strlen(FAKE_PLAN_MAGIC);
  int ok_magic = len >= ml && memcmp(plan, FAKE_PLAN_MAGIC, ml) == 0 &&
                 (len == ml || plan[ml] == '\n' || (plan[ml] == '\r' && len > ml + 1 &&
                                                    plan[ml + 1] == '\n'));
  if (!ok_magic)
    return fail(err, TRTSHIM_ERR_DESERIALIZE,
                "the plan is not a fake plan (it does not start with '%s'): a real TensorRT "
                "plan or corrupt bytes, which the fake TensorRT shim cannot deserialize",
                FAKE_PLAN_MAGIC);
  if (memchr(plan, '\0', len) != NULL)
    return fail(err, TRTSHIM_ERR_DESERIALIZE, "fake plan contains a NUL byte");
  char* text = malloc(len + 1);
  if (text == NULL) return fail(err, TRTSHIM_ERR_OUT_OF_MEMORY, "out of memory reading the plan");
  memcpy(text, plan, len);
  text[len] = '\0';

  int seen_precision = 0, seen_fail = 0, seen_mem = 0;
  int lineno = 1;
  char* p = strchr(text, '\n');
  p = p ? p + 1 : text + len;
  while (*p) {
    lineno++;
    char* nl = strchr(p, '\n');
    char* next = nl ? nl + 1 : p + strlen(p);
    if (nl) *nl = '\0';
    size_t ll = strlen(p);
    if (ll > 0 && p[ll - 1] == '\r') p[--ll] = '\0';
    if (p[0] != '#') {
      printable_t orig = printable(p, strlen(p));
      why_t w;
      if (!parse_line(e, p, &seen_precision, &seen_fail, &seen_mem, &w)) {
        free(text);
        return fail(err, w.code, "fake plan line %d ('%.120s'): %s", lineno, orig.s, w.msg);
      }
    }
    p = next;
  }
  free(text);
  why_t w;
  if (!validate_engine(e, &w)) return fail(err, w.code, "fake plan: %s", w.msg);
  return TRTSHIM_OK;
}

/* ---- library ------------------------------------------------------------- */


/* What trtshim_init set (section 5); guarded by g_init_mu. */
static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_init_done = 0;
static int32_t g_runtime_kind = TRTSHIM_RUNTIME_FAKE;
static int32_t g_allow_host_code = 1;
static char g_trt_path[TRTSHIM_PATH_LEN];

static void init_state(int32_t* kind, int32_t* allow) {
  pthread_mutex_lock(&g_init_mu);
  if (kind) *kind = g_runtime_kind;
  if (allow) *allow = g_allow_host_code;
  pthread_mutex_unlock(&g_init_mu);
}

/* TRTSHIM_FAKE_CUDA_INIT_ERROR (section 4b). */
static trtshim_status cuda_init_failure(const char* fn, trtshim_err* err) {
  const char* v = getenv("TRTSHIM_FAKE_CUDA_INIT_ERROR");
  long code = v ? strtol(v, NULL, 10) : 0;
  if (code <= 0) return TRTSHIM_OK;
  return fail(err, TRTSHIM_ERR_CUDA_INIT,
              "%s: cannot create a TensorRT runtime: CUDA initialization failure with error: %ld", fn,
              code);
}

static trtshim_status trtshim_init(const trtshim_init_options* opts, trtshim_err* err) {
  if (opts == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "init: opts is NULL");
  if (opts->allow_engine_host_code != 0 && opts->allow_engine_host_code != 1)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "init: allow_engine_host_code must be 0 or 1, got %d",
                (int)opts->allow_engine_host_code);
  const char* lib = opts->tensorrt_lib ? opts->tensorrt_lib : "";
  if (strlen(lib) >= TRTSHIM_PATH_LEN)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "init: tensorrt_lib is %d bytes or longer",
                TRTSHIM_PATH_LEN);
  int32_t kind = TRTSHIM_RUNTIME_FAKE;
  if (*lib != '\0') {
    FILE* f = fopen(lib, "rb");
    if (f == NULL)
      return fail(err, TRTSHIM_ERR_NO_TENSORRT, "init: cannot open TensorRT library %.512s", lib);
    fclose(f);
    const char* base = strrchr(lib, '/');
    base = base ? base + 1 : lib;
    if (strstr(base, "nvinfer_lean") != NULL) kind = TRTSHIM_RUNTIME_LEAN;
    else if (strstr(base, "nvinfer_dispatch") != NULL) kind = TRTSHIM_RUNTIME_DISPATCH;
  }
  pthread_mutex_lock(&g_init_mu);
  if (g_init_done && (g_allow_host_code != opts->allow_engine_host_code || strcmp(g_trt_path, lib) != 0)) {
    int32_t had = g_allow_host_code;
    char had_path[TRTSHIM_PATH_LEN];
    memcpy(had_path, g_trt_path, sizeof had_path);
    pthread_mutex_unlock(&g_init_mu);
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "init: already initialised with tensorrt_lib '%.400s' and allow_engine_host_code %d",
                had_path, (int)had);
  }
  g_init_done = 1;
  g_runtime_kind = kind;
  g_allow_host_code = opts->allow_engine_host_code;
  memcpy(g_trt_path, lib, strlen(lib) + 1);
  pthread_mutex_unlock(&g_init_mu);
  return TRTSHIM_OK;
}

static trtshim_status trtshim_get_info(trtshim_info* out, trtshim_err* err) {
  if (out == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "get_info: out is NULL");
  memset(out, 0, sizeof *out);
  out->abi_version = TRTSHIM_ABI_VERSION;
  out->needs_cuda_device = 0;
  pthread_mutex_lock(&g_init_mu);
  out->runtime_kind = g_runtime_kind;
  out->can_build = g_runtime_kind == TRTSHIM_RUNTIME_FAKE;
  out->allow_engine_host_code = g_allow_host_code;
  memcpy(out->tensorrt_path, g_trt_path, sizeof out->tensorrt_path);
  pthread_mutex_unlock(&g_init_mu);
  snprintf(out->description, sizeof out->description, "%s",
           "trtserve fake TensorRT shim: CPU math, not TensorRT");
  snprintf(out->notice, sizeof out->notice, "%s",
           "the TensorRT shim is the FAKE (csrc/fake): outputs are synthetic CPU math, not your model — for tests only");
  return TRTSHIM_OK;
}

static trtshim_status trtshim_set_logger(trtshim_log_fn fn, uintptr_t user,
                                         int32_t max_severity, trtshim_err* err) {
  if (fn != NULL &&
      (max_severity < TRTSHIM_LOG_INTERNAL_ERROR || max_severity > TRTSHIM_LOG_VERBOSE))
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "set_logger: max_severity %d is not a TRTSHIM_LOG_* value (0..4)",
                (int)max_severity);
  log_lock();
  g_log_fn = fn;
  g_log_user = fn ? user : 0;
  g_log_max = fn ? max_severity : TRTSHIM_LOG_WARNING;
  log_unlock();
  return TRTSHIM_OK;
}

static void trtshim_blob_free(trtshim_blob* b) {
  if (b == NULL) return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

/* ---- engine -------------------------------------------------------------- */

static trtshim_status trtshim_engine_load(const void* plan, size_t len, trtshim_engine** out,
                                          trtshim_err* err) {
  if (plan == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine_load: plan is NULL");
  if (out == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine_load: out is NULL");
  trtshim_engine* e = calloc(1, sizeof *e);
  if (e == NULL) return fail(err, TRTSHIM_ERR_OUT_OF_MEMORY, "engine_load: out of memory");
  atomic_init(&e->refs, 1);
  e->device_memory = FAKE_DEFAULT_DEVICE_MEMORY;
  snprintf(e->precision, sizeof e->precision, "fp32");
  trtshim_status st = parse_plan((const char*)plan, len, e, err);
  if (st != TRTSHIM_OK) {
    free(e);
    return st;
  }
  int32_t allow = 1;
  init_state(NULL, &allow);
  if (e->host_code && !allow) {
    free(e);
    return fail(err, TRTSHIM_ERR_DESERIALIZE,
                "engine_load: the plan contains host code (a version-compatible plan) and engine host "
                "code is not allowed (allow_engine_host_code = 0)");
  }
  if ((st = cuda_init_failure("engine_load", err)) != TRTSHIM_OK) {
    free(e);
    return st;
  }
  log_fmt(TRTSHIM_LOG_INFO, "fake: loaded engine with %d IO tensors", (int)e->nb_io);
  *out = e;
  return TRTSHIM_OK;
}

static void trtshim_engine_free(trtshim_engine* e) { engine_unref(e); }

static trtshim_status trtshim_engine_io_count(const trtshim_engine* e, int32_t* out,
                                              trtshim_err* err) {
  if (e == NULL || out == NULL)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine_io_count: %s is NULL",
                e == NULL ? "engine" : "out");
  *out = e->nb_io;
  return TRTSHIM_OK;
}

static trtshim_status trtshim_engine_io_info(const trtshim_engine* e, int32_t index,
                                             trtshim_io_info* out, trtshim_err* err) {
  if (e == NULL || out == NULL)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine_io_info: %s is NULL",
                e == NULL ? "engine" : "out");
  if (index < 0 || index >= e->nb_io)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "engine_io_info: index %d is out of range (the engine has %d IO tensors)",
                (int)index, (int)e->nb_io);
  const fake_io* io = &e->io[index];
  memset(out, 0, sizeof *out);
  memcpy(out->name, io->name, sizeof out->name);
  out->mode = io->mode;
  out->dtype = io->dtype;
  out->shape = io->shape;
  out->has_profile = io->has_profile;
  if (io->mode == TRTSHIM_IO_INPUT) {
    out->min = io->min;
    out->opt = io->opt;
    out->max = io->max;
  }
  out->data_dependent = 0;
  out->linear = 1;
  return TRTSHIM_OK;
}

static trtshim_status trtshim_engine_profile_count(const trtshim_engine* e, int32_t* out,
                                                   trtshim_err* err) {
  if (e == NULL || out == NULL)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine_profile_count: %s is NULL",
                e == NULL ? "engine" : "out");
  *out = 1;
  return TRTSHIM_OK;
}

static trtshim_status trtshim_engine_device_memory_size(const trtshim_engine* e, int64_t* out,
                                                        trtshim_err* err) {
  if (e == NULL || out == NULL)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "engine_device_memory_size: %s is NULL",
                e == NULL ? "engine" : "out");
  *out = e->device_memory;
  return TRTSHIM_OK;
}

/* ---- context ------------------------------------------------------------- */

static trtshim_status trtshim_context_create(trtshim_engine* e, int32_t user_memory,
                                             trtshim_context** out, trtshim_err* err) {
  if (e == NULL || out == NULL)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context_create: %s is NULL",
                e == NULL ? "engine" : "out");
  if (user_memory != 0 && user_memory != 1)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "context_create: user_memory must be 0 or 1, got %d",
                (int)user_memory);
  trtshim_context* c = calloc(1, sizeof *c);
  if (c == NULL) return fail(err, TRTSHIM_ERR_OUT_OF_MEMORY, "context_create: out of memory");
  c->e = e;
  c->user_memory = user_memory;
  for (int32_t i = 0; i < e->nb_io; i++) {
    if (e->io[i].mode == TRTSHIM_IO_INPUT && !has_dynamic(&e->io[i].shape)) {
      c->shapes[i] = e->io[i].shape;
      c->shape_set[i] = 1;
    }
  }
  atomic_fetch_add(&e->refs, 1);
  *out = c;
  return TRTSHIM_OK;
}

static void trtshim_context_free(trtshim_context* c) {
  if (c == NULL) return;
  engine_unref(c->e);
  free(c);
}

static trtshim_status trtshim_context_set_device_memory(trtshim_context* c, void* mem,
                                                        int64_t size, trtshim_err* err) {
  if (c == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "set_device_memory: context is NULL");
  if (!c->user_memory)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "set_device_memory: the context was created with user_memory = 0");
  int64_t need = c->e->device_memory;
  if (size < need)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "set_device_memory: size %lld is smaller than the %lld bytes the engine needs",
                (long long)size, (long long)need);
  if (mem == NULL && need > 0)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "set_device_memory: memory is NULL but the engine needs %lld bytes",
                (long long)need);
  c->mem = mem;
  c->mem_size = size;
  c->mem_set = 1;
  return TRTSHIM_OK;
}

static trtshim_status trtshim_context_set_profile(trtshim_context* c, int32_t profile,
                                                  void* stream, trtshim_err* err) {
  (void)stream;
  if (c == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "set_profile: context is NULL");
  if (profile != 0)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "set_profile: profile %d does not exist (the engine has 1 profile)", (int)profile);
  return TRTSHIM_OK;
}

/* Looks a name up; fails NOT_FOUND / INVALID_ARGUMENT. */
static trtshim_status lookup(const trtshim_engine* e, const char* fn, const char* name, int32_t* idx,
                             trtshim_err* err) {
  if (name == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "%s: name is NULL", fn);
  *idx = find_io(e, name);
  if (*idx < 0)
    return fail(err, TRTSHIM_ERR_NOT_FOUND, "%s: no tensor named '%.256s'", fn, name);
  return TRTSHIM_OK;
}

static trtshim_status trtshim_context_set_input_shape(trtshim_context* c, const char* name,
                                                      const trtshim_dims* dims,
                                                      trtshim_err* err) {
  int32_t i;
  if (c == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "set_input_shape: context is NULL");
  trtshim_status st = lookup(c->e, "set_input_shape", name, &i, err);
  if (st != TRTSHIM_OK) return st;
  if (dims == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "set_input_shape: dims is NULL");
  const fake_io* io = &c->e->io[i];
  if (io->mode != TRTSHIM_IO_INPUT)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "set_input_shape: '%s' is an output, not an input",
                io->name);
  if (dims->nb != io->shape.nb)
    return fail(err, TRTSHIM_ERR_SHAPE,
                "setInputShape: tensor '%s': dimensions %s have rank %d, but the tensor has rank "
                "%d (shape %s)",
                io->name, fmt_dims(dims).s, (int)dims->nb, (int)io->shape.nb,
                fmt_dims(&io->shape).s);
  for (int32_t d = 0; d < dims->nb; d++) {
    if (io->shape.d[d] != -1 && dims->d[d] != io->shape.d[d])
      return fail(err, TRTSHIM_ERR_SHAPE,
                  "setInputShape: static dimension mismatch for tensor '%s': set dimensions are "
                  "%s, expected dimensions are %s",
                  io->name, fmt_dims(dims).s, fmt_dims(&io->shape).s);
  }
  for (int32_t d = 0; d < dims->nb; d++) {
    if (dims->d[d] < io->min.d[d] || dims->d[d] > io->max.d[d])
      return fail(err, TRTSHIM_ERR_SHAPE,
                  "setInputShape: dimensions %s for tensor '%s' do not satisfy optimization "
                  "profile 0: valid range is %s..%s",
                  fmt_dims(dims).s, io->name, fmt_dims(&io->min).s, fmt_dims(&io->max).s);
  }
  c->shapes[i] = *dims;
  c->shape_set[i] = 1;
  return TRTSHIM_OK;
}

/* Index of a dynamic input without a shape, or -1. */
static int32_t first_unset_input(const trtshim_context* c) {
  const trtshim_engine* e = c->e;
  for (int32_t i = 0; i < e->nb_io; i++)
    if (e->io[i].mode == TRTSHIM_IO_INPUT && !c->shape_set[i]) return i;
  return -1;
}

static trtshim_status output_shape(const trtshim_context* c, int32_t i, const char* fn,
                                   trtshim_dims* out, trtshim_err* err) {
  const trtshim_engine* e = c->e;
  int32_t u = first_unset_input(c);
  if (u >= 0)
    return fail(err, TRTSHIM_ERR_SHAPE,
                "%s: the shape of output '%s' is not known: input '%s' has dynamic dimensions "
                "and no shape set",
                fn, e->io[i].name, e->io[u].name);
  trtshim_dims d = e->io[i].shape;
  if (d.nb > 0 && d.d[0] == -1) d.d[0] = c->shapes[e->input0].d[0];
  *out = d;
  return TRTSHIM_OK;
}

static trtshim_status trtshim_context_tensor_shape(const trtshim_context* c, const char* name,
                                                   trtshim_dims* out, trtshim_err* err) {
  int32_t i;
  if (c == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "tensor_shape: context is NULL");
  trtshim_status st = lookup(c->e, "tensor_shape", name, &i, err);
  if (st != TRTSHIM_OK) return st;
  if (out == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "tensor_shape: out is NULL");
  if (c->e->io[i].mode == TRTSHIM_IO_INPUT) {
    if (!c->shape_set[i])
      return fail(err, TRTSHIM_ERR_SHAPE,
                  "tensor_shape: input '%s' has dynamic dimensions and no shape set",
                  c->e->io[i].name);
    *out = c->shapes[i];
    return TRTSHIM_OK;
  }
  return output_shape(c, i, "tensor_shape", out, err);
}

static trtshim_status trtshim_context_set_tensor_address(trtshim_context* c, const char* name,
                                                         void* addr, trtshim_err* err) {
  int32_t i;
  if (c == NULL)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "set_tensor_address: context is NULL");
  trtshim_status st = lookup(c->e, "set_tensor_address", name, &i, err);
  if (st != TRTSHIM_OK) return st;
  c->addr[i] = addr;
  return TRTSHIM_OK;
}

static trtshim_status trtshim_context_set_input_consumed_event(trtshim_context* c, void* event,
                                                               trtshim_err* err) {
  if (c == NULL)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "set_input_consumed_event: context is NULL");
  c->consumed_event = event;
  return TRTSHIM_OK;
}

static trtshim_status trtshim_context_enqueue(trtshim_context* c, void* stream,
                                              trtshim_err* err) {
  (void)stream;
  if (c == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "enqueue: context is NULL");
  const trtshim_engine* e = c->e;
  if (e->non_float >= 0)
    return fail(err, TRTSHIM_ERR_UNSUPPORTED,
                "enqueue: tensor '%s' has dtype %s: the fake computes only FLOAT tensors",
                e->io[e->non_float].name, dtype_name(e->io[e->non_float].dtype));
  if (c->user_memory && !c->mem_set)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "enqueue: the context was created with user_memory = 1 and no device memory was "
                "set (call set_device_memory with at least %lld bytes)",
                (long long)e->device_memory);
  int32_t u = first_unset_input(c);
  if (u >= 0)
    return fail(err, TRTSHIM_ERR_SHAPE,
                "enqueue: input '%s' has dynamic dimensions and no shape set", e->io[u].name);
  const int32_t in0 = e->input0;
  const int64_t B = c->shapes[in0].d[0];
  for (int32_t i = 0; i < e->nb_io; i++) {
    if (e->io[i].mode == TRTSHIM_IO_INPUT && e->io[i].shape.d[0] == -1 && c->shapes[i].d[0] != B)
      return fail(err, TRTSHIM_ERR_SHAPE,
                  "enqueue: input '%s' has batch %lld but input '%s' has batch %lld (the fake "
                  "needs one batch size)",
                  e->io[i].name, (long long)c->shapes[i].d[0], e->io[in0].name, (long long)B);
  }
  for (int32_t i = 0; i < e->nb_io; i++)
    if (c->addr[i] == NULL)
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "enqueue: tensor '%s' has no address set",
                  e->io[i].name);
  trtshim_dims oshape[FAKE_MAX_IO];
  int64_t ovol[FAKE_MAX_IO];
  int64_t in_vol;
  int64_t in_all;
  if (!volume(&c->shapes[in0], 1, &in_vol) || !volume(&c->shapes[in0], 0, &in_all))
    return fail(err, TRTSHIM_ERR_SHAPE, "enqueue: input '%s' is too large", e->io[in0].name);
  for (int32_t i = 0; i < e->nb_io; i++) {
    if (e->io[i].mode != TRTSHIM_IO_OUTPUT) continue;
    trtshim_status st = output_shape(c, i, "enqueue", &oshape[i], err);
    if (st != TRTSHIM_OK) return st;
    if (oshape[i].d[0] != B)
      return fail(err, TRTSHIM_ERR_UNSUPPORTED,
                  "enqueue: output '%s' has batch %lld but the batch is %lld: the fake computes "
                  "only outputs whose dim 0 is the batch",
                  e->io[i].name, (long long)oshape[i].d[0], (long long)B);
    int64_t all;
    if (!volume(&oshape[i], 1, &ovol[i]) || !volume(&oshape[i], 0, &all))
      return fail(err, TRTSHIM_ERR_SHAPE, "enqueue: output '%s' is too large", e->io[i].name);
  }
  c->enqueues++;
  if (e->fail_every > 0 && c->enqueues % e->fail_every == 0)
    return fail(err, TRTSHIM_ERR_RUNTIME,
                "enqueue: injected failure (fail_enqueue_every %lld, enqueue %lld of this "
                "context)",
                (long long)e->fail_every, (long long)c->enqueues);

  float small[64];
  float* m = small;
  if (B > 64) {
    m = malloc((size_t)B * sizeof(float));
    if (m == NULL) return fail(err, TRTSHIM_ERR_OUT_OF_MEMORY, "enqueue: out of memory");
  }
  const float* x = (const float*)c->addr[in0];
  for (int64_t b = 0; b < B; b++) {
    double s = 0;
    const float* item = x + b * in_vol;
    for (int64_t j = 0; j < in_vol; j++) s += item[j];
    m[b] = in_vol > 0 ? (float)(s / (double)in_vol) : 0.0f;
  }
  int32_t k = 0;
  for (int32_t i = 0; i < e->nb_io; i++) {
    if (e->io[i].mode != TRTSHIM_IO_OUTPUT) continue;
    float* y = (float*)c->addr[i];
    const float scale = (float)(k + 1);
    for (int64_t b = 0; b < B; b++) {
      float* item = y + b * ovol[i];
      const float mb = scale * m[b];
      for (int64_t j = 0; j < ovol[i]; j++) item[j] = mb + (float)j * 0.001f;
    }
    k++;
  }
  if (m != small) free(m);
  return TRTSHIM_OK;
}

/* ---- build: a minimal protobuf reader ------------------------------------ */

typedef struct {
  const uint8_t* p;
  const uint8_t* end;
} pb_t;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static int pb_varint(pb_t* r, uint64_t* v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) return 0;
    uint8_t b = *r->p++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 1;
    }
  }
  return 0;
}

static int pb_key(pb_t* r, uint32_t* field, uint32_t* wt) {
  uint64_t k;
  if (!pb_varint(r, &k)) return 0;
  if ((k >> 3) == 0 || (k >> 3) > 0x1fffffff) return 0;
  *field = (uint32_t)(k >> 3);
  *wt = (uint32_t)(k & 7);
  return 1;
}

static int pb_len(pb_t* r, pb_t* sub) {
  uint64_t n;
  if (!pb_varint(r, &n)) return 0;
  if (n > (uint64_t)(r->end - r->p)) return 0;
  sub->p = r->p;
  sub->end = r->p + n;
  r->p += n;
  return 1;
}

static int pb_skip(pb_t* r, uint32_t wt) {
  uint64_t v;
  pb_t sub;
  switch (wt) {
    case WT_VARINT: return pb_varint(r, &v);
    case WT_I64:
      if (r->end - r->p < 8) return 0;
      r->p += 8;
      return 1;
    case WT_LEN: return pb_len(r, &sub);
    case WT_I32:
      if (r->end - r->p < 4) return 0;
      r->p += 4;
      return 1;
    default: return 0; /* groups are not used by ONNX */
  }
}

typedef struct {
  pb_t* v;
  size_t n, cap;
} pbvec;

static int pbvec_push(pbvec* a, pb_t x) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    pb_t* v = realloc(a->v, cap * sizeof *v);
    if (v == NULL) return 0;
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n++] = x;
  return 1;
}

typedef struct {
  pbvec inputs, outputs, init_names;
} onnx_graph;

#define PB_MALFORMED(w, what) why(w, TRTSHIM_ERR_PARSE, "malformed ONNX protobuf (%s)", what)

static int parse_graph(pb_t g, onnx_graph* og, why_t* w) {
  while (g.p < g.end) {
    uint32_t f, wt;
    if (!pb_key(&g, &f, &wt)) return PB_MALFORMED(w, "bad field key in GraphProto");
    if ((f == 5 || f == 11 || f == 12) && wt == WT_LEN) {
      pb_t sub;
      if (!pb_len(&g, &sub)) return PB_MALFORMED(w, "truncated GraphProto field");
      if (f == 5) {
        pb_t name = {NULL, NULL};
        while (sub.p < sub.end) {
          uint32_t tf, twt;
          if (!pb_key(&sub, &tf, &twt)) return PB_MALFORMED(w, "bad field key in TensorProto");
          if (tf == 8 && twt == WT_LEN) {
            if (!pb_len(&sub, &name)) return PB_MALFORMED(w, "truncated TensorProto name");
          } else if (!pb_skip(&sub, twt)) {
            return PB_MALFORMED(w, "truncated TensorProto field");
          }
        }
        if (name.p != NULL && !pbvec_push(&og->init_names, name))
          return why(w, TRTSHIM_ERR_OUT_OF_MEMORY, "out of memory parsing the ONNX model");
      } else if (!pbvec_push(f == 11 ? &og->inputs : &og->outputs, sub)) {
        return why(w, TRTSHIM_ERR_OUT_OF_MEMORY, "out of memory parsing the ONNX model");
      }
    } else if ((f == 5 || f == 11 || f == 12)) {
      return PB_MALFORMED(w, "wrong wire type for a GraphProto field");
    } else if (!pb_skip(&g, wt)) {
      return PB_MALFORMED(w, "truncated GraphProto field");
    }
  }
  return 1;
}

static int pb_eq(pb_t a, pb_t b) {
  return (a.end - a.p) == (b.end - b.p) && memcmp(a.p, b.p, (size_t)(a.end - a.p)) == 0;
}

/* The name field of a ValueInfoProto, or {NULL,NULL}. */
static int vi_name(pb_t vi, pb_t* name, why_t* w) {
  name->p = name->end = NULL;
  while (vi.p < vi.end) {
    uint32_t f, wt;
    if (!pb_key(&vi, &f, &wt)) return PB_MALFORMED(w, "bad field key in ValueInfoProto");
    if (f == 1 && wt == WT_LEN) {
      if (!pb_len(&vi, name)) return PB_MALFORMED(w, "truncated ValueInfoProto name");
    } else if (!pb_skip(&vi, wt)) {
      return PB_MALFORMED(w, "truncated ValueInfoProto field");
    }
  }
  return 1;
}

static int onnx_dtype(uint64_t t, int32_t* out) {
  switch (t) {
    case 1: *out = TRTSHIM_DTYPE_FLOAT; return 1;
    case 2: *out = TRTSHIM_DTYPE_UINT8; return 1;
    case 3: *out = TRTSHIM_DTYPE_INT8; return 1;
    case 6: *out = TRTSHIM_DTYPE_INT32; return 1;
    case 7: *out = TRTSHIM_DTYPE_INT64; return 1;
    case 9: *out = TRTSHIM_DTYPE_BOOL; return 1;
    case 10: *out = TRTSHIM_DTYPE_HALF; return 1;
    case 16: *out = TRTSHIM_DTYPE_BF16; return 1;
    default: return 0;
  }
}

/* Parses a graph input/output ValueInfoProto. dyn_param[d] = 1 where a dim
 * is dynamic (dim_param or neither field). */
static int parse_value_info(pb_t vi, int is_input, fake_io* io, why_t* w) {
  const char* kind = is_input ? "input" : "output";
  pb_t name = {NULL, NULL}, type = {NULL, NULL};
  memset(io, 0, sizeof *io);
  while (vi.p < vi.end) {
    uint32_t f, wt;
    if (!pb_key(&vi, &f, &wt)) return PB_MALFORMED(w, "bad field key in ValueInfoProto");
    if ((f == 1 || f == 2) && wt == WT_LEN) {
      if (!pb_len(&vi, f == 1 ? &name : &type))
        return PB_MALFORMED(w, "truncated ValueInfoProto field");
    } else if (!pb_skip(&vi, wt)) {
      return PB_MALFORMED(w, "truncated ValueInfoProto field");
    }
  }
  size_t nlen = name.p ? (size_t)(name.end - name.p) : 0;
  if (nlen == 0) return why(w, TRTSHIM_ERR_PARSE, "a graph %s has no name", kind);
  if (nlen >= TRTSHIM_NAME_LEN)
    return why(w, TRTSHIM_ERR_UNSUPPORTED, "a graph %s has a name of %zu bytes (the limit is %d)",
               kind, nlen, TRTSHIM_NAME_LEN - 1);
  if (!name_ok_for_plan((const char*)name.p, nlen) || memchr(name.p, '\0', nlen) != NULL)
    return why(w, TRTSHIM_ERR_UNSUPPORTED,
               "%s '%s': names with whitespace or control bytes cannot be written to a fake plan",
               kind, printable((const char*)name.p, nlen).s);
  memcpy(io->name, name.p, nlen);
  io->name[nlen] = '\0';
  io->mode = is_input ? TRTSHIM_IO_INPUT : TRTSHIM_IO_OUTPUT;
  if (type.p == NULL) return why(w, TRTSHIM_ERR_PARSE, "%s '%s' has no type", kind, io->name);

  pb_t tensor = {NULL, NULL};
  int other = 0;
  while (type.p < type.end) {
    uint32_t f, wt;
    if (!pb_key(&type, &f, &wt)) return PB_MALFORMED(w, "bad field key in TypeProto");
    if (f == 1 && wt == WT_LEN) {
      if (!pb_len(&type, &tensor)) return PB_MALFORMED(w, "truncated TypeProto.tensor_type");
    } else {
      if (f == 4 || f == 5 || f == 8 || f == 9) other = 1;
      if (!pb_skip(&type, wt)) return PB_MALFORMED(w, "truncated TypeProto field");
    }
  }
  if (tensor.p == NULL)
    return why(w, other ? TRTSHIM_ERR_UNSUPPORTED : TRTSHIM_ERR_PARSE,
               "%s '%s' is not a tensor", kind, io->name);

  uint64_t elem = 0;
  int have_elem = 0, have_shape = 0;
  pb_t shape = {NULL, NULL};
  while (tensor.p < tensor.end) {
    uint32_t f, wt;
    if (!pb_key(&tensor, &f, &wt)) return PB_MALFORMED(w, "bad field key in TypeProto.Tensor");
    if (f == 1 && wt == WT_VARINT) {
      if (!pb_varint(&tensor, &elem)) return PB_MALFORMED(w, "truncated elem_type");
      have_elem = 1;
    } else if (f == 2 && wt == WT_LEN) {
      if (!pb_len(&tensor, &shape)) return PB_MALFORMED(w, "truncated TensorShapeProto");
      have_shape = 1;
    } else if (!pb_skip(&tensor, wt)) {
      return PB_MALFORMED(w, "truncated TypeProto.Tensor field");
    }
  }
  if (!have_elem || elem == 0)
    return why(w, TRTSHIM_ERR_PARSE, "%s '%s' has no element type", kind, io->name);
  if (!onnx_dtype(elem, &io->dtype))
    return why(w, TRTSHIM_ERR_UNSUPPORTED,
               "%s '%s' has ONNX element type %llu, which the fake does not support", kind,
               io->name, (unsigned long long)elem);
  if (!have_shape)
    return why(w, TRTSHIM_ERR_UNSUPPORTED, "%s '%s' has no shape (unknown rank)", kind, io->name);

  while (shape.p < shape.end) {
    uint32_t f, wt;
    if (!pb_key(&shape, &f, &wt)) return PB_MALFORMED(w, "bad field key in TensorShapeProto");
    if (f == 1 && wt == WT_LEN) {
      pb_t dim;
      int64_t v = -1;
      if (!pb_len(&shape, &dim)) return PB_MALFORMED(w, "truncated Dimension");
      while (dim.p < dim.end) {
        uint32_t df, dwt;
        if (!pb_key(&dim, &df, &dwt)) return PB_MALFORMED(w, "bad field key in Dimension");
        if (df == 1 && dwt == WT_VARINT) {
          uint64_t u;
          if (!pb_varint(&dim, &u)) return PB_MALFORMED(w, "truncated dim_value");
          v = (int64_t)u;
          if (v < 0)
            return why(w, TRTSHIM_ERR_PARSE, "%s '%s' has a negative dim_value", kind, io->name);
          if (v == 0)
            return why(w, TRTSHIM_ERR_UNSUPPORTED, "%s '%s' has a zero-size dimension", kind,
                       io->name);
          if (v > FAKE_MAX_DIM)
            return why(w, TRTSHIM_ERR_UNSUPPORTED, "%s '%s' has a dimension above 2^31-1", kind,
                       io->name);
        } else if (df == 2 && dwt == WT_LEN) {
          pb_t s;
          if (!pb_len(&dim, &s)) return PB_MALFORMED(w, "truncated dim_param");
          v = -1;
        } else if (!pb_skip(&dim, dwt)) {
          return PB_MALFORMED(w, "truncated Dimension field");
        }
      }
      if (io->shape.nb == TRTSHIM_MAX_DIMS)
        return why(w, TRTSHIM_ERR_UNSUPPORTED, "%s '%s' has more than %d dimensions", kind,
                   io->name, TRTSHIM_MAX_DIMS);
      io->shape.d[io->shape.nb++] = v;
    } else if (!pb_skip(&shape, wt)) {
      return PB_MALFORMED(w, "truncated TensorShapeProto field");
    }
  }
  if (io->shape.nb == 0)
    return why(w, TRTSHIM_ERR_UNSUPPORTED, "%s '%s' is a scalar: the fake needs rank >= 1", kind,
               io->name);
  if (!is_input) {
    for (int32_t d = 1; d < io->shape.nb; d++)
      if (io->shape.d[d] == -1)
        return why(w, TRTSHIM_ERR_UNSUPPORTED,
                   "output '%s' has dynamic dimension %d (shape %s): data-dependent output "
                   "shapes are not supported by the fake (only an output's dim 0, the batch, "
                   "may be dynamic; outputs sized by dynamic input dims are not computed either)",
                   io->name, (int)d, fmt_dims(&io->shape).s);
  }
  return 1;
}

static void onnx_graph_free(onnx_graph* g) {
  free(g->inputs.v);
  free(g->outputs.v);
  free(g->init_names.v);
}

/* Parses the ONNX model into e's IO list. */
static int parse_onnx(const uint8_t* data, size_t len, trtshim_engine* e, why_t* w) {
  onnx_graph og;
  int ok = 1, have_graph = 0;
  memset(&og, 0, sizeof og);
  pb_t r = {data, data + len};
  if (len == 0) return why(w, TRTSHIM_ERR_PARSE, "the ONNX model is empty (0 bytes)");
  while (ok && r.p < r.end) {
    uint32_t f, wt;
    if (!pb_key(&r, &f, &wt)) {
      ok = PB_MALFORMED(w, "bad field key in ModelProto");
    } else if (f == 7) {
      pb_t g;
      if (wt != WT_LEN || !pb_len(&r, &g))
        ok = PB_MALFORMED(w, "bad ModelProto.graph");
      else {
        have_graph = 1;
        ok = parse_graph(g, &og, w);
      }
    } else if (!pb_skip(&r, wt)) {
      ok = PB_MALFORMED(w, "truncated ModelProto field");
    }
  }
  if (ok && !have_graph) ok = why(w, TRTSHIM_ERR_PARSE, "the ONNX model has no graph");
  for (size_t i = 0; ok && i < og.inputs.n; i++) {
    pb_t name;
    int is_init = 0;
    ok = vi_name(og.inputs.v[i], &name, w);
    if (!ok) break;
    for (size_t j = 0; name.p && j < og.init_names.n && !is_init; j++)
      is_init = pb_eq(name, og.init_names.v[j]);
    if (is_init) continue;
    if (e->nb_io == FAKE_MAX_IO) {
      ok = why(w, TRTSHIM_ERR_UNSUPPORTED, "the network has more than %d IO tensors", FAKE_MAX_IO);
      break;
    }
    ok = parse_value_info(og.inputs.v[i], 1, &e->io[e->nb_io], w);
    if (ok) e->nb_io++;
  }
  int nin = e->nb_io;
  for (size_t i = 0; ok && i < og.outputs.n; i++) {
    if (e->nb_io == FAKE_MAX_IO) {
      ok = why(w, TRTSHIM_ERR_UNSUPPORTED, "the network has more than %d IO tensors", FAKE_MAX_IO);
      break;
    }
    ok = parse_value_info(og.outputs.v[i], 0, &e->io[e->nb_io], w);
    if (ok) e->nb_io++;
  }
  onnx_graph_free(&og);
  if (!ok) return 0;
  for (int32_t i = 0; i < e->nb_io; i++)
    for (int32_t j = 0; j < i; j++)
      if (strcmp(e->io[i].name, e->io[j].name) == 0)
        return why(w, TRTSHIM_ERR_PARSE, "tensor name '%s' is used by two graph inputs/outputs",
                   e->io[i].name);
  if (nin == 0)
    return why(w, TRTSHIM_ERR_UNSUPPORTED,
               "the network has no inputs (other than initializers): the fake needs one");
  if (e->nb_io == nin) return why(w, TRTSHIM_ERR_BUILD, "the network has no outputs");
  return 1;
}

/* ---- build: plan text ----------------------------------------------------- */

typedef struct {
  char* s;
  size_t n, cap;
  int oom;
} strbuf;

static void sb_add(strbuf* b, const char* fmt, ...) FAKE_PRINTF(2, 3);
static void sb_add(strbuf* b, const char* fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->oom = 1;
      return;
    }
    if (b->s && (size_t)k < b->cap - b->n) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = (b->cap ? b->cap : 512);
    while (cap < b->n + (size_t)k + 1) cap *= 2;
    char* s = realloc(b->s, cap);
    if (s == NULL) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

static const char* precision_name(int32_t p) {
  switch (p) {
    case TRTSHIM_PRECISION_FP32: return "fp32";
    case TRTSHIM_PRECISION_FP16: return "fp16";
    case TRTSHIM_PRECISION_BF16: return "bf16";
    case TRTSHIM_PRECISION_INT8: return "int8";
    case TRTSHIM_PRECISION_STRONGLY_TYPED: return "strongly_typed";
    default: return NULL;
  }
}

static trtshim_status trtshim_build(const void* onnx, size_t onnx_len, const char* model_dir,
                                    const trtshim_build_options* opts, trtshim_blob* plan,
                                    trtshim_blob* timing_cache_out, trtshim_err* err) {
  (void)model_dir;
  if (onnx == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "build: onnx is NULL");
  if (opts == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "build: opts is NULL");
  if (plan == NULL) return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "build: plan is NULL");
  const char* prec = precision_name(opts->precision);
  if (prec == NULL)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "build: precision %d is not a TRTSHIM_PRECISION_*",
                (int)opts->precision);
  if (opts->workspace_bytes < 0)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "build: workspace_bytes %lld is negative",
                (long long)opts->workspace_bytes);
  if (opts->optimization_level < -1 || opts->optimization_level > 5)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "build: optimization_level %d is not -1 (default) or 0..5",
                (int)opts->optimization_level);
  if (opts->hardware_compat < TRTSHIM_HWCOMPAT_NONE ||
      opts->hardware_compat > TRTSHIM_HWCOMPAT_SAME_COMPUTE_CAPABILITY)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "build: hardware_compat %d is not a TRTSHIM_HWCOMPAT_*", (int)opts->hardware_compat);
  if (opts->version_compat != 0 && opts->version_compat != 1)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "build: version_compat must be 0 or 1, got %d",
                (int)opts->version_compat);
  if (opts->disable_tf32 != 0 && opts->disable_tf32 != 1)
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "build: disable_tf32 must be 0 or 1, got %d",
                (int)opts->disable_tf32);
  if (opts->nb_profile < 0 || (opts->nb_profile > 0 && opts->profile == NULL))
    return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                "build: nb_profile %d with profile %s", (int)opts->nb_profile,
                opts->profile ? "set" : "NULL");
  for (int32_t i = 0; i < opts->nb_profile; i++) {
    if (opts->profile[i].name == NULL)
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT, "build: profile entry %d has a NULL name",
                  (int)i);
    for (int32_t j = 0; j < i; j++)
      if (strcmp(opts->profile[i].name, opts->profile[j].name) == 0)
        return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                    "build: the profile names input '%.256s' twice", opts->profile[i].name);
  }
  if (opts->timing_cache_len > 0) {
    size_t ml = strlen(FAKE_CACHE_MAGIC);
    if (opts->timing_cache == NULL)
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                  "build: timing_cache is NULL with timing_cache_len %zu", opts->timing_cache_len);
    if (opts->timing_cache_len < ml || memcmp(opts->timing_cache, FAKE_CACHE_MAGIC, ml) != 0)
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                  "build: the timing cache does not match this TensorRT (it is not a fake timing "
                  "cache): mismatched or corrupt cache");
  }
  if (opts->precision == TRTSHIM_PRECISION_INT8)
    return fail(err, TRTSHIM_ERR_UNSUPPORTED, "build: the fake cannot build int8");
  int32_t kind = TRTSHIM_RUNTIME_FAKE;
  init_state(&kind, NULL);
  if (kind == TRTSHIM_RUNTIME_LEAN || kind == TRTSHIM_RUNTIME_DISPATCH)
    return fail(err, TRTSHIM_ERR_UNSUPPORTED,
                "build: the %s TensorRT runtime cannot build engines (it only deserializes "
                "version-compatible plans built elsewhere with the full TensorRT)",
                kind == TRTSHIM_RUNTIME_LEAN ? "lean" : "dispatch");
  trtshim_status cst = cuda_init_failure("build", err);
  if (cst != TRTSHIM_OK) return cst;

  trtshim_engine* e = calloc(1, sizeof *e);
  if (e == NULL) return fail(err, TRTSHIM_ERR_OUT_OF_MEMORY, "build: out of memory");
  why_t w;
  if (!parse_onnx((const uint8_t*)onnx, onnx_len, e, &w)) {
    free(e);
    return fail(err, w.code, "build: %s", w.msg);
  }
  /* Profile: every entry names an input; dynamic inputs need one. */
  for (int32_t i = 0; i < opts->nb_profile; i++) {
    const trtshim_profile_dim* pd = &opts->profile[i];
    int32_t k = find_io(e, pd->name);
    if (k < 0 || e->io[k].mode != TRTSHIM_IO_INPUT) {
      free(e);
      return fail(err, TRTSHIM_ERR_INVALID_ARGUMENT,
                  "build: the optimization profile names '%.256s', which is not a network input",
                  pd->name);
    }
    if (!check_profile(e->io[k].name, &e->io[k].shape, &pd->min, &pd->opt, &pd->max, &w)) {
      free(e);
      return fail(err, w.code, "build: %s", w.msg);
    }
  }
  for (int32_t k = 0; k < e->nb_io; k++) {
    fake_io* io = &e->io[k];
    if (io->mode != TRTSHIM_IO_INPUT) continue;
    if (!has_dynamic(&io->shape)) {
      io->min = io->opt = io->max = io->shape;
      continue;
    }
    int32_t found = -1;
    for (int32_t i = 0; i < opts->nb_profile; i++)
      if (strcmp(opts->profile[i].name, io->name) == 0) found = i;
    if (found < 0) {
      trtshim_status st = fail(err, TRTSHIM_ERR_BUILD,
                               "build: input %s has dynamic dimensions %s but no optimization "
                               "profile",
                               io->name, fmt_dims(&io->shape).s);
      free(e);
      return st;
    }
    io->min = opts->profile[found].min;
    io->opt = opts->profile[found].opt;
    io->max = opts->profile[found].max;
    io->has_profile = 1;
  }
  e->device_memory = FAKE_DEFAULT_DEVICE_MEMORY;
  if (!validate_engine(e, &w)) {
    free(e);
    return fail(err, w.code == TRTSHIM_ERR_DESERIALIZE ? TRTSHIM_ERR_BUILD : w.code, "build: %s",
                w.msg);
  }

  long step_ms = 0;
  const char* step_env = getenv("TRTSHIM_FAKE_BUILD_STEP_MS");
  if (step_env != NULL) {
    step_ms = strtol(step_env, NULL, 10);
    if (step_ms < 0 || step_ms > 60000) step_ms = 0;
  }
  struct timespec step_sleep = {step_ms / 1000, (step_ms % 1000) * 1000000L};
  if (opts->progress == NULL) {
    for (int32_t s = 0; s < 3 && step_ms > 0; s++) nanosleep(&step_sleep, NULL);
  } else {
    int cancelled_at = -1;
    opts->progress(opts->progress_user, TRTSHIM_PROGRESS_START, FAKE_PHASE, NULL, 3);
    for (int32_t s = 0; s < 3; s++) {
      if (step_ms > 0) nanosleep(&step_sleep, NULL);
      if (opts->progress(opts->progress_user, TRTSHIM_PROGRESS_STEP, FAKE_PHASE, NULL, s) != 0) {
        cancelled_at = s;
        break;
      }
    }
    opts->progress(opts->progress_user, TRTSHIM_PROGRESS_FINISH, FAKE_PHASE, NULL, 0);
    if (cancelled_at >= 0) {
      free(e);
      return fail(err, TRTSHIM_ERR_CANCELLED,
                  "build: cancelled by the progress callback at step %d of 3", cancelled_at);
    }
  }

  strbuf sb = {NULL, 0, 0, 0};
  sb_add(&sb, "%s\nprecision %s\n", FAKE_PLAN_MAGIC, prec);
  if (opts->disable_tf32) sb_add(&sb, "no_tf32\n");
  for (int32_t k = 0; k < e->nb_io; k++) {
    const fake_io* io = &e->io[k];
    int is_in = io->mode == TRTSHIM_IO_INPUT;
    sb_add(&sb, "%s %s %s %s", is_in ? "input" : "output", io->name, dtype_name(io->dtype),
           fmt_plan_dims(&io->shape).s);
    if (is_in && io->has_profile)
      sb_add(&sb, " min=%s opt=%s max=%s", fmt_plan_dims(&io->min).s, fmt_plan_dims(&io->opt).s,
             fmt_plan_dims(&io->max).s);
    sb_add(&sb, "\n");
  }
  free(e);
  void* cache = NULL;
  size_t cache_len = strlen(FAKE_CACHE_MAGIC);
  if (!sb.oom && timing_cache_out != NULL) {
    cache = malloc(cache_len);
    if (cache != NULL) memcpy(cache, FAKE_CACHE_MAGIC, cache_len);
  }
  if (sb.oom || (timing_cache_out != NULL && cache == NULL)) {
    free(sb.s);
    free(cache);
    return fail(err, TRTSHIM_ERR_OUT_OF_MEMORY, "build: out of memory writing the plan");
  }
  plan->data = sb.s;
  plan->len = sb.n;
  if (timing_cache_out != NULL) {
    timing_cache_out->data = cache;
    timing_cache_out->len = cache_len;
  }
  return TRTSHIM_OK;
}

/* ---- the table ------------------------------------------------------------ */

static const trtshim_api g_api = {
    .init = trtshim_init,
    .get_info = trtshim_get_info,
    .set_logger = trtshim_set_logger,
    .build = trtshim_build,
    .blob_free = trtshim_blob_free,
    .engine_load = trtshim_engine_load,
    .engine_free = trtshim_engine_free,
    .engine_io_count = trtshim_engine_io_count,
    .engine_io_info = trtshim_engine_io_info,
    .engine_profile_count = trtshim_engine_profile_count,
    .engine_device_memory_size = trtshim_engine_device_memory_size,
    .context_create = trtshim_context_create,
    .context_free = trtshim_context_free,
    .context_set_device_memory = trtshim_context_set_device_memory,
    .context_set_profile = trtshim_context_set_profile,
    .context_set_input_shape = trtshim_context_set_input_shape,
    .context_tensor_shape = trtshim_context_tensor_shape,
    .context_set_tensor_address = trtshim_context_set_tensor_address,
    .context_set_input_consumed_event = trtshim_context_set_input_consumed_event,
    .context_enqueue = trtshim_context_enqueue,
};

/* The library's only export. */
FAKE_EXPORT const trtshim_api* trtshim_get_api(uint32_t abi) {
  return abi == TRTSHIM_ABI_VERSION ? &g_api : NULL;
}
