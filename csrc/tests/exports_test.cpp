// Both libraries are loaded by the Go binding with dlopen + dlsym of every
// trtshim_* function, and refused when one is missing or the ABI differs.
// This test does the same for whichever libraries this build produced: the
// fake (TRTSHIM_FAKE_LIB) and, where TensorRT's libraries exist, the real
// shim (TRTSHIM_REAL_LIB). The function list is read from trtshim.h itself
// (TRTSHIM_HEADER), so adding a function to the header without implementing
// it fails here. Loading the real shim needs TensorRT's libraries but no GPU.
#include <dlfcn.h>
#include <gtest/gtest.h>

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
  EXPECT_EQ(info.fake, want_fake);
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
