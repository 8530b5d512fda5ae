/*
 * stub_tensorrt.c — stand-ins for TensorRT's libraries in loader_test.cpp,
 * built three ways (CMakeLists.txt): libnvinfer.so.N (STUB_NVINFER),
 * libnvonnxparser.so.N (STUB_PARSER) and libnvinfer_plugin.so.N
 * (STUB_PLUGIN). They export only the extern "C" entry points the shim
 * resolves, so the shim's loader (which library is which kind, companions
 * found beside it, plugins initialised once) is tested where TensorRT is
 * not. The create functions are never called by those tests and return
 * NULL. Not TensorRT and never shipped.
 */
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

#if defined(STUB_NVINFER)
EXPORT int32_t getInferLibVersion(void) { return STUB_VERSION; }
EXPORT void* createInferRuntime_INTERNAL(void* logger, int32_t version) {
  (void)logger;
  (void)version;
  return 0;
}
EXPORT void* createInferBuilder_INTERNAL(void* logger, int32_t version) {
  (void)logger;
  (void)version;
  return 0;
}
#elif defined(STUB_PARSER)
EXPORT int getNvOnnxParserVersion(void) { return STUB_VERSION; }
EXPORT void* createNvOnnxParser_INTERNAL(void* network, void* logger, int version) {
  (void)network;
  (void)logger;
  (void)version;
  return 0;
}
#elif defined(STUB_PLUGIN)
static int g_calls;
/* The shim calls it with its logger and the empty namespace. */
EXPORT _Bool initLibNvInferPlugins(void* logger, const char* ns) {
  ++g_calls;
  return logger != 0 && ns != 0 && ns[0] == '\0';
}
EXPORT int stub_plugin_init_calls(void) { return g_calls; }
#else
#error "define STUB_NVINFER, STUB_PARSER or STUB_PLUGIN"
#endif
