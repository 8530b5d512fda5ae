/*
 * trtshim.h — the flat C API between trtserve's Go code and TensorRT.
 *
 * Two libraries implement exactly this API:
 *   - libtrtshim.so (csrc/src), the real one, built against TensorRT >= 10.1
 *     headers; it links no TensorRT library but opens one at run time
 *     (trtshim_init): the full libnvinfer, the lean runtime or the dispatch
 *     runtime;
 *   - libtrtshim_fake.so (csrc/fake), CPU math behind the same calls, so the
 *     Go binding (trt/) and the GPU backend are tested where TensorRT is not.
 * Go opens either at run time (dlopen), resolves its one exported symbol,
 * trtshim_get_api, and asks it for the table of calls of TRTSHIM_ABI_VERSION
 * (struct trtshim_api, at the end of this file); a library of another ABI
 * answers NULL and is refused. Comments name a call trtshim_<field>, the
 * name both implementations give the function behind the table's field.
 *
 * Rules every call follows:
 *   - It returns a trtshim_status (TRTSHIM_OK = 0) and fills out-params only
 *     on success. On failure it writes the code and a NUL-terminated message
 *     into *err when err is not NULL. Nothing else carries error state:
 *     calls on different handles are independent and thread-safe.
 *   - No C++ exception ever crosses this boundary.
 *   - Handles are opaque; *_free(NULL) is a no-op. The caller frees what it
 *     creates, contexts before their engine.
 *   - The shim never keeps a pointer the caller passed in, except: device
 *     addresses given to trtshim_context_set_tensor_address /
 *     set_device_memory (until replaced or the context is freed), and the
 *     logger/progress callbacks with their user values.
 *   - Enumerations are this header's own symbolic values; the shim maps them
 *     to TensorRT's enums, which TensorRT 11 renumbered.
 *   - CUDA streams and events cross as void* (cudaStream_t / cudaEvent_t),
 *     so no CUDA header is needed to use this API.
 */
#ifndef TRTSHIM_H
#define TRTSHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRTSHIM_ABI_VERSION 3
#define TRTSHIM_MAX_DIMS 8
#define TRTSHIM_NAME_LEN 256
#define TRTSHIM_ERR_LEN 1024
#define TRTSHIM_PATH_LEN 1024

typedef int32_t trtshim_status;
enum {
  TRTSHIM_OK = 0,
  TRTSHIM_ERR_INVALID_ARGUMENT = 1, /* a caller mistake: NULL, bad enum, bad dims */
  TRTSHIM_ERR_UNSUPPORTED = 2,      /* valid, but not on this TensorRT/GPU */
  TRTSHIM_ERR_PARSE = 3,            /* the ONNX parser rejected the model */
  TRTSHIM_ERR_BUILD = 4,            /* the builder failed */
  TRTSHIM_ERR_CANCELLED = 5,        /* the progress callback asked to stop */
  TRTSHIM_ERR_DESERIALIZE = 6,      /* a plan from another TensorRT/GPU, or corrupt */
  TRTSHIM_ERR_SHAPE = 7,            /* a shape outside the profile, or unset */
  TRTSHIM_ERR_NOT_FOUND = 8,        /* no tensor of that name */
  TRTSHIM_ERR_RUNTIME = 9,          /* TensorRT failed at run time (see the log) */
  TRTSHIM_ERR_OUT_OF_MEMORY = 10,
  TRTSHIM_ERR_INTERNAL = 11,        /* an exception or a bug in the shim */
  TRTSHIM_ERR_CUDA_INIT = 12,       /* TensorRT could not initialise CUDA (no GPU, driver too old) */
  TRTSHIM_ERR_NO_TENSORRT = 13      /* no usable TensorRT library (trtshim_init failed or was not called) */
};

typedef struct trtshim_err {
  trtshim_status code;
  char msg[TRTSHIM_ERR_LEN];
} trtshim_err;

/* ---- library ---------------------------------------------------------- */

/* Which TensorRT library trtshim_init opened. */
enum {
  TRTSHIM_RUNTIME_NONE = 0,     /* trtshim_init has not succeeded yet */
  TRTSHIM_RUNTIME_FULL = 1,     /* libnvinfer: builds and runs engines */
  TRTSHIM_RUNTIME_LEAN = 2,     /* libnvinfer_lean: runs version-compatible engines only */
  TRTSHIM_RUNTIME_DISPATCH = 3, /* libnvinfer_dispatch: as lean, loading the plan's own lean runtime */
  TRTSHIM_RUNTIME_FAKE = 4      /* csrc/fake */
};

typedef struct trtshim_info {
  int32_t abi_version;     /* TRTSHIM_ABI_VERSION the library was built with */
  int32_t trt_major, trt_minor, trt_patch; /* headers it was built against */
  int32_t trt_runtime;     /* getInferLibVersion() of the opened library (0 before trtshim_init) */
  int32_t onnx_parser;     /* getNvOnnxParserVersion(); 0 when no parser was opened */
  /* 1: builds and engine loads run on the calling thread's current CUDA
   * device, so the caller opens CUDA and makes its GPU current first (the
   * real shim). 0: the library runs no GPU code and needs no CUDA at all
   * (csrc/fake). */
  int32_t needs_cuda_device;
  int32_t cuda_version;    /* CUDA_VERSION the shim was built for (12090, 13000); 0 = unknown */
  int32_t runtime_kind;    /* TRTSHIM_RUNTIME_* */
  int32_t can_build;       /* 1 when trtshim_build can work (full library and its ONNX parser) */
  int32_t plugins;         /* 1 when libnvinfer_plugin was opened and initialised */
  int32_t allow_engine_host_code; /* as given to trtshim_init */
  char tensorrt_path[TRTSHIM_PATH_LEN]; /* the opened TensorRT library, as found */
  char description[TRTSHIM_NAME_LEN];
  /* What the caller must tell its user when it starts using the library,
   * e.g. that its outputs are synthetic (csrc/fake); "" for the real shim. */
  char notice[TRTSHIM_NAME_LEN];
} trtshim_info;

/* What trtshim_init opens and how. */
typedef struct trtshim_init_options {
  /* A TensorRT library to open (a path or a soname); NULL or "" searches,
   * in order: libnvinfer.so.11, .so.10, .so (full), libnvinfer_lean.so.11,
   * .so.10, .so (lean), libnvinfer_dispatch.so.11, .so.10, .so (dispatch).
   * The kind is told by the library's exports: a full libnvinfer exports
   * createInferBuilder_INTERNAL, the lean and dispatch runtimes do not. */
  const char* tensorrt_lib;
  /* 1: IRuntime::setEngineHostCodeAllowed(true) on every runtime, which
   * version-compatible plans need (they carry the lean runtime as host
   * code: only load plans you trust). 0: such plans are refused. */
  int32_t allow_engine_host_code;
} trtshim_init_options;

/* Severity as TensorRT's ILogger::Severity, in our own numbering. */
enum {
  TRTSHIM_LOG_INTERNAL_ERROR = 0,
  TRTSHIM_LOG_ERROR = 1,
  TRTSHIM_LOG_WARNING = 2,
  TRTSHIM_LOG_INFO = 3,
  TRTSHIM_LOG_VERBOSE = 4
};
/* Called from any thread TensorRT logs on; user is the value given to
 * trtshim_set_logger (a Go handle, never a Go pointer). */
typedef void (*trtshim_log_fn)(uintptr_t user, int32_t severity, const char* msg);

/* ---- tensors ---------------------------------------------------------- */

enum {
  TRTSHIM_DTYPE_FLOAT = 0,
  TRTSHIM_DTYPE_HALF = 1,
  TRTSHIM_DTYPE_BF16 = 2,
  TRTSHIM_DTYPE_INT8 = 3,
  TRTSHIM_DTYPE_UINT8 = 4,
  TRTSHIM_DTYPE_INT32 = 5,
  TRTSHIM_DTYPE_INT64 = 6,
  TRTSHIM_DTYPE_BOOL = 7,
  TRTSHIM_DTYPE_FP8 = 8,
  TRTSHIM_DTYPE_INT4 = 9,
  TRTSHIM_DTYPE_FP4 = 10,
  TRTSHIM_DTYPE_OTHER = 99
};

enum { TRTSHIM_IO_INPUT = 1, TRTSHIM_IO_OUTPUT = 2 };

typedef struct trtshim_dims {
  int32_t nb;                     /* number of dimensions */
  int64_t d[TRTSHIM_MAX_DIMS];    /* -1: dynamic */
} trtshim_dims;

typedef struct trtshim_io_info {
  char name[TRTSHIM_NAME_LEN];
  int32_t mode;        /* TRTSHIM_IO_* */
  int32_t dtype;       /* TRTSHIM_DTYPE_* */
  trtshim_dims shape;  /* as built; -1 where dynamic */
  int32_t has_profile; /* inputs with a dynamic dim: min/opt/max of profile 0 */
  trtshim_dims min, opt, max;
  int32_t data_dependent; /* output whose shape is known only after enqueue */
  int32_t linear;      /* 1 when the tensor's format is kLINEAR (row-major) */
} trtshim_io_info;

/* ---- build ------------------------------------------------------------ */

enum {
  TRTSHIM_PRECISION_FP32 = 0, /* TensorRT's default: fp32 (tf32 allowed unless disable_tf32) */
  TRTSHIM_PRECISION_FP16 = 1, /* fp16 kernels allowed (TensorRT 10 flags) */
  TRTSHIM_PRECISION_BF16 = 2,
  TRTSHIM_PRECISION_INT8 = 3, /* INT8 kernels for a Q/DQ model (TensorRT 10) */
  TRTSHIM_PRECISION_STRONGLY_TYPED = 4 /* types exactly as the ONNX says */
};

enum {
  TRTSHIM_HWCOMPAT_NONE = 0,
  TRTSHIM_HWCOMPAT_AMPERE_PLUS = 1,
  TRTSHIM_HWCOMPAT_SAME_COMPUTE_CAPABILITY = 2
};

/* One dynamic input's range in the (single) optimization profile. */
typedef struct trtshim_profile_dim {
  const char* name;
  trtshim_dims min, opt, max;
} trtshim_profile_dim;

/* Progress, from TensorRT's IProgressMonitor. Return nonzero from a
 * TRTSHIM_PROGRESS_STEP call to cancel the build. */
enum { TRTSHIM_PROGRESS_START = 0, TRTSHIM_PROGRESS_STEP = 1, TRTSHIM_PROGRESS_FINISH = 2 };
typedef int32_t (*trtshim_progress_fn)(uintptr_t user, int32_t event, const char* phase,
                                       const char* parent, int32_t step_or_total);

typedef struct trtshim_build_options {
  int32_t precision;          /* TRTSHIM_PRECISION_* */
  int64_t workspace_bytes;    /* 0: TensorRT's default (all device memory) */
  int32_t optimization_level; /* -1: default (3); else 0..5 */
  int32_t hardware_compat;    /* TRTSHIM_HWCOMPAT_* */
  int32_t version_compat;     /* 1: kVERSION_COMPATIBLE plan */
  /* 1: clear BuilderFlag::kTF32, so layers that run in fp32 get no TF32
   * kernels (strict fp32). 0: TensorRT's default, which allows TF32 on
   * Ampere and newer. Zero is the default so that a zero-initialised
   * struct builds as TensorRT would. */
  int32_t disable_tf32;
  const trtshim_profile_dim* profile;
  int32_t nb_profile;
  const void* timing_cache;   /* a serialized timing cache, or NULL */
  size_t timing_cache_len;
  trtshim_progress_fn progress; /* may be NULL */
  uintptr_t progress_user;
} trtshim_build_options;

/* Memory the shim allocated and the caller frees with trtshim_blob_free. */
typedef struct trtshim_blob {
  void* data;
  size_t len;
} trtshim_blob;

/* ---- engine ----------------------------------------------------------- */

typedef struct trtshim_engine trtshim_engine;

/* ---- execution context ------------------------------------------------ */

typedef struct trtshim_context trtshim_context;

/* ---- the API ---------------------------------------------------------- */

/* Every call of the library, as one table (in the manner of ONNX Runtime's
 * OrtApi): a library exports trtshim_get_api and nothing else of this API,
 * so a caller resolves one symbol and a library of another ABI is told
 * apart before anything is called. Adding a call is three edits: a field
 * here (at the end of its group, and TRTSHIM_ABI_VERSION bumped), its
 * implementation and table entry in csrc/src and csrc/fake, and the Go
 * wrapper in trt/. */
typedef struct trtshim_api {
  /* -- library -- */
  /* Opens TensorRT (and its ONNX parser and plugin library when present; the
   * plugins are initialised once here, before any parse or deserialize).
   * Every call that needs TensorRT fails TRTSHIM_ERR_NO_TENSORRT until it
   * succeeds. Process-wide: a second call with the same options returns
   * TRTSHIM_OK, one with other options TRTSHIM_ERR_INVALID_ARGUMENT; a failed
   * call may be retried. It does not touch CUDA: a missing GPU shows up as
   * TRTSHIM_ERR_CUDA_INIT from the first build or engine load. */
  trtshim_status (*init)(const trtshim_init_options* opts, trtshim_err* err);
  /* Valid before trtshim_init (runtime_kind NONE, trt_runtime 0). */
  trtshim_status (*get_info)(trtshim_info* out, trtshim_err* err);
  /* Messages less severe than max_severity are dropped before the callback.
   * fn = NULL restores the default (stderr, warnings and worse). */
  trtshim_status (*set_logger)(trtshim_log_fn fn, uintptr_t user, int32_t max_severity,
                               trtshim_err* err);
  /* -- build -- */
  /* Builds a serialized engine from ONNX bytes (full TensorRT only: on the
   * lean or dispatch runtime it fails TRTSHIM_ERR_UNSUPPORTED). model_dir, when not NULL, is
   * where external weight files are looked up. timing_cache_out may be NULL;
   * otherwise it receives the updated timing cache. */
  trtshim_status (*build)(const void* onnx, size_t onnx_len, const char* model_dir,
                          const trtshim_build_options* opts, trtshim_blob* plan,
                          trtshim_blob* timing_cache_out, trtshim_err* err);
  void (*blob_free)(trtshim_blob* b);
  /* -- engine -- */
  /* Deserializes a plan on the calling thread's current CUDA device. Errors
   * TensorRT logs on its worker threads reach the message of the build or
   * load running (builds run one at a time; see csrc/src/shim_util.h). */
  trtshim_status (*engine_load)(const void* plan, size_t len, trtshim_engine** out,
                                trtshim_err* err);
  void (*engine_free)(trtshim_engine* e);
  trtshim_status (*engine_io_count)(const trtshim_engine* e, int32_t* out, trtshim_err* err);
  trtshim_status (*engine_io_info)(const trtshim_engine* e, int32_t index, trtshim_io_info* out,
                                   trtshim_err* err);
  trtshim_status (*engine_profile_count)(const trtshim_engine* e, int32_t* out, trtshim_err* err);
  /* Device memory one context needs for its activations (all profiles). */
  trtshim_status (*engine_device_memory_size)(const trtshim_engine* e, int64_t* out,
                                              trtshim_err* err);
  /* -- execution context -- */
  /* user_memory = 1: the caller provides activation memory with
   * trtshim_context_set_device_memory before the first enqueue (so contexts
   * that never run at once can share one block). */
  trtshim_status (*context_create)(trtshim_engine* e, int32_t user_memory, trtshim_context** out,
                                   trtshim_err* err);
  void (*context_free)(trtshim_context* c);
  trtshim_status (*context_set_device_memory)(trtshim_context* c, void* mem, int64_t size,
                                              trtshim_err* err);
  trtshim_status (*context_set_profile)(trtshim_context* c, int32_t profile, void* stream,
                                        trtshim_err* err);
  trtshim_status (*context_set_input_shape)(trtshim_context* c, const char* name,
                                            const trtshim_dims* dims, trtshim_err* err);
  /* The shape of any tensor once every input shape is set. */
  trtshim_status (*context_tensor_shape)(const trtshim_context* c, const char* name,
                                         trtshim_dims* out, trtshim_err* err);
  trtshim_status (*context_set_tensor_address)(trtshim_context* c, const char* name, void* addr,
                                               trtshim_err* err);
  /* event (may be NULL) is recorded once the inputs may be overwritten. */
  trtshim_status (*context_set_input_consumed_event)(trtshim_context* c, void* event,
                                                     trtshim_err* err);
  /* Queues the network on stream; returns before it runs. */
  trtshim_status (*context_enqueue)(trtshim_context* c, void* stream, trtshim_err* err);
} trtshim_api;

/* The library's table of ABI version abi (TRTSHIM_ABI_VERSION of the
 * caller's header), or NULL when the library implements another version:
 * the caller then refuses the library. The table is static: valid for as
 * long as the library stays loaded. */
const trtshim_api* trtshim_get_api(uint32_t abi);
typedef const trtshim_api* (*trtshim_get_api_fn)(uint32_t abi);

#ifdef __cplusplus
}
#endif

#endif /* TRTSHIM_H */
