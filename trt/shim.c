// The C side of the trt binding: see shim_go.h.
#include "shim_go.h"

// Exported by Go (log.go, build.go).
extern void trtgoLog(uintptr_t user, int32_t severity, char* msg);
extern int32_t trtgoProgress(uintptr_t user, int32_t event, char* phase, char* parent, int32_t n);

static void log_cb(uintptr_t user, int32_t severity, const char* msg) { trtgoLog(user, severity, (char*)msg); }
static int32_t progress_cb(uintptr_t user, int32_t event, const char* phase, const char* parent, int32_t n) {
  return trtgoProgress(user, event, (char*)phase, (char*)parent, n);
}

const trtshim_api* trtgo_get_api(void* get_api) {
  return ((trtshim_get_api_fn)get_api)(TRTSHIM_ABI_VERSION);
}

trtshim_status trtgo_init(const trtshim_api* a, const char* tensorrt_lib, int32_t allow_host_code, trtshim_err* err) {
  trtshim_init_options o = {tensorrt_lib, allow_host_code};
  return a->init(&o, err);
}
trtshim_status trtgo_get_info(const trtshim_api* a, trtshim_info* out, trtshim_err* err) { return a->get_info(out, err); }
trtshim_status trtgo_set_logger(const trtshim_api* a, int enable, uintptr_t user, int32_t max_severity, trtshim_err* err) {
  return a->set_logger(enable ? log_cb : NULL, user, max_severity, err);
}
trtshim_status trtgo_build(const trtshim_api* a, const void* onnx, size_t len, const char* dir, trtshim_build_options* o,
                           int progress, trtshim_blob* plan, trtshim_blob* tc, trtshim_err* err) {
  if (progress) o->progress = progress_cb;
  return a->build(onnx, len, dir, o, plan, tc, err);
}
void trtgo_blob_free(const trtshim_api* a, trtshim_blob* b) { a->blob_free(b); }
trtshim_status trtgo_engine_load(const trtshim_api* a, const void* plan, size_t len, trtshim_engine** out, trtshim_err* err) {
  return a->engine_load(plan, len, out, err);
}
void trtgo_engine_free(const trtshim_api* a, trtshim_engine* e) { a->engine_free(e); }
trtshim_status trtgo_engine_io_count(const trtshim_api* a, trtshim_engine* e, int32_t* out, trtshim_err* err) {
  return a->engine_io_count(e, out, err);
}
trtshim_status trtgo_engine_io_info(const trtshim_api* a, trtshim_engine* e, int32_t i, trtshim_io_info* out, trtshim_err* err) {
  return a->engine_io_info(e, i, out, err);
}
trtshim_status trtgo_engine_profile_count(const trtshim_api* a, trtshim_engine* e, int32_t* out, trtshim_err* err) {
  return a->engine_profile_count(e, out, err);
}
trtshim_status trtgo_engine_device_memory_size(const trtshim_api* a, trtshim_engine* e, int64_t* out, trtshim_err* err) {
  return a->engine_device_memory_size(e, out, err);
}
trtshim_status trtgo_context_create(const trtshim_api* a, trtshim_engine* e, int32_t user, trtshim_context** out, trtshim_err* err) {
  return a->context_create(e, user, out, err);
}
void trtgo_context_free(const trtshim_api* a, trtshim_context* c) { a->context_free(c); }
trtshim_status trtgo_context_set_device_memory(const trtshim_api* a, trtshim_context* c, uintptr_t mem, int64_t size, trtshim_err* err) {
  return a->context_set_device_memory(c, (void*)mem, size, err);
}
trtshim_status trtgo_context_set_profile(const trtshim_api* a, trtshim_context* c, int32_t p, uintptr_t stream, trtshim_err* err) {
  return a->context_set_profile(c, p, (void*)stream, err);
}
trtshim_status trtgo_context_set_input_shape(const trtshim_api* a, trtshim_context* c, const char* name, const trtshim_dims* d, trtshim_err* err) {
  return a->context_set_input_shape(c, name, d, err);
}
trtshim_status trtgo_context_tensor_shape(const trtshim_api* a, trtshim_context* c, const char* name, trtshim_dims* out, trtshim_err* err) {
  return a->context_tensor_shape(c, name, out, err);
}
trtshim_status trtgo_context_set_tensor_address(const trtshim_api* a, trtshim_context* c, const char* name, uintptr_t addr, trtshim_err* err) {
  return a->context_set_tensor_address(c, name, (void*)addr, err);
}
trtshim_status trtgo_context_set_input_consumed_event(const trtshim_api* a, trtshim_context* c, uintptr_t ev, trtshim_err* err) {
  return a->context_set_input_consumed_event(c, (void*)ev, err);
}
trtshim_status trtgo_context_enqueue(const trtshim_api* a, trtshim_context* c, uintptr_t stream, trtshim_err* err) {
  return a->context_enqueue(c, (void*)stream, err);
}
