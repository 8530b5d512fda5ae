// Both libraries are loaded by the Go binding with dlopen, one dlsym (of
// trtshim_get_api) and the table of calls it returns, and refused when the
// symbol is missing or the table is not of this ABI. This test does the same
// for whichever libraries this build produced: the fake (TRTSHIM_FAKE_LIB)
// and, where TensorRT's libraries exist, the real shim (TRTSHIM_REAL_LIB).
// The list of calls is read from trtshim.h itself (TRTSHIM_HEADER), so a
// field added to struct trtshim_api that a library leaves NULL fails here,
// as does a library exporting a call by name. Loading the real shim needs
// TensorRT's libraries but no GPU.
#include <dlfcn.h>
#include <stdlib.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "trtshim.h"

namespace {

// TableFields are the field names of struct trtshim_api, in order.
std::vector<std::string> TableFields() {
  std::ifstream f(TRTSHIM_HEADER);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string raw = ss.str();
  const size_t begin = raw.find("typedef struct trtshim_api {");
  const size_t end = raw.find("} trtshim_api;", begin);
  if (begin == std::string::npos || end == std::string::npos) return {};
  // Comments mention calls ("trtshim_init failed"): read declarations only.
  // (A loop, not std::regex: libstdc++'s regex recurses per character and
  // long comment blocks could exhaust the stack.)
  std::string text;
  for (size_t i = begin; i < end;) {
    if (raw.compare(i, 2, "/*") == 0) {
      size_t close = raw.find("*/", i + 2);
      i = close == std::string::npos ? end : close + 2;
      text += ' ';
    } else {
      text += raw[i++];
    }
  }
  std::vector<std::string> names;
  // "trtshim_status (*init)(": a field is a pointer to function.
  std::regex field(R"(\(\*\s*([a-z0-9_]+)\s*\)\s*\()");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), field); it != std::sregex_iterator(); ++it)
    names.push_back((*it)[1].str());
  return names;
}

const trtshim_api* GetAPI(void* h, uint32_t abi) {
  auto get_api = reinterpret_cast<trtshim_get_api_fn>(dlsym(h, "trtshim_get_api"));
  return get_api ? get_api(abi) : nullptr;
}

void CheckLibrary(const char* path, bool fake) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  ASSERT_NE(dlsym(h, "trtshim_get_api"), nullptr) << path << " does not export trtshim_get_api";
  const trtshim_api* api = GetAPI(h, TRTSHIM_ABI_VERSION);
  ASSERT_NE(api, nullptr) << path << " has no table for ABI " << TRTSHIM_ABI_VERSION;
  EXPECT_EQ(GetAPI(h, TRTSHIM_ABI_VERSION - 1), nullptr);
  EXPECT_EQ(GetAPI(h, TRTSHIM_ABI_VERSION + 1), nullptr);
  EXPECT_EQ(GetAPI(h, 0), nullptr);

  std::vector<std::string> names = TableFields();
  ASSERT_GE(names.size(), 20u) << "could not read struct trtshim_api from " << TRTSHIM_HEADER;
  // Every field is a function pointer: the header's list and the struct agree.
  using any_fn = void (*)(void);
  ASSERT_EQ(names.size() * sizeof(any_fn), sizeof(trtshim_api));
  any_fn entries[sizeof(trtshim_api) / sizeof(any_fn)];
  std::memcpy(entries, api, sizeof entries);
  for (size_t i = 0; i < names.size(); i++) {
    EXPECT_NE(entries[i], nullptr) << path << " leaves " << names[i] << " NULL";
    // The calls are reached through the table only.
    EXPECT_EQ(dlsym(h, ("trtshim_" + names[i]).c_str()), nullptr) << path << " exports trtshim_" << names[i];
  }
  EXPECT_EQ(dlsym(h, "trtshim_abi_version"), nullptr) << path << " still exports the ABI 2 version call";

  trtshim_info info{};
  trtshim_err err{};
  ASSERT_EQ(api->get_info(&info, &err), TRTSHIM_OK) << err.msg;
  EXPECT_EQ(info.abi_version, TRTSHIM_ABI_VERSION);
  EXPECT_EQ(info.needs_cuda_device, fake ? 0 : 1);
  EXPECT_EQ(std::string(info.notice).empty(), !fake) << info.notice;
  EXPECT_NE(std::string(info.description), "");
  // NULL out: an argument error with a message, never a crash.
  EXPECT_EQ(api->get_info(nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(err.code, TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(err.msg), "");
  if (!fake) {
    EXPECT_GE(info.trt_major, 10);
  }
  dlclose(h);
}

}  // namespace

TEST(Exports, HeaderTableIsRead) {
  std::vector<std::string> names = TableFields();
  ASSERT_FALSE(names.empty()) << "could not read struct trtshim_api from " << TRTSHIM_HEADER;
  for (const char* n : {"init", "get_info", "set_logger", "build", "blob_free", "engine_load", "context_enqueue"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_EQ(names.front(), "init");
}

TEST(Exports, FakeLibrary) {
#ifdef TRTSHIM_FAKE_LIB
  CheckLibrary(TRTSHIM_FAKE_LIB, true);
#else
  GTEST_SKIP() << "csrc/fake/trtshim_fake.c not built";
#endif
}

// The real shim's checks that run before any TensorRT call (so they hold
// on machines with TensorRT's libraries but no GPU).
TEST(Exports, RealLibraryRejectsBadArguments) {
#ifdef TRTSHIM_REAL_LIB
  void* h = dlopen(TRTSHIM_REAL_LIB, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  const trtshim_api* api = GetAPI(h, TRTSHIM_ABI_VERSION);
  ASSERT_NE(api, nullptr);
  auto get_info = api->get_info;
  auto set_logger = api->set_logger;
  auto build = api->build;
  auto load = api->engine_load;
  auto blob_free = api->blob_free;
  auto engine_free = api->engine_free;
  auto context_free = api->context_free;
  ASSERT_TRUE(get_info && set_logger && build && load && blob_free && engine_free && context_free);

  trtshim_err err{};
  auto logfn = [](uintptr_t, int32_t, const char*) {};
  EXPECT_EQ(set_logger(logfn, 0, 7, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(set_logger(logfn, 0, TRTSHIM_LOG_VERBOSE, &err), TRTSHIM_OK);
  EXPECT_EQ(set_logger(nullptr, 0, 99, &err), TRTSHIM_OK);  // back to the default; severity ignored

  trtshim_build_options o{};
  o.optimization_level = -1;
  const char onnx[] = "x";
  trtshim_blob plan{nullptr, 0};
  EXPECT_EQ(build(nullptr, 0, nullptr, &o, &plan, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(build(onnx, 1, nullptr, nullptr, &plan, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(build(onnx, 1, nullptr, &o, nullptr, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o.optimization_level = 9;
  EXPECT_EQ(build(onnx, 1, nullptr, &o, &plan, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(err.msg).find("optimization_level"), std::string::npos) << err.msg;
  o.optimization_level = -1;
  trtshim_profile_dim p{};
  p.name = "x";
  p.min.nb = p.opt.nb = p.max.nb = 1;
  p.min.d[0] = 4;
  p.opt.d[0] = 2;
  p.max.d[0] = 8;
  o.profile = &p;
  o.nb_profile = 1;
  EXPECT_EQ(build(onnx, 1, nullptr, &o, &plan, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(err.msg).find("min <= opt <= max"), std::string::npos) << err.msg;
  o.profile = nullptr;
  o.nb_profile = 0;
  EXPECT_EQ(plan.data, nullptr);  // out-params untouched on failure

  trtshim_info info{};
  ASSERT_EQ(get_info(&info, &err), TRTSHIM_OK);
  if (info.trt_major >= 11) {
    for (int32_t prec : {TRTSHIM_PRECISION_FP16, TRTSHIM_PRECISION_BF16, TRTSHIM_PRECISION_INT8}) {
      o.precision = prec;
      EXPECT_EQ(build(onnx, 1, nullptr, &o, &plan, nullptr, &err), TRTSHIM_ERR_UNSUPPORTED) << prec;
      EXPECT_NE(std::string(err.msg).find("modelopt.onnx.autocast"), std::string::npos) << err.msg;
    }
  }

  trtshim_engine* e = nullptr;
  EXPECT_EQ(load(nullptr, 0, &e, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(load(onnx, 1, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(e, nullptr);
  blob_free(nullptr);
  engine_free(nullptr);
  context_free(nullptr);
  dlclose(h);
#else
  GTEST_SKIP() << "libtrtshim.so not built (no TensorRT libraries)";
#endif
}

TEST(Exports, RealLibrary) {
#ifdef TRTSHIM_REAL_LIB
  CheckLibrary(TRTSHIM_REAL_LIB, false);
#else
  GTEST_SKIP() << "libtrtshim.so not built (no TensorRT libraries)";
#endif
}

// ---- the real shim and TensorRT opened at run time (issue 15) --------------

namespace {

struct RealShim {
  void* h = nullptr;
  decltype(trtshim_api::init) init = nullptr;
  decltype(trtshim_api::get_info) get_info = nullptr;
  decltype(trtshim_api::engine_load) load = nullptr;
  decltype(trtshim_api::build) build = nullptr;
  decltype(trtshim_api::engine_free) engine_free = nullptr;
  // A private copy: trtshim_init is process-wide per loaded library, and
  // each test here wants its own first init.
  explicit RealShim(const std::string& src) {
    char dir[] = "/tmp/trtshim-test-XXXXXX";
    if (mkdtemp(dir) == nullptr) return;
    path = std::string(dir) + "/libtrtshim.so";
    std::ifstream in(src, std::ios::binary);
    std::ofstream out(path, std::ios::binary);
    out << in.rdbuf();
    out.close();
    h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return;
    const trtshim_api* api = GetAPI(h, TRTSHIM_ABI_VERSION);
    if (api == nullptr) return;
    init = api->init;
    get_info = api->get_info;
    load = api->engine_load;
    build = api->build;
    engine_free = api->engine_free;
  }
  ~RealShim() {
    // Not dlclosed: TensorRT, once opened, stays (as in trtserve).
    if (!path.empty()) {
      std::remove(path.c_str());
      std::remove(path.substr(0, path.rfind('/')).c_str());
    }
  }
  std::string path;
};

}  // namespace

// Without a TensorRT library (here: none named, or a wrong name) the shim
// loads, reports its headers, and says clearly why it cannot work.
TEST(Exports, RealLibraryWithoutTensorRT) {
#ifdef TRTSHIM_REAL_LIB
  RealShim s(TRTSHIM_REAL_LIB);
  ASSERT_NE(s.h, nullptr) << dlerror();
  ASSERT_TRUE(s.init && s.get_info && s.load && s.build);
  trtshim_err err{};
  trtshim_info info{};
  ASSERT_EQ(s.get_info(&info, &err), TRTSHIM_OK) << err.msg;
  EXPECT_EQ(info.runtime_kind, TRTSHIM_RUNTIME_NONE);
  EXPECT_EQ(info.trt_runtime, 0);
  EXPECT_GE(info.trt_major, 10);

  // Calls that need TensorRT before init: NO_TENSORRT, not a crash.
  const char junk[] = "junk";
  trtshim_engine* e = nullptr;
  EXPECT_EQ(s.load(junk, sizeof junk, &e, &err), TRTSHIM_ERR_NO_TENSORRT);
  EXPECT_NE(std::string(err.msg).find("trtshim_init"), std::string::npos) << err.msg;

  trtshim_init_options o{};
  o.allow_engine_host_code = 2;
  EXPECT_EQ(s.init(&o, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(s.init(nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o.allow_engine_host_code = 1;
  o.tensorrt_lib = "/nonexistent/libnvinfer.so.10";
  EXPECT_EQ(s.init(&o, &err), TRTSHIM_ERR_NO_TENSORRT);
  EXPECT_NE(std::string(err.msg).find("/nonexistent/libnvinfer.so.10"), std::string::npos) << err.msg;
  EXPECT_NE(std::string(err.msg).find("--tensorrt-lib"), std::string::npos) << err.msg;
  // A library that is not TensorRT.
  o.tensorrt_lib = "libc.so.6";
  EXPECT_EQ(s.init(&o, &err), TRTSHIM_ERR_NO_TENSORRT);
  EXPECT_NE(std::string(err.msg).find("not a TensorRT runtime library"), std::string::npos) << err.msg;
  // A failed init leaves the shim unloaded (and may be retried).
  ASSERT_EQ(s.get_info(&info, &err), TRTSHIM_OK);
  EXPECT_EQ(info.runtime_kind, TRTSHIM_RUNTIME_NONE);
#else
  GTEST_SKIP() << "libtrtshim.so not built (no TensorRT headers)";
#endif
}

// Against a real TensorRT library, named by the environment (make
// shim-real-check sets them; elsewhere the test says it skips):
//   TRTSHIM_TEST_TENSORRT_LIB   the library to open
//   TRTSHIM_TEST_TENSORRT_KIND  1 full, 2 lean, 3 dispatch (TRTSHIM_RUNTIME_*)
//   TRTSHIM_TEST_GPU=1          a usable GPU is present
TEST(RealRuntime, LoadWithoutOrWithGPU) {
#ifdef TRTSHIM_REAL_LIB
  const char* lib = std::getenv("TRTSHIM_TEST_TENSORRT_LIB");
  const char* kind = std::getenv("TRTSHIM_TEST_TENSORRT_KIND");
  if (lib == nullptr || kind == nullptr)
    GTEST_SKIP() << "set TRTSHIM_TEST_TENSORRT_LIB and TRTSHIM_TEST_TENSORRT_KIND (make shim-real-check does)";
  const bool gpu = std::getenv("TRTSHIM_TEST_GPU") != nullptr && std::string(std::getenv("TRTSHIM_TEST_GPU")) == "1";
  RealShim s(TRTSHIM_REAL_LIB);
  ASSERT_NE(s.h, nullptr) << dlerror();
  trtshim_err err{};
  trtshim_init_options o{lib, 1};
  ASSERT_EQ(s.init(&o, &err), TRTSHIM_OK) << err.msg;
  EXPECT_EQ(s.init(&o, &err), TRTSHIM_OK) << "same options again: " << err.msg;
  trtshim_init_options other{lib, 0};
  EXPECT_EQ(s.init(&other, &err), TRTSHIM_ERR_INVALID_ARGUMENT);

  trtshim_info info{};
  ASSERT_EQ(s.get_info(&info, &err), TRTSHIM_OK);
  std::printf("[ info     ] %s; library %s\n", info.description, info.tensorrt_path);
  EXPECT_EQ(info.runtime_kind, std::atoi(kind));
  EXPECT_EQ(info.trt_runtime / 10000, info.trt_major);
  if (info.runtime_kind != TRTSHIM_RUNTIME_FULL) {
    EXPECT_EQ(info.can_build, 0);
  }

  // Defect 1: without a GPU TensorRT logs "CUDA initialization failure" and
  // returns a bogus pointer; this used to segfault the process.
  const std::string junk = "definitely not a TensorRT plan";
  for (int i = 0; i < 2; ++i) {  // twice: the failure leaves nothing behind that breaks the next call
    trtshim_engine* e = nullptr;
    trtshim_status st = s.load(junk.data(), junk.size(), &e, &err);
    std::printf("[ load     ] status %d: %s\n", st, err.msg);
    EXPECT_EQ(e, nullptr);
    if (gpu) {
      EXPECT_EQ(st, TRTSHIM_ERR_DESERIALIZE) << err.msg;
      EXPECT_EQ(std::string(err.msg).find("(see the log)"), std::string::npos) << err.msg;
    } else {
      EXPECT_EQ(st, TRTSHIM_ERR_CUDA_INIT) << err.msg;
      EXPECT_NE(std::string(err.msg).find("CUDA initialization failure"), std::string::npos) << err.msg;
    }
  }
  if (info.runtime_kind != TRTSHIM_RUNTIME_FULL) {
    trtshim_build_options bo{};
    bo.optimization_level = -1;
    trtshim_blob plan{nullptr, 0};
    EXPECT_EQ(s.build(junk.data(), junk.size(), nullptr, &bo, &plan, nullptr, &err), TRTSHIM_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(err.msg).find("cannot build engines"), std::string::npos) << err.msg;
  }
#else
  GTEST_SKIP() << "libtrtshim.so not built (no TensorRT headers)";
#endif
}
