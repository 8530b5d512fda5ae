// fake_contract_test.cpp — the contract of csrc/fake/trtshim_fake.c, tested
// through trtshim.h only, its calls through the table trtshim_get_api
// returns (the spec is the fake's header comment).
//
// Direct build (what CMake does, by hand):
//   cc -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -Icsrc/include
//      csrc/fake/trtshim_fake.c -o /tmp/libtrtshim_fake.so -lpthread
//   g++ -std=c++17 -O1 -Wall -Wextra -Icsrc/include csrc/tests/fake_contract_test.cpp
//      /tmp/libtrtshim_fake.so -Wl,-rpath,/tmp -lgtest -lgtest_main -pthread -o /tmp/fake_test
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "trtshim.h"

namespace {

// Every call goes through the table, as trt/ calls the library.
const trtshim_api* const api = trtshim_get_api(TRTSHIM_ABI_VERSION);

// ---- helpers -----------------------------------------------------------------

struct Err {
  trtshim_err e;
  Err() { Reset(); }
  void Reset() {
    e.code = -12345;
    memset(e.msg, 'X', sizeof e.msg);  // so a missing NUL shows up
  }
  trtshim_err* operator&() { return &e; }
  std::string msg() const {
    EXPECT_NE(memchr(e.msg, '\0', sizeof e.msg), nullptr) << "message not NUL-terminated";
    return std::string(e.msg, strnlen(e.msg, sizeof e.msg));
  }
};

trtshim_dims D(std::initializer_list<int64_t> v) {
  trtshim_dims d{};
  d.nb = 0;
  for (int64_t x : v) d.d[d.nb++] = x;
  return d;
}

const char kPlan[] =
    "trtshim-fake-plan 1\n"
    "precision fp32\n"
    "input images FLOAT -1x3x4x4 min=1x3x4x4 opt=4x3x4x4 max=8x3x4x4\n"
    "output scores FLOAT -1x10\n"
    "output boxes FLOAT -1x2x3\n";

struct Engine {
  trtshim_engine* e = nullptr;
  explicit Engine(const std::string& plan) {
    Err err;
    trtshim_status st = api->engine_load(plan.data(), plan.size(), &e, &err);
    EXPECT_EQ(st, TRTSHIM_OK) << err.msg();
  }
  ~Engine() { api->engine_free(e); }
};

struct Context {
  trtshim_context* c = nullptr;
  Context(trtshim_engine* e, int32_t user_memory = 0) {
    Err err;
    EXPECT_EQ(api->context_create(e, user_memory, &c, &err), TRTSHIM_OK) << err.msg();
  }
  ~Context() { api->context_free(c); }
};

float Expected(int k, float m, int64_t j) { return (float)(k + 1) * m + (float)j * 0.001f; }

// Fills input images with batch B (values depend on seed), runs, checks the
// documented math on both outputs. Returns the status of enqueue.
void RunAndCheck(trtshim_context* c, int64_t B, float seed) {
  const int64_t in_item = 3 * 4 * 4;
  std::vector<float> in(B * in_item);
  for (int64_t i = 0; i < (int64_t)in.size(); i++) in[i] = seed + (float)((i * 7) % 13) * 0.25f;
  std::vector<float> scores(B * 10, -1.f), boxes(B * 6, -1.f);
  Err err;
  trtshim_dims sh = D({B, 3, 4, 4});
  ASSERT_EQ(api->context_set_input_shape(c, "images", &sh, &err), TRTSHIM_OK) << err.msg();
  trtshim_dims out{};
  ASSERT_EQ(api->context_tensor_shape(c, "scores", &out, &err), TRTSHIM_OK) << err.msg();
  ASSERT_EQ(out.nb, 2);
  EXPECT_EQ(out.d[0], B);
  EXPECT_EQ(out.d[1], 10);
  ASSERT_EQ(api->context_tensor_shape(c, "boxes", &out, &err), TRTSHIM_OK) << err.msg();
  ASSERT_EQ(out.nb, 3);
  EXPECT_EQ(out.d[0], B);
  ASSERT_EQ(api->context_set_tensor_address(c, "images", in.data(), &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(c, "scores", scores.data(), &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(c, "boxes", boxes.data(), &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_enqueue(c, nullptr, &err), TRTSHIM_OK) << err.msg();
  for (int64_t b = 0; b < B; b++) {
    double s = 0;
    for (int64_t j = 0; j < in_item; j++) s += in[b * in_item + j];
    float m = (float)(s / in_item);
    for (int64_t j = 0; j < 10; j++)
      ASSERT_NEAR(scores[b * 10 + j], Expected(0, m, j), 1e-5f * (1 + std::fabs(m)))
          << "b=" << b << " j=" << j;
    for (int64_t j = 0; j < 6; j++)
      ASSERT_NEAR(boxes[b * 6 + j], Expected(1, m, j), 1e-5f * (1 + std::fabs(m)))
          << "b=" << b << " j=" << j;
  }
}

// ---- a hand-made ONNX model (protobuf wire format) ---------------------------

struct PB {
  std::string b;
  PB& varint(uint64_t v) {
    while (v >= 0x80) {
      b.push_back((char)(v | 0x80));
      v >>= 7;
    }
    b.push_back((char)v);
    return *this;
  }
  PB& key(uint32_t f, uint32_t wt) { return varint((uint64_t)f << 3 | wt); }
  PB& u(uint32_t f, uint64_t v) { return key(f, 0).varint(v); }
  PB& s(uint32_t f, const std::string& x) {
    key(f, 2).varint(x.size());
    b += x;
    return *this;
  }
  PB& m(uint32_t f, const PB& x) { return s(f, x.b); }
};

// dims: >0 dim_value, -1 dim_param "N", -2 a Dimension with neither field.
PB ValueInfo(const std::string& name, int elem, std::vector<int64_t> dims) {
  PB shape;
  for (int64_t d : dims) {
    PB dim;
    if (d > 0) dim.u(1, (uint64_t)d);
    if (d == -1) dim.s(2, "N");
    shape.m(1, dim);
  }
  PB tensor;
  tensor.u(1, (uint64_t)elem).m(2, shape);
  PB type;
  type.m(1, tensor);
  PB vi;
  vi.s(1, name).m(2, type);
  return vi;
}

// A graph: input x [N,3,4] FLOAT, initializer w (also listed as an input, as
// older exporters do), outputs y [N,5] and z [-, 2] (dim without fields).
std::string SmallOnnx(std::vector<PB> extra_outputs = {}, bool with_z = true) {
  PB node;
  node.s(1, "x").s(2, "y").s(4, "Identity");
  PB init;
  init.u(1, 3).u(2, 1).s(8, "w").s(9, std::string(12, '\0'));
  PB graph;
  graph.m(1, node).s(2, "g").m(5, init);
  graph.m(11, ValueInfo("x", 1, {-1, 3, 4}));
  graph.m(11, ValueInfo("w", 1, {3}));
  graph.m(12, ValueInfo("y", 1, {-1, 5}));
  if (with_z) graph.m(12, ValueInfo("z", 1, {-2, 2}));
  for (auto& o : extra_outputs) graph.m(12, o);
  PB opset;
  opset.s(1, "").u(2, 17);
  PB model;
  model.u(1, 8).s(2, "test").m(7, graph).m(8, opset);
  return model.b;
}

trtshim_build_options DefaultOpts() {
  trtshim_build_options o{};
  o.precision = TRTSHIM_PRECISION_FP32;
  o.optimization_level = -1;
  return o;
}

std::string BlobStr(const trtshim_blob& b) { return std::string((const char*)b.data, b.len); }

// ---- library -------------------------------------------------------------------

TEST(FakeLibrary, InfoAndAbi) {
  EXPECT_NE(trtshim_get_api(TRTSHIM_ABI_VERSION), nullptr);
  EXPECT_EQ(trtshim_get_api(TRTSHIM_ABI_VERSION - 1), nullptr);
  EXPECT_EQ(trtshim_get_api(TRTSHIM_ABI_VERSION + 1), nullptr);
  EXPECT_EQ(trtshim_get_api(0), nullptr);
  trtshim_info info;
  memset(&info, 0x55, sizeof info);
  Err err;
  ASSERT_EQ(api->get_info(&info, &err), TRTSHIM_OK);
  EXPECT_EQ(info.abi_version, TRTSHIM_ABI_VERSION);
  EXPECT_EQ(info.needs_cuda_device, 0);
  EXPECT_NE(std::string(info.notice).find("FAKE"), std::string::npos) << info.notice;
  EXPECT_EQ(info.trt_major, 0);
  EXPECT_EQ(info.trt_minor, 0);
  EXPECT_EQ(info.trt_patch, 0);
  EXPECT_EQ(info.trt_runtime, 0);
  EXPECT_EQ(info.onnx_parser, 0);
  EXPECT_STREQ(info.description, "trtserve fake TensorRT shim: CPU math, not TensorRT");
  EXPECT_EQ(api->get_info(nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(err.e.code, TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(err.msg().empty());
  EXPECT_EQ(api->get_info(nullptr, nullptr), TRTSHIM_ERR_INVALID_ARGUMENT);  // err may be NULL
}

std::mutex g_log_mu;
std::vector<std::pair<int32_t, std::string>> g_logs;
void CollectLog(uintptr_t user, int32_t sev, const char* msg) {
  EXPECT_EQ(user, (uintptr_t)42);
  std::lock_guard<std::mutex> l(g_log_mu);
  g_logs.emplace_back(sev, msg);
}
void ResetingLog(uintptr_t, int32_t, const char*) {
  // A callback may call back into the shim (the logger lock is recursive).
  EXPECT_EQ(api->set_logger(nullptr, 0, 0, nullptr), TRTSHIM_OK);
  std::lock_guard<std::mutex> l(g_log_mu);
  g_logs.emplace_back(-1, "reset");
}

TEST(FakeLibrary, Logger) {
  Err err;
  EXPECT_EQ(api->set_logger(CollectLog, 42, 7, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(api->set_logger(CollectLog, 42, TRTSHIM_LOG_INFO, &err), TRTSHIM_OK);
  g_logs.clear();
  { Engine e(kPlan); }
  trtshim_engine* bad = nullptr;
  EXPECT_EQ(api->engine_load("junk", 4, &bad, &err), TRTSHIM_ERR_DESERIALIZE);
  {
    std::lock_guard<std::mutex> l(g_log_mu);
    ASSERT_EQ(g_logs.size(), 2u);
    EXPECT_EQ(g_logs[0].first, TRTSHIM_LOG_INFO);
    EXPECT_EQ(g_logs[0].second, "fake: loaded engine with 3 IO tensors");
    EXPECT_EQ(g_logs[1].first, TRTSHIM_LOG_ERROR);
    EXPECT_NE(g_logs[1].second.find("not a fake plan"), std::string::npos) << g_logs[1].second;
    g_logs.clear();
  }
  // max_severity ERROR drops INFO.
  ASSERT_EQ(api->set_logger(CollectLog, 42, TRTSHIM_LOG_ERROR, &err), TRTSHIM_OK);
  { Engine e(kPlan); }
  EXPECT_EQ(api->engine_load("junk", 4, &bad, &err), TRTSHIM_ERR_DESERIALIZE);
  {
    std::lock_guard<std::mutex> l(g_log_mu);
    ASSERT_EQ(g_logs.size(), 1u);
    EXPECT_EQ(g_logs[0].first, TRTSHIM_LOG_ERROR);
    g_logs.clear();
  }
  // Re-entrant callback: resets the logger from inside it, no deadlock.
  ASSERT_EQ(api->set_logger(ResetingLog, 0, TRTSHIM_LOG_VERBOSE, &err), TRTSHIM_OK);
  { Engine e(kPlan); }
  { Engine e(kPlan); }  // default logger now: INFO goes nowhere
  {
    std::lock_guard<std::mutex> l(g_log_mu);
    EXPECT_EQ(g_logs.size(), 1u);
    g_logs.clear();
  }
  EXPECT_EQ(api->set_logger(nullptr, 0, 99, &err), TRTSHIM_OK);  // severity ignored then
}

// ---- plans and engines ------------------------------------------------------------

TEST(FakeEngine, IoListing) {
  Engine eng(kPlan);
  ASSERT_NE(eng.e, nullptr);
  Err err;
  int32_t n = -1;
  ASSERT_EQ(api->engine_io_count(eng.e, &n, &err), TRTSHIM_OK);
  EXPECT_EQ(n, 3);
  trtshim_io_info io;
  ASSERT_EQ(api->engine_io_info(eng.e, 0, &io, &err), TRTSHIM_OK);
  EXPECT_STREQ(io.name, "images");
  EXPECT_EQ(io.mode, TRTSHIM_IO_INPUT);
  EXPECT_EQ(io.dtype, TRTSHIM_DTYPE_FLOAT);
  EXPECT_EQ(io.shape.nb, 4);
  EXPECT_EQ(io.shape.d[0], -1);
  EXPECT_EQ(io.shape.d[3], 4);
  EXPECT_EQ(io.has_profile, 1);
  EXPECT_EQ(io.min.d[0], 1);
  EXPECT_EQ(io.opt.d[0], 4);
  EXPECT_EQ(io.max.d[0], 8);
  EXPECT_EQ(io.max.nb, 4);
  EXPECT_EQ(io.data_dependent, 0);
  EXPECT_EQ(io.linear, 1);
  ASSERT_EQ(api->engine_io_info(eng.e, 2, &io, &err), TRTSHIM_OK);
  EXPECT_STREQ(io.name, "boxes");
  EXPECT_EQ(io.mode, TRTSHIM_IO_OUTPUT);
  EXPECT_EQ(io.shape.nb, 3);
  EXPECT_EQ(io.has_profile, 0);
  EXPECT_EQ(io.linear, 1);
  EXPECT_EQ(api->engine_io_info(eng.e, 3, &io, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_io_info(eng.e, -1, &io, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  int32_t p = -1;
  ASSERT_EQ(api->engine_profile_count(eng.e, &p, &err), TRTSHIM_OK);
  EXPECT_EQ(p, 1);
  int64_t mem = -1;
  ASSERT_EQ(api->engine_device_memory_size(eng.e, &mem, &err), TRTSHIM_OK);
  EXPECT_EQ(mem, 4096);
}

TEST(FakeEngine, StaticInputAndOptions) {
  Engine eng(
      "trtshim-fake-plan 1\r\n"
      "# comment\n"
      "\n"
      "device_memory 0\n"
      "input a FLOAT 2x3\n"
      "output o FLOAT 2x4\n");
  ASSERT_NE(eng.e, nullptr);
  trtshim_io_info io;
  Err err;
  ASSERT_EQ(api->engine_io_info(eng.e, 0, &io, &err), TRTSHIM_OK);
  EXPECT_EQ(io.has_profile, 0);
  EXPECT_EQ(io.min.nb, 2);
  EXPECT_EQ(io.max.d[1], 3);
  int64_t mem = -1;
  ASSERT_EQ(api->engine_device_memory_size(eng.e, &mem, &err), TRTSHIM_OK);
  EXPECT_EQ(mem, 0);
  // A static input needs no set_input_shape; outputs resolve at once.
  Context ctx(eng.e);
  trtshim_dims d{};
  ASSERT_EQ(api->context_tensor_shape(ctx.c, "o", &d, &err), TRTSHIM_OK) << err.msg();
  EXPECT_EQ(d.d[0], 2);
  EXPECT_EQ(d.d[1], 4);
  std::vector<float> a = {1, 2, 3, 10, 20, 30}, o(8);
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "a", a.data(), &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "o", o.data(), &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_enqueue(ctx.c, (void*)0x1234, &err), TRTSHIM_OK) << err.msg();
  EXPECT_FLOAT_EQ(o[0], 2.f);
  EXPECT_FLOAT_EQ(o[3], 2.f + 3 * 0.001f);
  EXPECT_FLOAT_EQ(o[4], 20.f);
  // Setting a static input to its own shape is fine; another shape is not.
  trtshim_dims same = D({2, 3}), other = D({1, 3});
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "a", &same, &err), TRTSHIM_OK);
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "a", &other, &err), TRTSHIM_ERR_SHAPE);
}

TEST(FakeEngine, BadPlans) {
  struct Case {
    std::string plan;
    trtshim_status want;
    std::string in_msg;
  };
  const std::string h = "trtshim-fake-plan 1\n";
  const std::vector<Case> cases = {
      {"", TRTSHIM_ERR_DESERIALIZE, "not a fake plan"},
      {std::string("\x00\x01\x02ptrt", 7), TRTSHIM_ERR_DESERIALIZE, "not a fake plan"},
      {"trtshim-fake-plan 2\n", TRTSHIM_ERR_DESERIALIZE, "not a fake plan"},
      {h, TRTSHIM_ERR_DESERIALIZE, "no input"},
      {h + "input a FLOAT 1x2\n", TRTSHIM_ERR_DESERIALIZE, "no output"},
      {h + "input a FLOAT 1x2\noutput o FLOAT 1\nbogus 1\n", TRTSHIM_ERR_DESERIALIZE,
       "line 4"},
      {h + "input a FLOT 1x2\noutput o FLOAT 1\n", TRTSHIM_ERR_DESERIALIZE, "line 2"},
      {h + "input a FLOAT 1x0\noutput o FLOAT 1\n", TRTSHIM_ERR_DESERIALIZE, "line 2"},
      {h + "input a FLOAT 1xx2\noutput o FLOAT 1\n", TRTSHIM_ERR_DESERIALIZE, "line 2"},
      {h + "input a FLOAT 1x2x3x4x5x6x7x8x9\noutput o FLOAT 1\n", TRTSHIM_ERR_DESERIALIZE,
       "more than 8"},
      {h + "input a FLOAT -1x2\noutput o FLOAT -1\n", TRTSHIM_ERR_DESERIALIZE, "min="},
      {h + "input a FLOAT -1x2 min=1x2 opt=4x2 max=2x2\noutput o FLOAT -1\n",
       TRTSHIM_ERR_DESERIALIZE, "min <= opt <= max"},
      {h + "input a FLOAT -1x2 min=1x3 opt=1x3 max=1x3\noutput o FLOAT -1\n",
       TRTSHIM_ERR_DESERIALIZE, "fixed dimension"},
      {h + "input a FLOAT -1x2 min=1 opt=1 max=1\noutput o FLOAT -1\n", TRTSHIM_ERR_DESERIALIZE,
       "rank"},
      {h + "input a FLOAT 1x2 min=1x2 opt=1x2 max=1x2\noutput o FLOAT 1\n",
       TRTSHIM_ERR_DESERIALIZE, "only for inputs"},
      {h + "input a FLOAT 1x2\ninput a FLOAT 1x2\noutput o FLOAT 1\n", TRTSHIM_ERR_DESERIALIZE,
       "twice"},
      {h + "precision fp32\nprecision fp16\n", TRTSHIM_ERR_DESERIALIZE, "line 3"},
      {h + "precision fp64\n", TRTSHIM_ERR_DESERIALIZE, "line 2"},
      {h + "fail_enqueue_every 0\n", TRTSHIM_ERR_DESERIALIZE, "line 2"},
      {h + "device_memory -5\n", TRTSHIM_ERR_DESERIALIZE, "line 2"},
      {h + "no_tf32\nno_tf32\n", TRTSHIM_ERR_DESERIALIZE, "line 3"},
      {h + "no_tf32 yes\n", TRTSHIM_ERR_DESERIALIZE, "line 2"},
      {h + "input a FLOAT 1x2\noutput o FLOAT 1x-1\n", TRTSHIM_ERR_UNSUPPORTED,
       "data-dependent output shapes are not supported by the fake"},
      {h + "input a FLOAT 1\noutput o FLOAT 1\n" + std::string("\0", 1), TRTSHIM_ERR_DESERIALIZE,
       "NUL"},
  };
  for (const Case& c : cases) {
    trtshim_engine* sentinel = (trtshim_engine*)0x1;
    trtshim_engine* e = sentinel;
    Err err;
    EXPECT_EQ(api->engine_load(c.plan.data(), c.plan.size(), &e, &err), c.want) << c.plan;
    EXPECT_EQ(err.e.code, c.want);
    EXPECT_NE(err.msg().find(c.in_msg), std::string::npos) << err.msg();
    EXPECT_EQ(e, sentinel) << "out-param written on failure";
  }
  // 17 IO tensors.
  std::string many = h + "input a FLOAT 1\n";
  for (int i = 0; i < 16; i++) many += "output o" + std::to_string(i) + " FLOAT 1\n";
  trtshim_engine* e = nullptr;
  Err err;
  EXPECT_EQ(api->engine_load(many.data(), many.size(), &e, &err), TRTSHIM_ERR_DESERIALIZE);
  EXPECT_NE(err.msg().find("more than 16"), std::string::npos) << err.msg();
}

// ---- contexts ------------------------------------------------------------------

TEST(FakeContext, EnqueueBatch1And8) {
  Engine eng(kPlan);
  Context ctx(eng.e);
  Err err;
  ASSERT_EQ(api->context_set_profile(ctx.c, 0, nullptr, &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_input_consumed_event(ctx.c, (void*)0x42, &err), TRTSHIM_OK);
  RunAndCheck(ctx.c, 1, 0.5f);
  RunAndCheck(ctx.c, 8, -3.0f);
  RunAndCheck(ctx.c, 4, 100.0f);
  trtshim_dims in{};
  ASSERT_EQ(api->context_tensor_shape(ctx.c, "images", &in, &err), TRTSHIM_OK);
  EXPECT_EQ(in.d[0], 4);
}

TEST(FakeContext, ShapeErrors) {
  Engine eng(kPlan);
  Context ctx(eng.e);
  Err err;
  trtshim_dims out{};
  out.nb = 77;
  // Nothing set yet: shapes unknown.
  EXPECT_EQ(api->context_tensor_shape(ctx.c, "images", &out, &err), TRTSHIM_ERR_SHAPE);
  EXPECT_EQ(api->context_tensor_shape(ctx.c, "scores", &out, &err), TRTSHIM_ERR_SHAPE);
  EXPECT_NE(err.msg().find("images"), std::string::npos) << err.msg();
  EXPECT_EQ(out.nb, 77) << "out-param written on failure";
  EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_ERR_SHAPE);
  EXPECT_NE(err.msg().find("images"), std::string::npos) << err.msg();

  trtshim_dims big = D({16, 3, 4, 4});
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "images", &big, &err), TRTSHIM_ERR_SHAPE);
  EXPECT_EQ(err.e.code, TRTSHIM_ERR_SHAPE);
  EXPECT_NE(err.msg().find("images"), std::string::npos) << err.msg();
  EXPECT_NE(err.msg().find("[16,3,4,4]"), std::string::npos) << err.msg();
  EXPECT_NE(err.msg().find("[1,3,4,4]..[8,3,4,4]"), std::string::npos) << err.msg();
  trtshim_dims zero = D({0, 3, 4, 4});
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "images", &zero, &err), TRTSHIM_ERR_SHAPE);
  trtshim_dims rank = D({2, 3, 4});
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "images", &rank, &err), TRTSHIM_ERR_SHAPE);
  EXPECT_NE(err.msg().find("rank"), std::string::npos) << err.msg();
  trtshim_dims fixed = D({2, 3, 5, 4});
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "images", &fixed, &err), TRTSHIM_ERR_SHAPE);
  EXPECT_NE(err.msg().find("[2,3,5,4]"), std::string::npos) << err.msg();
  // Still unset after the failures.
  EXPECT_EQ(api->context_tensor_shape(ctx.c, "images", &out, &err), TRTSHIM_ERR_SHAPE);

  trtshim_dims ok = D({2, 3, 4, 4});
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "nope", &ok, &err), TRTSHIM_ERR_NOT_FOUND);
  EXPECT_NE(err.msg().find("nope"), std::string::npos) << err.msg();
  EXPECT_EQ(api->context_tensor_shape(ctx.c, "nope", &out, &err), TRTSHIM_ERR_NOT_FOUND);
  EXPECT_EQ(api->context_set_tensor_address(ctx.c, "nope", &out, &err), TRTSHIM_ERR_NOT_FOUND);
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "scores", &ok, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_profile(ctx.c, 1, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_profile(ctx.c, -1, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);

  // A name far longer than the limits: NOT_FOUND with a bounded message.
  std::string longname(5000, 'n');
  err.Reset();
  EXPECT_EQ(api->context_set_input_shape(ctx.c, longname.c_str(), &ok, &err),
            TRTSHIM_ERR_NOT_FOUND);
  EXPECT_LT(err.msg().size(), (size_t)TRTSHIM_ERR_LEN);

  ASSERT_EQ(api->context_set_input_shape(ctx.c, "images", &ok, &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_tensor_shape(ctx.c, "scores", &out, &err), TRTSHIM_OK);
  EXPECT_EQ(out.d[0], 2);
}

TEST(FakeContext, MissingAddress) {
  Engine eng(kPlan);
  Context ctx(eng.e);
  Err err;
  trtshim_dims sh = D({2, 3, 4, 4});
  std::vector<float> in(2 * 48), scores(20), boxes(12);
  ASSERT_EQ(api->context_set_input_shape(ctx.c, "images", &sh, &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "images", in.data(), &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "scores", scores.data(), &err), TRTSHIM_OK);
  EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(err.msg().find("boxes"), std::string::npos) << err.msg();
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "boxes", boxes.data(), &err), TRTSHIM_OK);
  EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_OK) << err.msg();
  // NULL unsets.
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "images", nullptr, &err), TRTSHIM_OK);
  EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(err.msg().find("images"), std::string::npos) << err.msg();
}

TEST(FakeContext, UserMemory) {
  Engine eng(kPlan);
  Err err;
  {
    Context plain(eng.e, 0);
    char buf[4096];
    EXPECT_EQ(api->context_set_device_memory(plain.c, buf, sizeof buf, &err),
              TRTSHIM_ERR_INVALID_ARGUMENT);
  }
  trtshim_context* c = nullptr;
  EXPECT_EQ(api->context_create(eng.e, 2, &c, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c, nullptr);
  Context ctx(eng.e, 1);
  // Enqueue before set_device_memory fails, even with everything else ready.
  const int64_t B = 2;
  std::vector<float> in(B * 48, 1.f), scores(B * 10), boxes(B * 6);
  trtshim_dims sh = D({B, 3, 4, 4});
  ASSERT_EQ(api->context_set_input_shape(ctx.c, "images", &sh, &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "images", in.data(), &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "scores", scores.data(), &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "boxes", boxes.data(), &err), TRTSHIM_OK);
  EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(err.msg().find("device memory"), std::string::npos) << err.msg();
  std::vector<char> mem(4096);
  EXPECT_EQ(api->context_set_device_memory(ctx.c, mem.data(), 4095, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_device_memory(ctx.c, nullptr, 4096, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_device_memory(ctx.c, mem.data(), -1, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(api->context_set_device_memory(ctx.c, mem.data(), 4096, &err), TRTSHIM_OK);
  EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_OK) << err.msg();
  EXPECT_FLOAT_EQ(scores[0], 1.f);
  EXPECT_FLOAT_EQ(boxes[7], 2.f + 0.001f);
}

TEST(FakeContext, FaultInjection) {
  Engine eng(
      "trtshim-fake-plan 1\n"
      "fail_enqueue_every 3\n"
      "input a FLOAT 1x2\n"
      "output o FLOAT 1x2\n");
  Context ctx(eng.e);
  Err err;
  float a[2] = {1, 3}, o[2] = {0, 0};
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "a", a, &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(ctx.c, "o", o, &err), TRTSHIM_OK);
  std::vector<trtshim_status> got;
  for (int i = 0; i < 7; i++) got.push_back(api->context_enqueue(ctx.c, nullptr, &err));
  std::vector<trtshim_status> want = {0, 0, TRTSHIM_ERR_RUNTIME, 0, 0, TRTSHIM_ERR_RUNTIME, 0};
  EXPECT_EQ(got, want);
  EXPECT_FLOAT_EQ(o[0], 2.f);
  // The counter is per context.
  Context other(eng.e);
  ASSERT_EQ(api->context_set_tensor_address(other.c, "a", a, &err), TRTSHIM_OK);
  ASSERT_EQ(api->context_set_tensor_address(other.c, "o", o, &err), TRTSHIM_OK);
  EXPECT_EQ(api->context_enqueue(other.c, nullptr, &err), TRTSHIM_OK);
}

TEST(FakeContext, NonFloatAndBatchRules) {
  {
    Engine eng(
        "trtshim-fake-plan 1\n"
        "input a HALF 1x2\n"
        "output o FLOAT 1x2\n");
    ASSERT_NE(eng.e, nullptr);
    trtshim_io_info io;
    Err err;
    ASSERT_EQ(api->engine_io_info(eng.e, 0, &io, &err), TRTSHIM_OK);
    EXPECT_EQ(io.dtype, TRTSHIM_DTYPE_HALF);
    Context ctx(eng.e);
    EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_ERR_UNSUPPORTED);
    EXPECT_NE(err.msg().find("HALF"), std::string::npos) << err.msg();
  }
  {
    // Two dynamic inputs must agree on the batch; a fixed-batch output must match it.
    Engine eng(
        "trtshim-fake-plan 1\n"
        "input a FLOAT -1x2 min=1x2 opt=2x2 max=4x2\n"
        "input b FLOAT -1 min=1 opt=2 max=4\n"
        "output o FLOAT -1x3\n"
        "output p FLOAT 2x1\n");
    ASSERT_NE(eng.e, nullptr);
    Context ctx(eng.e);
    Err err;
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[4] = {}, o[12] = {}, p[2] = {};
    for (auto [n, ptr] : {std::pair<const char*, void*>{"a", a}, {"b", b}, {"o", o}, {"p", p}})
      ASSERT_EQ(api->context_set_tensor_address(ctx.c, n, ptr, &err), TRTSHIM_OK);
    trtshim_dims a2 = D({2, 2}), b3 = D({3}), b2 = D({2}), a3 = D({3, 2});
    ASSERT_EQ(api->context_set_input_shape(ctx.c, "a", &a2, &err), TRTSHIM_OK);
    trtshim_dims out{};
    EXPECT_EQ(api->context_tensor_shape(ctx.c, "o", &out, &err), TRTSHIM_ERR_SHAPE);
    EXPECT_NE(err.msg().find("'b'"), std::string::npos) << err.msg();
    ASSERT_EQ(api->context_set_input_shape(ctx.c, "b", &b3, &err), TRTSHIM_OK);
    EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_ERR_SHAPE);
    EXPECT_NE(err.msg().find("batch"), std::string::npos) << err.msg();
    ASSERT_EQ(api->context_set_input_shape(ctx.c, "b", &b2, &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_OK) << err.msg();
    // o is output 0, p output 1; m = 1.5, 3.5.
    EXPECT_FLOAT_EQ(o[0], 1.5f);
    EXPECT_FLOAT_EQ(o[5], 3.5f + 0.002f);
    EXPECT_FLOAT_EQ(p[0], 3.0f);
    EXPECT_FLOAT_EQ(p[1], 7.0f);
    ASSERT_EQ(api->context_set_input_shape(ctx.c, "a", &a3, &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_set_input_shape(ctx.c, "b", &b3, &err), TRTSHIM_OK);
    EXPECT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_ERR_UNSUPPORTED);
    EXPECT_NE(err.msg().find("'p'"), std::string::npos) << err.msg();
  }
}

TEST(FakeContext, EngineFreedBeforeContext) {
  // A caller bug, but the fake keeps the engine alive (ASan checks this).
  trtshim_engine* e = nullptr;
  Err err;
  ASSERT_EQ(api->engine_load(kPlan, sizeof kPlan - 1, &e, &err), TRTSHIM_OK);
  trtshim_context* c = nullptr;
  ASSERT_EQ(api->context_create(e, 0, &c, &err), TRTSHIM_OK);
  api->engine_free(e);
  RunAndCheck(c, 3, 1.0f);
  api->context_free(c);
}

TEST(FakeContext, ConcurrentContexts) {
  Engine eng(kPlan);
  const int kThreads = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      Context ctx(eng.e, t % 2);
      std::vector<char> mem(4096);
      if (t % 2) api->context_set_device_memory(ctx.c, mem.data(), (int64_t)mem.size(), nullptr);
      for (int i = 0; i < 200; i++) {
        RunAndCheck(ctx.c, 1 + (t + i) % 8, (float)(t * 1000 + i));
        if (::testing::Test::HasFailure()) {
          failures++;
          return;
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(FakeContext, NullArguments) {
  Engine eng(kPlan);
  Context ctx(eng.e);
  Err err;
  trtshim_engine* e = nullptr;
  trtshim_context* c = nullptr;
  int32_t n;
  int64_t m;
  trtshim_io_info io;
  trtshim_dims d = D({1, 3, 4, 4});
  EXPECT_EQ(api->engine_load(nullptr, 10, &e, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_load(kPlan, sizeof kPlan - 1, nullptr, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_io_count(nullptr, &n, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_io_count(eng.e, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_io_info(nullptr, 0, &io, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_io_info(eng.e, 0, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_profile_count(nullptr, &n, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_profile_count(eng.e, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_device_memory_size(nullptr, &m, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->engine_device_memory_size(eng.e, nullptr, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_create(nullptr, 0, &c, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_create(eng.e, 0, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_device_memory(nullptr, nullptr, 0, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_profile(nullptr, 0, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_input_shape(nullptr, "images", &d, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_input_shape(ctx.c, nullptr, &d, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_input_shape(ctx.c, "images", nullptr, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_tensor_shape(nullptr, "images", &d, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_tensor_shape(ctx.c, nullptr, &d, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_tensor_shape(ctx.c, "images", nullptr, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_tensor_address(nullptr, "images", &d, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_tensor_address(ctx.c, nullptr, &d, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_set_input_consumed_event(nullptr, nullptr, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_enqueue(nullptr, nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->context_enqueue(nullptr, nullptr, nullptr), TRTSHIM_ERR_INVALID_ARGUMENT);
  trtshim_build_options o = DefaultOpts();
  trtshim_blob plan{};
  std::string onnx = SmallOnnx();
  EXPECT_EQ(api->build(nullptr, 10, nullptr, &o, &plan, nullptr, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->build(onnx.data(), onnx.size(), nullptr, nullptr, &plan, nullptr, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->build(onnx.data(), onnx.size(), nullptr, &o, nullptr, nullptr, &err),
            TRTSHIM_ERR_INVALID_ARGUMENT);
  // *_free(NULL) are no-ops.
  api->engine_free(nullptr);
  api->context_free(nullptr);
  api->blob_free(nullptr);
  trtshim_blob empty{};
  api->blob_free(&empty);
}

// ---- build ---------------------------------------------------------------------

trtshim_profile_dim XProfile() {
  trtshim_profile_dim p{};
  p.name = "x";
  p.min = D({1, 3, 4});
  p.opt = D({2, 3, 4});
  p.max = D({6, 3, 4});
  return p;
}

TEST(FakeBuild, BuildLoadRun) {
  std::string onnx = SmallOnnx();
  trtshim_profile_dim prof = XProfile();
  trtshim_build_options o = DefaultOpts();
  o.precision = TRTSHIM_PRECISION_FP16;
  o.profile = &prof;
  o.nb_profile = 1;
  trtshim_blob plan{}, cache{};
  Err err;
  ASSERT_EQ(api->build(onnx.data(), onnx.size(), "/nonexistent", &o, &plan, &cache, &err),
            TRTSHIM_OK)
      << err.msg();
  EXPECT_EQ(BlobStr(plan),
            "trtshim-fake-plan 1\n"
            "precision fp16\n"
            "input x FLOAT -1x3x4 min=1x3x4 opt=2x3x4 max=6x3x4\n"
            "output y FLOAT -1x5\n"
            "output z FLOAT -1x2\n");
  EXPECT_EQ(BlobStr(cache), "trtshim-fake-timing-cache 1\n");

  // The cache goes back in; the plan loads and runs.
  o.timing_cache = cache.data;
  o.timing_cache_len = cache.len;
  trtshim_blob plan2{};
  ASSERT_EQ(api->build(onnx.data(), onnx.size(), nullptr, &o, &plan2, nullptr, &err),
            TRTSHIM_OK)
      << err.msg();
  EXPECT_EQ(BlobStr(plan2), BlobStr(plan));
  api->blob_free(&plan2);

  // disable_tf32 reaches the shim: the plan records it and still loads.
  o.disable_tf32 = 1;
  ASSERT_EQ(api->build(onnx.data(), onnx.size(), nullptr, &o, &plan2, nullptr, &err),
            TRTSHIM_OK)
      << err.msg();
  EXPECT_EQ(BlobStr(plan2),
            "trtshim-fake-plan 1\n"
            "precision fp16\n"
            "no_tf32\n"
            "input x FLOAT -1x3x4 min=1x3x4 opt=2x3x4 max=6x3x4\n"
            "output y FLOAT -1x5\n"
            "output z FLOAT -1x2\n");
  {
    trtshim_engine* e2 = nullptr;
    ASSERT_EQ(api->engine_load(plan2.data, plan2.len, &e2, &err), TRTSHIM_OK) << err.msg();
    api->engine_free(e2);
  }
  api->blob_free(&plan2);
  o.disable_tf32 = 0;
  EXPECT_EQ(plan2.data, nullptr);
  EXPECT_EQ(plan2.len, 0u);

  trtshim_engine* e = nullptr;
  ASSERT_EQ(api->engine_load(plan.data, plan.len, &e, &err), TRTSHIM_OK) << err.msg();
  {
    Context ctx(e);
    float x[3 * 12], y[3 * 5], z[3 * 2];
    for (int i = 0; i < 36; i++) x[i] = (float)(i / 12);  // item b is all b
    trtshim_dims sh = D({3, 3, 4});
    ASSERT_EQ(api->context_set_input_shape(ctx.c, "x", &sh, &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_set_tensor_address(ctx.c, "x", x, &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_set_tensor_address(ctx.c, "y", y, &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_set_tensor_address(ctx.c, "z", z, &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_OK) << err.msg();
    EXPECT_FLOAT_EQ(y[2 * 5 + 4], 2.f + 4 * 0.001f);
    EXPECT_FLOAT_EQ(z[2 * 2 + 1], 4.f + 0.001f);
  }
  api->engine_free(e);
  api->blob_free(&plan);
  api->blob_free(&cache);
  EXPECT_EQ(cache.data, nullptr);
}

TEST(FakeBuild, Errors) {
  const std::string onnx = SmallOnnx();
  trtshim_profile_dim prof = XProfile();
  auto build = [&](trtshim_build_options o, const std::string& model, Err& err) {
    trtshim_blob plan{(void*)0x1, 77}, cache{(void*)0x2, 88};
    trtshim_status st =
        api->build(model.data(), model.size(), nullptr, &o, &plan, &cache, &err.e);
    if (st != TRTSHIM_OK) {
      EXPECT_EQ(plan.data, (void*)0x1) << "plan written on failure";
      EXPECT_EQ(cache.len, 88u) << "cache written on failure";
      EXPECT_EQ(err.e.code, st);
    } else {
      api->blob_free(&plan);
      api->blob_free(&cache);
    }
    return st;
  };
  trtshim_build_options ok = DefaultOpts();
  ok.profile = &prof;
  ok.nb_profile = 1;
  Err err;
  ASSERT_EQ(build(ok, onnx, err), TRTSHIM_OK) << err.msg();

  // No profile for the dynamic input.
  EXPECT_EQ(build(DefaultOpts(), onnx, err), TRTSHIM_ERR_BUILD);
  EXPECT_NE(err.msg().find("input x has dynamic dimensions"), std::string::npos) << err.msg();
  EXPECT_NE(err.msg().find("no optimization profile"), std::string::npos) << err.msg();

  // Profile entries: unknown name (the initializer w is not an input), bad ranges.
  trtshim_profile_dim two[2] = {prof, prof};
  two[1].name = "w";
  trtshim_build_options o = ok;
  o.profile = two;
  o.nb_profile = 2;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(err.msg().find("'w'"), std::string::npos) << err.msg();
  two[1].name = "x";
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);  // twice
  trtshim_profile_dim bad = prof;
  bad.opt = D({9, 3, 4});
  o = ok;
  o.profile = &bad;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  bad = prof;
  bad.max = D({6, 3, 5});
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  bad = prof;
  bad.min = D({1, 3});
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o.profile = nullptr;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);

  // Options.
  o = ok;
  o.precision = TRTSHIM_PRECISION_INT8;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_UNSUPPORTED);
  EXPECT_NE(err.msg().find("the fake cannot build int8"), std::string::npos) << err.msg();
  o.precision = 17;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o = ok;
  o.optimization_level = 6;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o.optimization_level = -2;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o.optimization_level = 5;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_OK);
  o = ok;
  o.workspace_bytes = -1;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o = ok;
  o.hardware_compat = 3;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o = ok;
  o.version_compat = 2;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  o = ok;
  o.disable_tf32 = 2;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(err.msg().find("disable_tf32"), std::string::npos) << err.msg();
  o = ok;
  o.precision = TRTSHIM_PRECISION_STRONGLY_TYPED;
  o.hardware_compat = TRTSHIM_HWCOMPAT_AMPERE_PLUS;
  o.version_compat = 1;
  o.workspace_bytes = 1 << 20;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_OK);

  // A mismatched timing cache.
  o = ok;
  const char junk_cache[] = "real TensorRT timing cache bytes";
  o.timing_cache = junk_cache;
  o.timing_cache_len = sizeof junk_cache;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(err.msg().find("timing cache"), std::string::npos) << err.msg();
  o.timing_cache = nullptr;
  EXPECT_EQ(build(o, onnx, err), TRTSHIM_ERR_INVALID_ARGUMENT);

  // Malformed ONNX.
  EXPECT_EQ(build(ok, "", err), TRTSHIM_ERR_PARSE);
  EXPECT_EQ(build(ok, "\xff\xff\xff", err), TRTSHIM_ERR_PARSE);
  EXPECT_EQ(build(ok, onnx.substr(0, onnx.size() / 2), err), TRTSHIM_ERR_PARSE);
  EXPECT_EQ(build(ok, "not an onnx model at all", err), TRTSHIM_ERR_PARSE);
  EXPECT_EQ(build(ok, PB().u(1, 8).b, err), TRTSHIM_ERR_PARSE);  // no graph
  EXPECT_NE(err.msg().find("no graph"), std::string::npos) << err.msg();

  // Data-dependent output: a dynamic dim after dim 0.
  EXPECT_EQ(build(ok, SmallOnnx({ValueInfo("nms", 1, {-1, -1, 6})}), err),
            TRTSHIM_ERR_UNSUPPORTED);
  EXPECT_NE(err.msg().find("data-dependent"), std::string::npos) << err.msg();
  // Non-float IO builds (and the engine refuses to run it).
  EXPECT_EQ(build(ok, SmallOnnx({ValueInfo("cls", 7, {-1, 1})}), err), TRTSHIM_OK) << err.msg();
  EXPECT_EQ(build(ok, SmallOnnx({ValueInfo("str", 8, {-1, 1})}), err), TRTSHIM_ERR_UNSUPPORTED);
  // Duplicate names.
  EXPECT_EQ(build(ok, SmallOnnx({ValueInfo("y", 1, {-1, 5})}), err), TRTSHIM_ERR_PARSE);
}

struct ProgressLog {
  std::vector<std::string> events;
  int cancel_at = -1;
};
int32_t Progress(uintptr_t user, int32_t event, const char* phase, const char* parent,
                 int32_t step_or_total) {
  auto* log = reinterpret_cast<ProgressLog*>(user);
  log->events.push_back(std::to_string(event) + ":" + phase + ":" + (parent ? parent : "-") +
                        ":" + std::to_string(step_or_total));
  return event == TRTSHIM_PROGRESS_STEP && step_or_total == log->cancel_at;
}

TEST(FakeBuild, ProgressAndCancel) {
  const std::string onnx = SmallOnnx();
  trtshim_profile_dim prof = XProfile();
  trtshim_build_options o = DefaultOpts();
  o.profile = &prof;
  o.nb_profile = 1;
  o.progress = Progress;
  ProgressLog log;
  o.progress_user = reinterpret_cast<uintptr_t>(&log);
  trtshim_blob plan{};
  Err err;
  ASSERT_EQ(api->build(onnx.data(), onnx.size(), nullptr, &o, &plan, nullptr, &err),
            TRTSHIM_OK);
  std::vector<std::string> want = {"0:Building engine:-:3", "1:Building engine:-:0",
                                   "1:Building engine:-:1", "1:Building engine:-:2",
                                   "2:Building engine:-:0"};
  EXPECT_EQ(log.events, want);
  api->blob_free(&plan);

  ProgressLog cancel;
  cancel.cancel_at = 1;
  o.progress_user = reinterpret_cast<uintptr_t>(&cancel);
  trtshim_blob cache{};
  EXPECT_EQ(api->build(onnx.data(), onnx.size(), nullptr, &o, &plan, &cache, &err),
            TRTSHIM_ERR_CANCELLED);
  EXPECT_EQ(err.e.code, TRTSHIM_ERR_CANCELLED);
  EXPECT_EQ(plan.data, nullptr);
  EXPECT_EQ(cache.data, nullptr);
  want = {"0:Building engine:-:3", "1:Building engine:-:0", "1:Building engine:-:1",
          "2:Building engine:-:0"};
  EXPECT_EQ(cancel.events, want);
}

// A real export from the repository, when present: the fake's protobuf reader
// handles a full-size model (13 MB of initializers and nodes).
std::string RepoFile(const std::string& rel) {
  std::string here = __FILE__;  // .../csrc/tests/fake_contract_test.cpp
  size_t pos = here.rfind("csrc/tests/");
  std::vector<std::string> roots = {"", "../", "../../", "../../../"};
  if (pos != std::string::npos) roots.insert(roots.begin(), here.substr(0, pos));
  for (const auto& r : roots) {
    std::ifstream f(r + rel, std::ios::binary);
    if (f) return std::string(std::istreambuf_iterator<char>(f), {});
  }
  return "";
}

TEST(FakeBuild, RealExports) {
  // yolov8n-cls-320: images [N,3,H,W] → output0 [N,1000]: builds and runs.
  std::string onnx = RepoFile("testdata/models/yolov8n-cls-320/1/model.onnx");
  if (onnx.empty()) GTEST_SKIP() << "testdata/models/yolov8n-cls-320/1/model.onnx not found";
  trtshim_profile_dim p{};
  p.name = "images";
  p.min = D({1, 3, 320, 320});
  p.opt = D({4, 3, 320, 320});
  p.max = D({8, 3, 320, 320});
  trtshim_build_options o = DefaultOpts();
  o.precision = TRTSHIM_PRECISION_FP16;
  o.profile = &p;
  o.nb_profile = 1;
  trtshim_blob plan{};
  Err err;
  ASSERT_EQ(api->build(onnx.data(), onnx.size(), nullptr, &o, &plan, nullptr, &err),
            TRTSHIM_OK)
      << err.msg();
  EXPECT_EQ(BlobStr(plan),
            "trtshim-fake-plan 1\n"
            "precision fp16\n"
            "input images FLOAT -1x3x-1x-1 min=1x3x320x320 opt=4x3x320x320 max=8x3x320x320\n"
            "output output0 FLOAT -1x1000\n");
  trtshim_engine* e = nullptr;
  ASSERT_EQ(api->engine_load(plan.data, plan.len, &e, &err), TRTSHIM_OK) << err.msg();
  {
    Context ctx(e);
    const int64_t B = 2, item = 3 * 320 * 320;
    std::vector<float> x(B * item), y(B * 1000);
    for (int64_t i = 0; i < B * item; i++) x[i] = (i < item) ? 0.25f : 0.75f;
    trtshim_dims sh = D({B, 3, 320, 320});
    ASSERT_EQ(api->context_set_input_shape(ctx.c, "images", &sh, &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_set_tensor_address(ctx.c, "images", x.data(), &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_set_tensor_address(ctx.c, "output0", y.data(), &err), TRTSHIM_OK);
    ASSERT_EQ(api->context_enqueue(ctx.c, nullptr, &err), TRTSHIM_OK) << err.msg();
    EXPECT_FLOAT_EQ(y[999], 0.25f + 999 * 0.001f);
    EXPECT_FLOAT_EQ(y[1000], 0.75f);
  }
  api->engine_free(e);
  api->blob_free(&plan);

  // yolov8n-320 detection: output0 [N,84,anchors], anchors set by H and W,
  // which the fake cannot compute.
  onnx = RepoFile("testdata/models/yolov8n-320/1/model.onnx");
  if (onnx.empty()) return;
  EXPECT_EQ(api->build(onnx.data(), onnx.size(), nullptr, &o, &plan, nullptr, &err),
            TRTSHIM_ERR_UNSUPPORTED);
  EXPECT_NE(err.msg().find("output0"), std::string::npos) << err.msg();
  EXPECT_EQ(plan.data, nullptr);
}

// Corrupted plans and models fail cleanly (run under ASan/UBSan to mean much).
TEST(FakeRobustness, MutatedInputs) {
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  trtshim_profile_dim prof = XProfile();
  trtshim_build_options o = DefaultOpts();
  o.profile = &prof;
  o.nb_profile = 1;
  const std::string onnx = SmallOnnx({ValueInfo("extra", 1, {-1, 7})});
  const std::string plan = kPlan;
  int ok_builds = 0, ok_loads = 0;
  for (int i = 0; i < 3000; i++) {
    std::string m = onnx, p = plan;
    int edits = 1 + (int)(next() % 4);
    for (int k = 0; k < edits; k++) {
      m[next() % m.size()] = (char)next();
      static const char kAlpha[] = "x-19 \n=\0aF";  // bytes that matter to plans
      p[next() % p.size()] = kAlpha[next() % (sizeof kAlpha - 1)];
    }
    if (next() % 4 == 0) m.resize(next() % m.size());
    trtshim_blob out{};
    Err err;
    trtshim_status st = api->build(m.data(), m.size(), nullptr, &o, &out, nullptr, &err);
    if (st == TRTSHIM_OK) {
      ok_builds++;
      trtshim_engine* e = nullptr;
      EXPECT_EQ(api->engine_load(out.data, out.len, &e, &err), TRTSHIM_OK) << err.msg();
      api->engine_free(e);
      api->blob_free(&out);
    } else {
      EXPECT_GE(st, TRTSHIM_ERR_INVALID_ARGUMENT);
      EXPECT_LE(st, TRTSHIM_ERR_INTERNAL);
      EXPECT_EQ(err.e.code, st);
      EXPECT_FALSE(err.msg().empty());
    }
    trtshim_engine* e = nullptr;
    st = api->engine_load(p.data(), p.size(), &e, &err);
    if (st == TRTSHIM_OK) {
      ok_loads++;
      trtshim_context* c = nullptr;
      ASSERT_EQ(api->context_create(e, 0, &c, &err), TRTSHIM_OK);
      api->context_enqueue(c, nullptr, &err);  // no addresses: must fail, not crash
      api->context_free(c);
      api->engine_free(e);
    } else {
      EXPECT_EQ(err.e.code, st);
    }
  }
  EXPECT_GT(ok_builds, 0);
  EXPECT_GT(ok_loads, 0);
}

}  // namespace

// ---- trtshim_init (section 5) ----------------------------------------------
// These run in the process's one copy of the fake, so they end with the
// default options restored (a second init with other options is refused:
// the test uses the same ones throughout).
TEST(FakeLibrary, InitDefaults) {
  Err err;
  trtshim_init_options o{nullptr, 1};
  ASSERT_EQ(api->init(&o, &err), TRTSHIM_OK) << err.msg();
  ASSERT_EQ(api->init(&o, &err), TRTSHIM_OK) << "same options twice";
  trtshim_init_options other{nullptr, 0};
  EXPECT_EQ(api->init(&other, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(err.msg().find("already initialised"), std::string::npos) << err.msg();
  trtshim_init_options bad{nullptr, 7};
  EXPECT_EQ(api->init(&bad, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api->init(nullptr, &err), TRTSHIM_ERR_INVALID_ARGUMENT);
  trtshim_init_options missing{"/nonexistent/libnvinfer_lean.so.10", 1};
  EXPECT_EQ(api->init(&missing, &err), TRTSHIM_ERR_NO_TENSORRT);
  EXPECT_NE(err.msg().find("/nonexistent/libnvinfer_lean.so.10"), std::string::npos) << err.msg();
  trtshim_info info;
  ASSERT_EQ(api->get_info(&info, &err), TRTSHIM_OK);
  EXPECT_EQ(info.runtime_kind, TRTSHIM_RUNTIME_FAKE);
  EXPECT_EQ(info.can_build, 1);
  EXPECT_EQ(info.allow_engine_host_code, 1);
  EXPECT_EQ(info.plugins, 0);
  EXPECT_EQ(info.cuda_version, 0);
  EXPECT_STREQ(info.tensorrt_path, "");
  // Host-code plans load where host code is allowed.
  Engine e(std::string(kPlan) + "host_code\n");
  EXPECT_NE(e.e, nullptr);
}

TEST(FakeLibrary, CudaInitFailureKnob) {
  Err err;
  ASSERT_EQ(setenv("TRTSHIM_FAKE_CUDA_INIT_ERROR", "35", 1), 0);
  trtshim_engine* e = nullptr;
  EXPECT_EQ(api->engine_load(kPlan, sizeof kPlan - 1, &e, &err), TRTSHIM_ERR_CUDA_INIT);
  EXPECT_NE(err.msg().find("CUDA initialization failure with error: 35"), std::string::npos) << err.msg();
  EXPECT_EQ(e, nullptr);
  unsetenv("TRTSHIM_FAKE_CUDA_INIT_ERROR");
  ASSERT_EQ(api->engine_load(kPlan, sizeof kPlan - 1, &e, &err), TRTSHIM_OK) << err.msg();
  api->engine_free(e);
}
