/* The Go binding's view of the shim: a table of the library's functions,
 * filled by dlsym, and thin callers Go can use (cgo cannot call a C
 * function pointer directly). */
#ifndef TRT_SHIM_GO_H
#define TRT_SHIM_GO_H
#include "trtshim.h"

typedef struct trtgo_api {
  void* dl;
  int32_t (*abi_version)(void);
  trtshim_status (*init)(const trtshim_init_options*, trtshim_err*);
  trtshim_status (*get_info)(trtshim_info*, trtshim_err*);
  trtshim_status (*set_logger)(trtshim_log_fn, uintptr_t, int32_t, trtshim_err*);
  trtshim_status (*build)(const void*, size_t, const char*, const trtshim_build_options*, trtshim_blob*, trtshim_blob*, trtshim_err*);
  void (*blob_free)(trtshim_blob*);
  trtshim_status (*engine_load)(const void*, size_t, trtshim_engine**, trtshim_err*);
  void (*engine_free)(trtshim_engine*);
  trtshim_status (*engine_io_count)(const trtshim_engine*, int32_t*, trtshim_err*);
  trtshim_status (*engine_io_info)(const trtshim_engine*, int32_t, trtshim_io_info*, trtshim_err*);
  trtshim_status (*engine_profile_count)(const trtshim_engine*, int32_t*, trtshim_err*);
  trtshim_status (*engine_device_memory_size)(const trtshim_engine*, int64_t*, trtshim_err*);
  trtshim_status (*context_create)(trtshim_engine*, int32_t, trtshim_context**, trtshim_err*);
  void (*context_free)(trtshim_context*);
  trtshim_status (*context_set_device_memory)(trtshim_context*, void*, int64_t, trtshim_err*);
  trtshim_status (*context_set_profile)(trtshim_context*, int32_t, void*, trtshim_err*);
  trtshim_status (*context_set_input_shape)(trtshim_context*, const char*, const trtshim_dims*, trtshim_err*);
  trtshim_status (*context_tensor_shape)(const trtshim_context*, const char*, trtshim_dims*, trtshim_err*);
  trtshim_status (*context_set_tensor_address)(trtshim_context*, const char*, void*, trtshim_err*);
  trtshim_status (*context_set_input_consumed_event)(trtshim_context*, void*, trtshim_err*);
  trtshim_status (*context_enqueue)(trtshim_context*, void*, trtshim_err*);
} trtgo_api;

/* Opens path and resolves every symbol; NULL with a message on failure. */
trtgo_api* trtgo_open(const char* path, char* err, size_t errlen);

int32_t trtgo_abi_version(trtgo_api* a);
trtshim_status trtgo_init(trtgo_api* a, const char* tensorrt_lib, int32_t allow_host_code, trtshim_err* err);
trtshim_status trtgo_get_info(trtgo_api* a, trtshim_info* out, trtshim_err* err);
/* Routes the shim's log to Go (enable = 1) or back to its default. */
trtshim_status trtgo_set_logger(trtgo_api* a, int enable, uintptr_t user, int32_t max_severity, trtshim_err* err);
/* progress = 1 routes progress to Go with user as the handle. */
trtshim_status trtgo_build(trtgo_api* a, const void* onnx, size_t len, const char* dir, trtshim_build_options* o,
                           int progress, trtshim_blob* plan, trtshim_blob* tc, trtshim_err* err);
void trtgo_blob_free(trtgo_api* a, trtshim_blob* b);
trtshim_status trtgo_engine_load(trtgo_api* a, const void* plan, size_t len, trtshim_engine** out, trtshim_err* err);
void trtgo_engine_free(trtgo_api* a, trtshim_engine* e);
trtshim_status trtgo_engine_io_count(trtgo_api* a, trtshim_engine* e, int32_t* out, trtshim_err* err);
trtshim_status trtgo_engine_io_info(trtgo_api* a, trtshim_engine* e, int32_t i, trtshim_io_info* out, trtshim_err* err);
trtshim_status trtgo_engine_profile_count(trtgo_api* a, trtshim_engine* e, int32_t* out, trtshim_err* err);
trtshim_status trtgo_engine_device_memory_size(trtgo_api* a, trtshim_engine* e, int64_t* out, trtshim_err* err);
trtshim_status trtgo_context_create(trtgo_api* a, trtshim_engine* e, int32_t user, trtshim_context** out, trtshim_err* err);
void trtgo_context_free(trtgo_api* a, trtshim_context* c);
trtshim_status trtgo_context_set_device_memory(trtgo_api* a, trtshim_context* c, uintptr_t mem, int64_t size, trtshim_err* err);
trtshim_status trtgo_context_set_profile(trtgo_api* a, trtshim_context* c, int32_t p, uintptr_t stream, trtshim_err* err);
trtshim_status trtgo_context_set_input_shape(trtgo_api* a, trtshim_context* c, const char* name, const trtshim_dims* d, trtshim_err* err);
trtshim_status trtgo_context_tensor_shape(trtgo_api* a, trtshim_context* c, const char* name, trtshim_dims* out, trtshim_err* err);
trtshim_status trtgo_context_set_tensor_address(trtgo_api* a, trtshim_context* c, const char* name, uintptr_t addr, trtshim_err* err);
trtshim_status trtgo_context_set_input_consumed_event(trtgo_api* a, trtshim_context* c, uintptr_t ev, trtshim_err* err);
trtshim_status trtgo_context_enqueue(trtgo_api* a, trtshim_context* c, uintptr_t stream, trtshim_err* err);
#endif
