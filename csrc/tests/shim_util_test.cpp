// Tests for csrc/src/shim_util.cpp: the checks the shim makes before
// TensorRT sees a request, and the error plumbing. No TensorRT needed.
#include "shim_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace trtshim_internal;

namespace {

trtshim_dims D(std::initializer_list<int64_t> v) {
  trtshim_dims d{};
  d.nb = static_cast<int32_t>(v.size());
  int i = 0;
  for (int64_t x : v) d.d[i++] = x;
  return d;
}

trtshim_profile_dim P(const char* name, trtshim_dims mn, trtshim_dims opt, trtshim_dims mx) {
  trtshim_profile_dim p{};
  p.name = name;
  p.min = mn;
  p.opt = opt;
  p.max = mx;
  return p;
}

trtshim_build_options Defaults() {
  trtshim_build_options o{};
  o.precision = TRTSHIM_PRECISION_FP32;
  o.optimization_level = -1;
  o.hardware_compat = TRTSHIM_HWCOMPAT_NONE;
  return o;
}

NetInput In(const char* name, trtshim_dims d, bool shape_tensor = false) {
  NetInput in;
  in.name = name;
  in.dims = d;
  in.shape_tensor = shape_tensor;
  return in;
}

}  // namespace

// ---- status and error filling ---------------------------------------------

TEST(Status, NamesEveryCode) {
  EXPECT_STREQ(status_name(TRTSHIM_OK), "TRTSHIM_OK");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_INVALID_ARGUMENT), "TRTSHIM_ERR_INVALID_ARGUMENT");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_UNSUPPORTED), "TRTSHIM_ERR_UNSUPPORTED");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_PARSE), "TRTSHIM_ERR_PARSE");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_BUILD), "TRTSHIM_ERR_BUILD");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_CANCELLED), "TRTSHIM_ERR_CANCELLED");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_DESERIALIZE), "TRTSHIM_ERR_DESERIALIZE");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_SHAPE), "TRTSHIM_ERR_SHAPE");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_NOT_FOUND), "TRTSHIM_ERR_NOT_FOUND");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_RUNTIME), "TRTSHIM_ERR_RUNTIME");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_OUT_OF_MEMORY), "TRTSHIM_ERR_OUT_OF_MEMORY");
  EXPECT_STREQ(status_name(TRTSHIM_ERR_INTERNAL), "TRTSHIM_ERR_INTERNAL");
  EXPECT_STREQ(status_name(12), "TRTSHIM_ERR_UNKNOWN");
  EXPECT_STREQ(status_name(-1), "TRTSHIM_ERR_UNKNOWN");
}

TEST(Fail, FillsCodeAndMessageAndReturnsCode) {
  trtshim_err err{};
  EXPECT_EQ(fail(&err, TRTSHIM_ERR_SHAPE, "bad shape"), TRTSHIM_ERR_SHAPE);
  EXPECT_EQ(err.code, TRTSHIM_ERR_SHAPE);
  EXPECT_STREQ(err.msg, "bad shape");
}

TEST(Fail, NullErrIsAllowed) {
  EXPECT_EQ(fail(nullptr, TRTSHIM_ERR_BUILD, "x"), TRTSHIM_ERR_BUILD);
  EXPECT_EQ(failf(nullptr, TRTSHIM_ERR_BUILD, "%d", 1), TRTSHIM_ERR_BUILD);
}

TEST(Fail, FormatsPrintfStyle) {
  trtshim_err err{};
  failf(&err, TRTSHIM_ERR_INVALID_ARGUMENT, "profile %d is outside 0..%d", 3, 0);
  EXPECT_STREQ(err.msg, "profile 3 is outside 0..0");
}

TEST(Fail, MessageThatExactlyFitsIsNotMarked) {
  trtshim_err err{};
  std::string m(TRTSHIM_ERR_LEN - 1, 'a');
  fail(&err, TRTSHIM_ERR_BUILD, m);
  EXPECT_EQ(std::strlen(err.msg), static_cast<size_t>(TRTSHIM_ERR_LEN - 1));
  EXPECT_EQ(std::string(err.msg), m);
}

TEST(Fail, LongMessageIsTruncatedTerminatedAndMarked) {
  trtshim_err err;
  std::memset(&err, 'X', sizeof(err));  // no accidental terminator
  std::string m(5000, 'b');
  fail(&err, TRTSHIM_ERR_BUILD, m);
  size_t n = std::strlen(err.msg);
  EXPECT_EQ(n, static_cast<size_t>(TRTSHIM_ERR_LEN - 1));
  EXPECT_EQ(std::string(err.msg).substr(n - 3), "...");
  EXPECT_EQ(std::string(err.msg, 10), std::string(10, 'b'));
}

TEST(Fail, LongFormattedMessageIsTruncatedAndMarked) {
  trtshim_err err{};
  std::string m(3 * TRTSHIM_ERR_LEN, 'c');  // longer than failf's own buffer
  failf(&err, TRTSHIM_ERR_PARSE, "parse: %s", m.c_str());
  size_t n = std::strlen(err.msg);
  EXPECT_EQ(n, static_cast<size_t>(TRTSHIM_ERR_LEN - 1));
  EXPECT_EQ(std::string(err.msg).substr(0, 7), "parse: ");
  EXPECT_EQ(std::string(err.msg).substr(n - 3), "...");
}

TEST(Fail, TruncationNeverSplitsUtf8) {
  // "é" is 2 bytes; place one so that the cut would fall in its middle.
  trtshim_err err{};
  const size_t room = TRTSHIM_ERR_LEN - 1 - 3;  // bytes kept before "..."
  std::string m(room - 1, 'd');
  m += "\xC3\xA9";  // starts at room-1, ends at room: straddles the cut
  m += std::string(100, 'e');
  fail(&err, TRTSHIM_ERR_BUILD, m);
  std::string got(err.msg);
  EXPECT_EQ(got, std::string(room - 1, 'd') + "...");
}

TEST(Fail, TruncationKeepsCompleteUtf8) {
  trtshim_err err{};
  const size_t room = TRTSHIM_ERR_LEN - 1 - 3;
  std::string m(room - 2, 'd');
  m += "\xC3\xA9";  // ends exactly at the cut: kept
  m += std::string(100, 'e');
  fail(&err, TRTSHIM_ERR_BUILD, m);
  EXPECT_EQ(std::string(err.msg), std::string(room - 2, 'd') + "\xC3\xA9...");
}

TEST(Fail, TruncationDropsPartialFourByteSequence) {
  trtshim_err err{};
  const size_t room = TRTSHIM_ERR_LEN - 1 - 3;
  std::string m(room - 2, 'd');
  m += "\xF0\x9F\x98\x80";  // U+1F600: only 2 of its 4 bytes would fit
  m += std::string(100, 'e');
  fail(&err, TRTSHIM_ERR_BUILD, m);
  EXPECT_EQ(std::string(err.msg), std::string(room - 2, 'd') + "...");
}

TEST(CopyText, CopiesAndReportsFit) {
  char buf[8];
  EXPECT_TRUE(copy_text(buf, sizeof(buf), "abc", true));
  EXPECT_STREQ(buf, "abc");
  EXPECT_TRUE(copy_text(buf, sizeof(buf), "1234567", false));
  EXPECT_STREQ(buf, "1234567");
  EXPECT_FALSE(copy_text(buf, sizeof(buf), "12345678", false));
  EXPECT_STREQ(buf, "1234567");
  EXPECT_FALSE(copy_text(buf, sizeof(buf), "12345678", true));
  EXPECT_STREQ(buf, "1234...");
  EXPECT_TRUE(copy_text(buf, sizeof(buf), nullptr, true));
  EXPECT_STREQ(buf, "");
}

TEST(CopyText, TinyBuffers) {
  char one[1] = {'z'};
  EXPECT_FALSE(copy_text(one, 1, "abc", true));
  EXPECT_EQ(one[0], '\0');
  char four[4];
  EXPECT_FALSE(copy_text(four, 4, "abcdef", true));  // no room for text + "..."
  EXPECT_STREQ(four, "abc");
  EXPECT_FALSE(copy_text(nullptr, 4, "abc", true));
}

// ---- dims -----------------------------------------------------------------

TEST(Dims, String) {
  EXPECT_EQ(dims_str(D({1, 3, -1, 640})), "[1,3,-1,640]");
  EXPECT_EQ(dims_str(D({})), "[]");
  trtshim_dims bad{};
  bad.nb = 12;
  EXPECT_EQ(dims_str(bad), "[?nb=12]");
}

TEST(Dims, Valid) {
  std::string why;
  EXPECT_TRUE(dims_valid(D({1, 3, 224, 224}), false, &why));
  EXPECT_TRUE(dims_valid(D({}), false, &why));  // scalars are tensors too
  EXPECT_TRUE(dims_valid(D({0, 3}), false, &why));
  EXPECT_TRUE(dims_valid(D({-1, 3}), true, &why));
  EXPECT_FALSE(dims_valid(D({-1, 3}), false, &why));
  EXPECT_NE(why.find("dimension 0"), std::string::npos) << why;
  EXPECT_FALSE(dims_valid(D({-2, 3}), true, &why));
  trtshim_dims d{};
  d.nb = TRTSHIM_MAX_DIMS + 1;
  EXPECT_FALSE(dims_valid(d, true, &why));
  EXPECT_NE(why.find("nb 9"), std::string::npos) << why;
  d.nb = -1;
  EXPECT_FALSE(dims_valid(d, true, &why));
  d.nb = TRTSHIM_MAX_DIMS;
  EXPECT_TRUE(dims_valid(d, false, nullptr));
}

TEST(Dims, Dynamic) {
  EXPECT_TRUE(dims_has_dynamic(D({-1, 3})));
  EXPECT_FALSE(dims_has_dynamic(D({1, 3})));
  EXPECT_FALSE(dims_has_dynamic(D({})));
}

TEST(Dims, Within) {
  EXPECT_TRUE(dims_within(D({4, 3}), D({1, 3}), D({8, 3})));
  EXPECT_TRUE(dims_within(D({1, 3}), D({1, 3}), D({8, 3})));
  EXPECT_TRUE(dims_within(D({8, 3}), D({1, 3}), D({8, 3})));
  EXPECT_FALSE(dims_within(D({9, 3}), D({1, 3}), D({8, 3})));
  EXPECT_FALSE(dims_within(D({0, 3}), D({1, 3}), D({8, 3})));
  EXPECT_FALSE(dims_within(D({4}), D({1, 3}), D({8, 3})));
}

TEST(Dims, ShapeMatches) {
  std::string why;
  EXPECT_TRUE(shape_matches(D({4, 3, 640, 640}), D({-1, 3, 640, 640}), &why));
  EXPECT_FALSE(shape_matches(D({4, 1, 640, 640}), D({-1, 3, 640, 640}), &why));
  EXPECT_NE(why.find("must be 3"), std::string::npos) << why;
  EXPECT_FALSE(shape_matches(D({4, 3, 640}), D({-1, 3, 640, 640}), &why));
  EXPECT_NE(why.find("rank 3"), std::string::npos) << why;
  EXPECT_FALSE(shape_matches(D({-1, 3, 640, 640}), D({-1, 3, 640, 640}), &why));
}

// ---- enums ------------------------------------------------------------------

TEST(Enums, Ranges) {
  for (int p = TRTSHIM_PRECISION_FP32; p <= TRTSHIM_PRECISION_STRONGLY_TYPED; ++p) EXPECT_TRUE(precision_valid(p));
  EXPECT_FALSE(precision_valid(-1));
  EXPECT_FALSE(precision_valid(5));
  EXPECT_TRUE(hwcompat_valid(TRTSHIM_HWCOMPAT_SAME_COMPUTE_CAPABILITY));
  EXPECT_FALSE(hwcompat_valid(3));
  EXPECT_TRUE(severity_valid(TRTSHIM_LOG_VERBOSE));
  EXPECT_FALSE(severity_valid(5));
  EXPECT_FALSE(severity_valid(-1));
}

TEST(Enums, SeverityFilterKeepsMoreSevere) {
  EXPECT_TRUE(severity_passes(TRTSHIM_LOG_ERROR, TRTSHIM_LOG_WARNING));
  EXPECT_TRUE(severity_passes(TRTSHIM_LOG_WARNING, TRTSHIM_LOG_WARNING));
  EXPECT_FALSE(severity_passes(TRTSHIM_LOG_INFO, TRTSHIM_LOG_WARNING));
  EXPECT_TRUE(severity_passes(TRTSHIM_LOG_VERBOSE, TRTSHIM_LOG_VERBOSE));
  EXPECT_TRUE(severity_passes(TRTSHIM_LOG_INTERNAL_ERROR, TRTSHIM_LOG_INTERNAL_ERROR));
  EXPECT_FALSE(severity_passes(TRTSHIM_LOG_ERROR, TRTSHIM_LOG_INTERNAL_ERROR));
}

// ---- build options ------------------------------------------------------------

TEST(BuildOptions, DefaultsAreValid) {
  trtshim_build_options o = Defaults();
  std::string why;
  EXPECT_EQ(validate_build_options(&o, &why), TRTSHIM_OK) << why;
}

TEST(BuildOptions, Null) {
  std::string why;
  EXPECT_EQ(validate_build_options(nullptr, &why), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(validate_build_options(nullptr, nullptr), TRTSHIM_ERR_INVALID_ARGUMENT);
}

TEST(BuildOptions, RejectsBadScalars) {
  std::string why;
  struct Case {
    const char* what;
    void (*mutate)(trtshim_build_options&);
    const char* needle;
  } cases[] = {
      {"precision", [](trtshim_build_options& o) { o.precision = 7; }, "precision"},
      {"workspace", [](trtshim_build_options& o) { o.workspace_bytes = -1; }, "workspace_bytes"},
      {"opt level high", [](trtshim_build_options& o) { o.optimization_level = 6; }, "optimization_level"},
      {"opt level low", [](trtshim_build_options& o) { o.optimization_level = -2; }, "optimization_level"},
      {"hw compat", [](trtshim_build_options& o) { o.hardware_compat = 9; }, "hardware_compat"},
      {"version compat", [](trtshim_build_options& o) { o.version_compat = 2; }, "version_compat"},
      {"disable tf32", [](trtshim_build_options& o) { o.disable_tf32 = -1; }, "disable_tf32"},
      {"timing cache", [](trtshim_build_options& o) { o.timing_cache_len = 10; }, "timing_cache"},
      {"nb_profile < 0", [](trtshim_build_options& o) { o.nb_profile = -1; }, "nb_profile"},
      {"profile NULL", [](trtshim_build_options& o) { o.nb_profile = 1; }, "profile is NULL"},
  };
  for (const Case& c : cases) {
    trtshim_build_options o = Defaults();
    c.mutate(o);
    EXPECT_EQ(validate_build_options(&o, &why), TRTSHIM_ERR_INVALID_ARGUMENT) << c.what;
    EXPECT_NE(why.find(c.needle), std::string::npos) << c.what << ": " << why;
  }
}

TEST(BuildOptions, AcceptsEdgeValues) {
  trtshim_build_options o = Defaults();
  o.optimization_level = 0;
  o.workspace_bytes = 1LL << 32;
  o.version_compat = 1;
  o.disable_tf32 = 1;
  o.hardware_compat = TRTSHIM_HWCOMPAT_AMPERE_PLUS;
  o.precision = TRTSHIM_PRECISION_STRONGLY_TYPED;
  static const char cache[4] = {1, 2, 3, 4};
  o.timing_cache = cache;
  o.timing_cache_len = sizeof(cache);
  std::string why;
  EXPECT_EQ(validate_build_options(&o, &why), TRTSHIM_OK) << why;
  o.optimization_level = 5;
  o.timing_cache_len = 0;  // a pointer with no bytes: treated as no cache
  EXPECT_EQ(validate_build_options(&o, &why), TRTSHIM_OK) << why;
}

TEST(Profile, ValidEntry) {
  trtshim_profile_dim p[] = {P("images", D({1, 3, 640, 640}), D({8, 3, 640, 640}), D({32, 3, 640, 640}))};
  trtshim_build_options o = Defaults();
  o.profile = p;
  o.nb_profile = 1;
  std::string why;
  EXPECT_EQ(validate_build_options(&o, &why), TRTSHIM_OK) << why;
}

TEST(Profile, RejectsBadEntries) {
  struct Case {
    const char* what;
    trtshim_profile_dim p;
    const char* needle;
  } cases[] = {
      {"no name", P(nullptr, D({1}), D({1}), D({1})), "no input name"},
      {"empty name", P("", D({1}), D({1}), D({1})), "no input name"},
      {"min > opt", P("x", D({4, 3}), D({2, 3}), D({8, 3})), "min <= opt <= max"},
      {"opt > max", P("x", D({1, 3}), D({9, 3}), D({8, 3})), "min <= opt <= max"},
      {"rank differs", P("x", D({1, 3}), D({2, 3}), D({8, 3, 1})), "different ranks"},
      {"dynamic in profile", P("x", D({-1, 3}), D({2, 3}), D({8, 3})), "min"},
      {"negative", P("x", D({1, 3}), D({2, -3}), D({8, 3})), "opt"},
  };
  for (const Case& c : cases) {
    trtshim_build_options o = Defaults();
    o.profile = &c.p;
    o.nb_profile = 1;
    std::string why;
    EXPECT_EQ(validate_build_options(&o, &why), TRTSHIM_ERR_INVALID_ARGUMENT) << c.what;
    EXPECT_NE(why.find(c.needle), std::string::npos) << c.what << ": " << why;
  }
  trtshim_dims big{};
  big.nb = 9;
  trtshim_profile_dim p = P("x", big, big, big);
  trtshim_build_options o = Defaults();
  o.profile = &p;
  o.nb_profile = 1;
  EXPECT_EQ(validate_build_options(&o, nullptr), TRTSHIM_ERR_INVALID_ARGUMENT);
}

TEST(Profile, RejectsDuplicateNames) {
  trtshim_profile_dim p[] = {P("x", D({1}), D({2}), D({3})), P("x", D({1}), D({2}), D({3}))};
  trtshim_build_options o = Defaults();
  o.profile = p;
  o.nb_profile = 2;
  std::string why;
  EXPECT_EQ(validate_build_options(&o, &why), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(why.find("twice"), std::string::npos) << why;
}

TEST(Profile, MatchesNetworkInputs) {
  std::vector<NetInput> inputs = {In("images", D({-1, 3, 640, 640})), In("scale", D({1}))};
  trtshim_profile_dim p[] = {P("images", D({1, 3, 640, 640}), D({8, 3, 640, 640}), D({32, 3, 640, 640}))};
  std::string why;
  EXPECT_EQ(check_profile_against_inputs(inputs, p, 1, &why), TRTSHIM_OK) << why;
}

TEST(Profile, StaticNetworkNeedsNoProfile) {
  std::vector<NetInput> inputs = {In("images", D({1, 3, 224, 224}))};
  std::string why;
  EXPECT_EQ(check_profile_against_inputs(inputs, nullptr, 0, &why), TRTSHIM_OK) << why;
  // ...but may have one that pins the same shape.
  trtshim_profile_dim p[] = {P("images", D({1, 3, 224, 224}), D({1, 3, 224, 224}), D({1, 3, 224, 224}))};
  EXPECT_EQ(check_profile_against_inputs(inputs, p, 1, &why), TRTSHIM_OK) << why;
}

TEST(Profile, DynamicInputWithoutEntry) {
  std::vector<NetInput> inputs = {In("images", D({-1, 3, 640, 640}))};
  std::string why;
  EXPECT_EQ(check_profile_against_inputs(inputs, nullptr, 0, &why), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(why.find("'images'"), std::string::npos) << why;
  EXPECT_NE(why.find("needs a profile"), std::string::npos) << why;
}

TEST(Profile, UnknownInputName) {
  std::vector<NetInput> inputs = {In("images", D({-1, 3, 640, 640}))};
  trtshim_profile_dim p[] = {P("image", D({1, 3, 640, 640}), D({8, 3, 640, 640}), D({32, 3, 640, 640}))};
  std::string why;
  EXPECT_EQ(check_profile_against_inputs(inputs, p, 1, &why), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(why.find("'image'"), std::string::npos) << why;
  EXPECT_NE(why.find("images[-1,3,640,640]"), std::string::npos) << why;  // lists what exists
}

TEST(Profile, RankMismatch) {
  std::vector<NetInput> inputs = {In("images", D({-1, 3, 640, 640}))};
  trtshim_profile_dim p[] = {P("images", D({1, 3, 640}), D({8, 3, 640}), D({32, 3, 640}))};
  std::string why;
  EXPECT_EQ(check_profile_against_inputs(inputs, p, 1, &why), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(why.find("rank 3"), std::string::npos) << why;
}

TEST(Profile, StaticDimensionMustNotVary) {
  std::vector<NetInput> inputs = {In("images", D({-1, 3, 640, 640}))};
  trtshim_profile_dim p[] = {P("images", D({1, 3, 320, 320}), D({8, 3, 640, 640}), D({32, 3, 640, 640}))};
  std::string why;
  EXPECT_EQ(check_profile_against_inputs(inputs, p, 1, &why), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(why.find("dimension 2 is fixed at 640"), std::string::npos) << why;
}

TEST(Profile, ShapeTensorsAreUnsupported) {
  std::vector<NetInput> inputs = {In("images", D({-1, 3, 64, 64})), In("size", D({-1}), true)};
  trtshim_profile_dim p[] = {P("images", D({1, 3, 64, 64}), D({1, 3, 64, 64}), D({2, 3, 64, 64}))};
  std::string why;
  EXPECT_EQ(check_profile_against_inputs(inputs, p, 1, &why), TRTSHIM_ERR_UNSUPPORTED);
  EXPECT_NE(why.find("shape tensor"), std::string::npos) << why;
  trtshim_profile_dim q[] = {P("size", D({2}), D({2}), D({2}))};
  EXPECT_EQ(check_profile_against_inputs(inputs, q, 1, &why), TRTSHIM_ERR_UNSUPPORTED);
}

TEST(Profile, BadList) {
  std::vector<NetInput> inputs;
  EXPECT_EQ(check_profile_against_inputs(inputs, nullptr, 1, nullptr), TRTSHIM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(check_profile_against_inputs(inputs, nullptr, -1, nullptr), TRTSHIM_ERR_INVALID_ARGUMENT);
}

// ---- data-dependent fallback --------------------------------------------------

TEST(DataDependent, StaticOutputIsNot) {
  EXPECT_FALSE(guess_data_dependent(D({1, 1000}), {D({1, 3, 224, 224})}));
}

TEST(DataDependent, BatchOnlyFollowsInputs) {
  EXPECT_FALSE(guess_data_dependent(D({-1, 1000}), {D({-1, 3, 224, 224})}));
}

TEST(DataDependent, NonBatchDimWithBatchOnlyInputs) {
  // e.g. NMS: [batch, num_boxes, 6] where num_boxes depends on scores.
  EXPECT_TRUE(guess_data_dependent(D({-1, -1, 6}), {D({-1, 3, 640, 640})}));
}

TEST(DataDependent, AnyDynamicOutputOfStaticInputs) {
  EXPECT_TRUE(guess_data_dependent(D({-1, 6}), {D({1, 3, 640, 640})}));
  EXPECT_TRUE(guess_data_dependent(D({-1}), {}));
}

TEST(DataDependent, DynamicSpatialInputsExplainOutputs) {
  EXPECT_FALSE(guess_data_dependent(D({-1, 21, -1, -1}), {D({-1, 3, -1, -1})}));
}

// ---- error capture (issue 15, defect 12: errors TensorRT logs on its worker
// threads during a build used to be lost, leaving "(see the log)") ----------

TEST(ErrorCapture, WorkerThreadErrorsReachTheWideCall) {
  ErrorCapture build;
  {
    CaptureScope scope(build, Reach::kWorkersExclusive);
    record_error("on the calling thread");
    // A TensorRT worker: a thread inside no export.
    std::thread([] { record_error("on a worker thread"); }).join();
  }
  EXPECT_EQ(build.text(), "on the calling thread; on a worker thread");
  EXPECT_EQ(build.count(), 2u);
  // After the call, a stray worker error goes nowhere (and does not crash).
  std::thread([] { record_error("late"); }).join();
  EXPECT_EQ(build.count(), 2u);
  EXPECT_EQ(current_capture(), nullptr);
}

TEST(ErrorCapture, ConcurrentExportsKeepTheirOwnErrors) {
  ErrorCapture build, enqueue;
  std::atomic<bool> in_build{false}, done{false};
  std::thread builder([&] {
    CaptureScope scope(build, Reach::kWorkersExclusive);
    in_build = true;
    while (!done) std::this_thread::yield();
    record_error("build error");
  });
  while (!in_build) std::this_thread::yield();
  {
    // Another export (say an enqueue) on this thread while the build runs.
    CaptureScope scope(enqueue, Reach::kOwnThread);
    record_error("enqueue error");
    EXPECT_EQ(current_capture(), &enqueue);
  }
  std::thread([] { record_error("worker error"); }).join();
  done = true;
  builder.join();
  EXPECT_EQ(enqueue.text(), "enqueue error");
  EXPECT_EQ(build.text(), "worker error; build error");
}

TEST(ErrorCapture, ExclusiveScopesRunOneAtATime) {
  ErrorCapture first, second;
  std::atomic<int> order{0};
  std::atomic<bool> first_in{false};
  int second_saw = -1;
  std::thread a([&] {
    CaptureScope scope(first, Reach::kWorkersExclusive);
    first_in = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::thread([] { record_error("worker of the first"); }).join();
    order = 1;
  });
  while (!first_in) std::this_thread::yield();
  std::thread b([&] {
    CaptureScope scope(second, Reach::kWorkersExclusive);  // waits for the first to end
    second_saw = order.load();
    std::thread([] { record_error("worker of the second"); }).join();
  });
  a.join();
  b.join();
  EXPECT_EQ(second_saw, 1);
  EXPECT_EQ(first.text(), "worker of the first");
  EXPECT_EQ(second.text(), "worker of the second");
}

// Loads are not serialized (a cached engine must not wait for another
// model's build): a worker error while two run reaches both, never neither.
TEST(ErrorCapture, ConcurrentLoadsBothGetAWorkerError) {
  ErrorCapture a, b;
  std::atomic<int> in{0};
  std::atomic<bool> done{false};
  auto load = [&](ErrorCapture& c) {
    CaptureScope scope(c, Reach::kWorkers);
    ++in;
    while (!done) std::this_thread::yield();
  };
  std::thread ta(load, std::ref(a)), tb(load, std::ref(b));
  while (in < 2) std::this_thread::yield();
  std::thread([] { record_error("worker"); }).join();
  done = true;
  ta.join();
  tb.join();
  EXPECT_EQ(a.text(), "worker");
  EXPECT_EQ(b.text(), "worker");
}

TEST(ErrorCapture, CapAndNesting) {
  ErrorCapture outer, inner;
  CaptureScope o(outer, Reach::kOwnThread);
  {
    CaptureScope i(inner, Reach::kOwnThread);
    record_error("inner");
  }
  std::string big(ErrorCapture::kMaxBytes, 'x');
  record_error(big.c_str());
  record_error("dropped: over the cap");
  EXPECT_EQ(inner.text(), "inner");
  EXPECT_EQ(outer.text().size(), ErrorCapture::kMaxBytes);
  EXPECT_EQ(outer.count(), 2u);
  outer.clear();
  EXPECT_EQ(outer.count(), 0u);
  EXPECT_EQ(outer.text(), "");
}
