/* The Go binding's view of the shim: thin callers of the library's table of
 * calls (trtshim.h's struct trtshim_api), which Go can call where it cannot
 * call a C function pointer itself. trt.go opens the library (internal/dl)
 * and resolves its one export, trtshim_get_api. */
#ifndef TRT_SHIM_GO_H
#define TRT_SHIM_GO_H
#include "trtshim.h"

/* Calls get_api (the library's trtshim_get_api, from dlsym) for the table
 * of this header's TRTSHIM_ABI_VERSION; NULL when the library has another. */
const trtshim_api* trtgo_get_api(void* get_api);

trtshim_status trtgo_init(const trtshim_api* a, const char* tensorrt_lib, int32_t allow_host_code, trtshim_err* err);
trtshim_status trtgo_get_info(const trtshim_api* a, trtshim_info* out, trtshim_err* err);
/* Routes the shim's log to Go (enable = 1) or back to its default. */
trtshim_status trtgo_set_logger(const trtshim_api* a, int enable, uintptr_t user, int32_t max_severity, trtshim_err* err);
/* progress = 1 routes progress to Go with user as the handle. */
trtshim_status trtgo_build(const trtshim_api* a, const void* onnx, size_t len, const char* dir, trtshim_build_options* o,
                           int progress, trtshim_blob* plan, trtshim_blob* tc, trtshim_err* err);
void trtgo_blob_free(const trtshim_api* a, trtshim_blob* b);
trtshim_status trtgo_engine_load(const trtshim_api* a, const void* plan, size_t len, trtshim_engine** out, trtshim_err* err);
void trtgo_engine_free(const trtshim_api* a, trtshim_engine* e);
trtshim_status trtgo_engine_io_count(const trtshim_api* a, trtshim_engine* e, int32_t* out, trtshim_err* err);
trtshim_status trtgo_engine_io_info(const trtshim_api* a, trtshim_engine* e, int32_t i, trtshim_io_info* out, trtshim_err* err);
trtshim_status trtgo_engine_profile_count(const trtshim_api* a, trtshim_engine* e, int32_t* out, trtshim_err* err);
trtshim_status trtgo_engine_device_memory_size(const trtshim_api* a, trtshim_engine* e, int64_t* out, trtshim_err* err);
trtshim_status trtgo_context_create(const trtshim_api* a, trtshim_engine* e, int32_t user, trtshim_context** out, trtshim_err* err);
void trtgo_context_free(const trtshim_api* a, trtshim_context* c);
trtshim_status trtgo_context_set_device_memory(const trtshim_api* a, trtshim_context* c, uintptr_t mem, int64_t size, trtshim_err* err);
trtshim_status trtgo_context_set_profile(const trtshim_api* a, trtshim_context* c, int32_t p, uintptr_t stream, trtshim_err* err);
trtshim_status trtgo_context_set_input_shape(const trtshim_api* a, trtshim_context* c, const char* name, const trtshim_dims* d, trtshim_err* err);
trtshim_status trtgo_context_tensor_shape(const trtshim_api* a, trtshim_context* c, const char* name, trtshim_dims* out, trtshim_err* err);
trtshim_status trtgo_context_set_tensor_address(const trtshim_api* a, trtshim_context* c, const char* name, uintptr_t addr, trtshim_err* err);
trtshim_status trtgo_context_set_input_consumed_event(const trtshim_api* a, trtshim_context* c, uintptr_t ev, trtshim_err* err);
trtshim_status trtgo_context_enqueue(const trtshim_api* a, trtshim_context* c, uintptr_t stream, trtshim_err* err);
#endif
