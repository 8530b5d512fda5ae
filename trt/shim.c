// The dlopen side of the trt binding: see shim_go.h.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim_go.h"

// Exported by Go (log.go, build.go).
extern void trtgoLog(uintptr_t user, int32_t severity, char* msg);
extern int32_t trtgoProgress(uintptr_t user, int32_t event, char* phase, char* parent, int32_t n);

static void log_cb(uintptr_t user, int32_t severity, const char* msg) { trtgoLog(user, severity, (char*)msg); }
static int32_t progress_cb(uintptr_t user, int32_t event, const char* phase, const char* parent, int32_t n) {
  return trtgoProgress(user, event, (char*)phase, (char*)parent, n);
}

#define SYM(field, name)                                                        \
  do {                                                                          \
    *(void**)(&a->field) = dlsym(dl, name);                                     \
    if (!a->field) {                                                            \
      snprintf(err, errlen, "%s: missing symbol %s (not a trtshim library?)", path, name); \
      goto fail;                                                                \
    }                                                                           \
  } while (0)

trtgo_api* trtgo_open(const char* path, char* err, size_t errlen) {
  // RTLD_LOCAL: TensorRT's own symbols stay out of the process namespace.
  void* dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char* e = dlerror();
    snprintf(err, errlen, "%s", e ? e : "dlopen failed");
    return NULL;
  }
  trtgo_api* a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(err, errlen, "out of memory");
    dlclose(dl);
    return NULL;
  }
  a->dl = dl;
  SYM(abi_version, "trtshim_abi_version");
  // Before the other symbols: a shim of another ABI may lack some, and the
  // useful message is the version, not the missing name.
  if (a->abi_version() != TRTSHIM_ABI_VERSION) {
    snprintf(err, errlen, "%s: shim ABI version %d, this trtserve needs %d (rebuild the shim from this source tree)",
             path, (int)a->abi_version(), TRTSHIM_ABI_VERSION);
    goto fail;
  }
  SYM(init, "trtshim_init");
  SYM(get_info, "trtshim_get_info");
  SYM(set_logger, "trtshim_set_logger");
  SYM(build, "trtshim_build");
  SYM(blob_free, "trtshim_blob_free");
  SYM(engine_load, "trtshim_engine_load");
  SYM(engine_free, "trtshim_engine_free");
  SYM(engine_io_count, "trtshim_engine_io_count");
  SYM(engine_io_info, "trtshim_engine_io_info");
  SYM(engine_profile_count, "trtshim_engine_profile_count");
  SYM(engine_device_memory_size, "trtshim_engine_device_memory_size");
  SYM(context_create, "trtshim_context_create");
  SYM(context_free, "trtshim_context_free");
  SYM(context_set_device_memory, "trtshim_context_set_device_memory");
  SYM(context_set_profile, "trtshim_context_set_profile");
  SYM(context_set_input_shape, "trtshim_context_set_input_shape");
  SYM(context_tensor_shape, "trtshim_context_tensor_shape");
  SYM(context_set_tensor_address, "trtshim_context_set_tensor_address");
  SYM(context_set_input_consumed_event, "trtshim_context_set_input_consumed_event");
  SYM(context_enqueue, "trtshim_context_enqueue");
  return a;
fail:
  dlclose(dl);
  free(a);
  return NULL;
}

int32_t trtgo_abi_version(trtgo_api* a) { return a->abi_version(); }
trtshim_status trtgo_init(trtgo_api* a, const char* tensorrt_lib, int32_t allow_host_code, trtshim_err* err) {
  trtshim_init_options o = {tensorrt_lib, allow_host_code};
  return a->init(&o, err);
}
trtshim_status trtgo_get_info(trtgo_api* a, trtshim_info* out, trtshim_err* err) { return a->get_info(out, err); }
trtshim_status trtgo_set_logger(trtgo_api* a, int enable, uintptr_t user, int32_t max_severity, trtshim_err* err) {
  return a->set_logger(enable ? log_cb : NULL, user, max_severity, err);
}
trtshim_status trtgo_build(trtgo_api* a, const void* onnx, size_t len, const char* dir, trtshim_build_options* o,
                           int progress, trtshim_blob* plan, trtshim_blob* tc, trtshim_err* err) {
  if (progress) o->progress = progress_cb;
  return a->build(onnx, len, dir, o, plan, tc, err);
}
void trtgo_blob_free(trtgo_api* a, trtshim_blob* b) { a->blob_free(b); }
trtshim_status trtgo_engine_load(trtgo_api* a, const void* plan, size_t len, trtshim_engine** out, trtshim_err* err) {
  return a->engine_load(plan, len, out, err);
}
void trtgo_engine_free(trtgo_api* a, trtshim_engine* e) { a->engine_free(e); }
trtshim_status trtgo_engine_io_count(trtgo_api* a, trtshim_engine* e, int32_t* out, trtshim_err* err) {
  return a->engine_io_count(e, out, err);
}
trtshim_status trtgo_engine_io_info(trtgo_api* a, trtshim_engine* e, int32_t i, trtshim_io_info* out, trtshim_err* err) {
  return a->engine_io_info(e, i, out, err);
}
trtshim_status trtgo_engine_profile_count(trtgo_api* a, trtshim_engine* e, int32_t* out, trtshim_err* err) {
  return a->engine_profile_count(e, out, err);
}
trtshim_status trtgo_engine_device_memory_size(trtgo_api* a, trtshim_engine* e, int64_t* out, trtshim_err* err) {
  return a->engine_device_memory_size(e, out, err);
}
trtshim_status trtgo_context_create(trtgo_api* a, trtshim_engine* e, int32_t user, trtshim_context** out, trtshim_err* err) {
  return a->context_create(e, user, out, err);
}
void trtgo_context_free(trtgo_api* a, trtshim_context* c) { a->context_free(c); }
trtshim_status trtgo_context_set_device_memory(trtgo_api* a, trtshim_context* c, uintptr_t mem, int64_t size, trtshim_err* err) {
  return a->context_set_device_memory(c, (void*)mem, size, err);
}
trtshim_status trtgo_context_set_profile(trtgo_api* a, trtshim_context* c, int32_t p, uintptr_t stream, trtshim_err* err) {
  return a->context_set_profile(c, p, (void*)stream, err);
}
trtshim_status trtgo_context_set_input_shape(trtgo_api* a, trtshim_context* c, const char* name, const trtshim_dims* d, trtshim_err* err) {
  return a->context_set_input_shape(c, name, d, err);
}
trtshim_status trtgo_context_tensor_shape(trtgo_api* a, trtshim_context* c, const char* name, trtshim_dims* out, trtshim_err* err) {
  return a->context_tensor_shape(c, name, out, err);
}
trtshim_status trtgo_context_set_tensor_address(trtgo_api* a, trtshim_context* c, const char* name, uintptr_t addr, trtshim_err* err) {
  return a->context_set_tensor_address(c, name, (void*)addr, err);
}
trtshim_status trtgo_context_set_input_consumed_event(trtgo_api* a, trtshim_context* c, uintptr_t ev, trtshim_err* err) {
  return a->context_set_input_consumed_event(c, (void*)ev, err);
}
trtshim_status trtgo_context_enqueue(trtgo_api* a, trtshim_context* c, uintptr_t stream, trtshim_err* err) {
  return a->context_enqueue(c, (void*)stream, err);
}
