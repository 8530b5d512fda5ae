// Both libraries are loaded by the Go binding with dlopen + dlsym of every
// trtshim_* function, and refused when one is missing or the ABI differs.
// This test does the same for whichever libraries this build produced: the
// fake (TRTSHIM_FAKE_LIB) and, where TensorRT's libraries exist, the real
// shim (TRTSHIM_REAL_LIB). The function list is read from trtshim.h itself
// (TRTSHIM_HEADER), so adding a function to the header without implementing
// it fails here. Loading the real shim needs TensorRT's libraries but no GPU.
#include <dlfcn.h>
#include <stdlib.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "trtshim.h"

namespace {

std::set<std::string> HeaderFunctions() {
  std::ifstream f(TRTSHIM_HEADER);
  std::stringstream ss;
  ss << f.rdbuf();
  // Comments mention types ("returns a trtshim_status (TRTSHIM_OK = 0)"):
  // read declarations only.
  // (A loop, not std::regex: libstdc++'s regex recurses per character and
  // long comment blocks could exhaust the stack.)
  const std::string raw = ss.str();
  std::string text;
  for (size_t i = 0; i < raw.size();) {
    if (raw.compare(i, 2, "/*") == 0) {
      size_t end = raw.find("*/", i + 2);
      i = end == std::string::npos ? raw.size() : end + 2;
      text += ' ';
    } else {
      text += raw[i++];
    }
  }
  std::set<std::string> names;
  // "trtshim_status trtshim_build(" / "void trtshim_blob_free(": an
  // identifier directly followed by '('; typedef'd pointer types are written
  // "(*trtshim_log_fn)(" and do not match.
  std::regex fn(R"(\b(trtshim_[a-z0-9_]+)\s*\()");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), fn); it != std::sregex_iterator(); ++it)
    names.insert((*it)[1].str());
  return names;
}

void CheckLibrary(const char* path, int32_t want_fake) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  std::set<std::string> names = HeaderFunctions();
  ASSERT_GE(names.size(), 20u) << "could not read the function list from " << TRTSHIM_HEADER;
  for (const std::string& n : names) EXPECT_NE(dlsym(h, n.c_str()), nullptr) << path << " lacks " << n;

  auto abi = reinterpret_cast<int32_t (*)(void)>(dlsym(h, "trtshim_abi_version"));
  ASSERT_NE(abi, nullptr);
  EXPECT_EQ(abi(), TRTSHIM_ABI_VERSION);

  auto info_fn = reinterpret_cast<trtshim_status (*)(trtshim_info*, trtshim_err*)>(dlsym(h, "trtshim_get_info"));
  ASSERT_NE(info_fn, nullptr);
  trtshim_info info{};
  trtshim_err err{};
  ASSERT_EQ(info_fn(&info, &err), TRTSHIM_OK) << err.msg;
  EXPECT_EQ(info.abi_version, TRTSHIM_ABI_VERSION);
  EXPECT_EQ(info.needs_cuda_device, want_fake ? 0 : 1);
  EXPECT_EQ(std::string(info.notice).empty(), want_fake == 0) << info.notice;
  EXPECT_NE(std::string(info.description), "");
  // NULL out: an argument error with a message, never a crash.
  EXPECT_EQ(info_fn(nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(err.code, TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(err.msg), "");
  if (!want_fake) {
    EXPECT_GE(info.trt_major, 10);
  }
  dlclose(h);
}

}  // namespace

TEST(Exports, HeaderListIsComplete) {
  std::set<std::string> names = HeaderFunctions();
  for (const char* n : {"trtshim_abi_version", "trtshim_get_info", "trtshim_set_logger", "trtshim_build",
                        "trtshim_blob_free", "trtshim_engine_load", "trtshim_context_enqueue"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_FALSE(names.count("trtshim_log_fn"));
  EXPECT_FALSE(names.count("trtshim_progress_fn"));
}

TEST(Exports, FakeLibrary) {
#ifdef TRTSHIM_FAKE_LIB
  CheckLibrary(TRTSHIM_FAKE_LIB, 1);
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
  auto get_info = reinterpret_cast<decltype(&trtshim_get_info)>(dlsym(h, "trtshim_get_info"));
  auto set_logger = reinterpret_cast<decltype(&trtshim_set_logger)>(dlsym(h, "trtshim_set_logger"));
  auto build = reinterpret_cast<decltype(&trtshim_build)>(dlsym(h, "trtshim_build"));
  auto load = reinterpret_cast<decltype(&trtshim_engine_load)>(dlsym(h, "trtshim_engine_load"));
  auto blob_free = reinterpret_cast<decltype(&trtshim_blob_free)>(dlsym(h, "trtshim_blob_free"));
  auto engine_free = reinterpret_cast<decltype(&trtshim_engine_free)>(dlsym(h, "trtshim_engine_free"));
  auto context_free = reinterpret_cast<decltype(&trtshim_context_free)>(dlsym(h, "trtshim_context_free"));
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
  CheckLibrary(TRTSHIM_REAL_LIB, 0);
#else
  GTEST_SKIP() << "libtrtshim.so not built (no TensorRT libraries)";
#endif
}

// ---- the real shim and TensorRT opened at run time (issue 15) --------------

namespace {

struct RealShim {
  void* h = nullptr;
  decltype(&trtshim_init) init = nullptr;
  decltype(&trtshim_get_info) get_info = nullptr;
  decltype(&trtshim_engine_load) load = nullptr;
  decltype(&trtshim_build) build = nullptr;
  decltype(&trtshim_engine_free) engine_free = nullptr;
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
    init = reinterpret_cast<decltype(init)>(dlsym(h, "trtshim_init"));
    get_info = reinterpret_cast<decltype(get_info)>(dlsym(h, "trtshim_get_info"));
    load = reinterpret_cast<decltype(load)>(dlsym(h, "trtshim_engine_load"));
    build = reinterpret_cast<decltype(build)>(dlsym(h, "trtshim_build"));
    engine_free = reinterpret_cast<decltype(engine_free)>(dlsym(h, "trtshim_engine_free"));
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
