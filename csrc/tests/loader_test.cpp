// loader_test.cpp — the real shim's TensorRT loader (trtshim_init) against
// stand-ins for TensorRT's libraries (csrc/tests/stubs, built by CMake with
// the entry points TensorRT exports and nothing else): which kind a library
// is, the ONNX parser and plugin library found beside it, plugins
// initialised exactly once (issue 15, defect 8: they never were), builds
// refused without a parser. The real runtimes: scripts/shim-real-check.sh.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "trtshim.h"

namespace {

const std::string kStubs = TRTSHIM_STUB_DIR;
const std::string kSuffix = ".so." + std::to_string(TRTSHIM_STUB_MAJOR);

// A private copy of libtrtshim.so: trtshim_init is process-wide per loaded
// library and each test wants a first init of its own.
struct Shim {
  void* h = nullptr;
  std::string dir, path;
  decltype(trtshim_api::init) init = nullptr;
  decltype(trtshim_api::get_info) get_info = nullptr;
  decltype(trtshim_api::build) build = nullptr;
  Shim() {
    char tmpl[] = "/tmp/trtshim-loader-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir = tmpl;
    path = dir + "/libtrtshim.so";
    {
      std::ifstream in(TRTSHIM_REAL_LIB, std::ios::binary);
      std::ofstream out(path, std::ios::binary);
      out << in.rdbuf();
    }
    h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return;
    auto get_api = reinterpret_cast<trtshim_get_api_fn>(dlsym(h, "trtshim_get_api"));
    const trtshim_api* api = get_api ? get_api(TRTSHIM_ABI_VERSION) : nullptr;
    if (api == nullptr) return;
    init = api->init;
    get_info = api->get_info;
    build = api->build;
  }
  ~Shim() {
    std::remove(path.c_str());
    std::remove(dir.c_str());
  }
};

int PluginInitCalls() {
  // The shim opened this file by path; RTLD_NOLOAD finds that same copy.
  void* h = dlopen((kStubs + "/all/libnvinfer_plugin" + kSuffix).c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return -1;
  auto calls = reinterpret_cast<int (*)()>(dlsym(h, "stub_plugin_init_calls"));
  int n = calls ? calls() : -2;
  dlclose(h);
  return n;
}

TEST(Loader, FullLibraryWithParserAndPlugins) {
  Shim s;
  ASSERT_NE(s.h, nullptr) << dlerror();
  EXPECT_EQ(PluginInitCalls(), -1) << "loaded before init";
  const std::string lib = kStubs + "/all/libnvinfer" + kSuffix;
  trtshim_init_options o{lib.c_str(), 0};
  trtshim_err err{};
  ASSERT_EQ(s.init(&o, &err), TRTSHIM_OK) << err.msg;
  EXPECT_EQ(PluginInitCalls(), 1);
  ASSERT_EQ(s.init(&o, &err), TRTSHIM_OK) << err.msg;
  EXPECT_EQ(PluginInitCalls(), 1) << "initLibNvInferPlugins must run once";

  trtshim_info info{};
  ASSERT_EQ(s.get_info(&info, &err), TRTSHIM_OK);
  EXPECT_EQ(info.runtime_kind, TRTSHIM_RUNTIME_FULL);
  EXPECT_EQ(info.can_build, 1);
  EXPECT_EQ(info.plugins, 1);
  EXPECT_EQ(info.allow_engine_host_code, 0);
  EXPECT_EQ(info.trt_runtime / 10000, TRTSHIM_STUB_MAJOR);
  EXPECT_EQ(info.onnx_parser, info.trt_runtime);
  EXPECT_EQ(std::string(info.tensorrt_path), lib);
  EXPECT_NE(std::string(info.description).find("full runtime"), std::string::npos) << info.description;
}

TEST(Loader, FullLibraryAloneCannotBuild) {
  Shim s;
  ASSERT_NE(s.h, nullptr) << dlerror();
  const std::string lib = kStubs + "/alone/libnvinfer" + kSuffix;
  trtshim_init_options o{lib.c_str(), 1};
  trtshim_err err{};
  ASSERT_EQ(s.init(&o, &err), TRTSHIM_OK) << err.msg;
  trtshim_info info{};
  ASSERT_EQ(s.get_info(&info, &err), TRTSHIM_OK);
  EXPECT_EQ(info.runtime_kind, TRTSHIM_RUNTIME_FULL);
  EXPECT_EQ(info.can_build, 0);
  EXPECT_EQ(info.plugins, 0);
  EXPECT_EQ(info.onnx_parser, 0);
  trtshim_build_options bo{};
  bo.optimization_level = -1;
  const char onnx[] = "x";
  trtshim_blob plan{nullptr, 0};
  EXPECT_EQ(s.build(onnx, 1, nullptr, &bo, &plan, nullptr, &err), TRTSHIM_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(err.msg).find("no ONNX parser"), std::string::npos) << err.msg;
}

TEST(Loader, NotTensorRT) {
  Shim s;
  ASSERT_NE(s.h, nullptr) << dlerror();
  // The parser stub is a library, but not a TensorRT runtime.
  const std::string lib = kStubs + "/all/libnvonnxparser" + kSuffix;
  trtshim_init_options o{lib.c_str(), 1};
  trtshim_err err{};
  EXPECT_EQ(s.init(&o, &err), TRTSHIM_ERR_NO_TENSORRT);
  EXPECT_NE(std::string(err.msg).find("not a TensorRT runtime library"), std::string::npos) << err.msg;
}

}  // namespace

// The shim talks to TensorRT through its headers' interface tables: another
// major, or an older minor than the headers, is refused with both versions
// named instead of crashing later (a newer minor is fine: shim-real-check
// runs the 11.1 headers on the 11.4 runtime).
TEST(Loader, VersionRules) {
  for (const char* dir : {"nextmajor", "olderminor"}) {
    Shim s;
    ASSERT_NE(s.h, nullptr) << dlerror();
    const std::string lib = kStubs + "/" + dir + "/libnvinfer" + kSuffix;
    trtshim_init_options o{lib.c_str(), 1};
    trtshim_err err{};
    EXPECT_EQ(s.init(&o, &err), TRTSHIM_ERR_NO_TENSORRT) << dir;
    EXPECT_NE(std::string(err.msg).find(lib + " is TensorRT "), std::string::npos) << err.msg;
    EXPECT_NE(std::string(err.msg).find("headers"), std::string::npos) << err.msg;
    trtshim_info info{};
    ASSERT_EQ(s.get_info(&info, &err), TRTSHIM_OK);
    EXPECT_EQ(info.runtime_kind, TRTSHIM_RUNTIME_NONE) << dir;
  }
}
