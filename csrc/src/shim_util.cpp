// shim_util.cpp — see shim_util.h. No TensorRT, no CUDA.
#include "shim_util.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <set>

namespace trtshim_internal {

const char* status_name(trtshim_status s) noexcept {
  switch (s) {
    case TRTSHIM_OK: return "TRTSHIM_OK";
    case TRTSHIM_ERR_INVALID_ARGUMENT: return "TRTSHIM_ERR_INVALID_ARGUMENT";
    case TRTSHIM_ERR_UNSUPPORTED: return "TRTSHIM_ERR_UNSUPPORTED";
    case TRTSHIM_ERR_PARSE: return "TRTSHIM_ERR_PARSE";
    case TRTSHIM_ERR_BUILD: return "TRTSHIM_ERR_BUILD";
    case TRTSHIM_ERR_CANCELLED: return "TRTSHIM_ERR_CANCELLED";
    case TRTSHIM_ERR_DESERIALIZE: return "TRTSHIM_ERR_DESERIALIZE";
    case TRTSHIM_ERR_SHAPE: return "TRTSHIM_ERR_SHAPE";
    case TRTSHIM_ERR_NOT_FOUND: return "TRTSHIM_ERR_NOT_FOUND";
    case TRTSHIM_ERR_RUNTIME: return "TRTSHIM_ERR_RUNTIME";
    case TRTSHIM_ERR_OUT_OF_MEMORY: return "TRTSHIM_ERR_OUT_OF_MEMORY";
    case TRTSHIM_ERR_INTERNAL: return "TRTSHIM_ERR_INTERNAL";
    default: return "TRTSHIM_ERR_UNKNOWN";
  }
}

namespace {

// Length of the longest prefix of s[0..n) that does not end inside a UTF-8
// multi-byte sequence. Only the tail is inspected: at most 3 continuation
// bytes can precede the cut.
size_t utf8_safe_prefix(const char* s, size_t n) noexcept {
  if (n == 0) return 0;
  size_t i = n;
  size_t cont = 0;
  while (i > 0 && cont < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++cont;
  }
  if (i == 0) return n;  // no lead byte: not UTF-8 we understand, cut as is
  unsigned char lead = static_cast<unsigned char>(s[i - 1]);
  size_t need;
  if (lead < 0x80) return n;  // ASCII before the continuation run (or none)
  if ((lead & 0xE0) == 0xC0) need = 1;
  else if ((lead & 0xF0) == 0xE0) need = 2;
  else if ((lead & 0xF8) == 0xF0) need = 3;
  else return n;  // invalid lead byte: leave the bytes alone
  return cont >= need ? n : i - 1;  // sequence complete, or drop it whole
}

}  // namespace

bool copy_text(char* dst, size_t cap, const char* src, bool mark) noexcept {
  if (dst == nullptr || cap == 0) return false;
  if (src == nullptr) src = "";
  size_t len = std::strlen(src);
  if (len < cap) {
    std::memcpy(dst, src, len + 1);
    return true;
  }
  static const char kMark[] = "...";
  const size_t mark_len = (mark && cap > sizeof(kMark)) ? sizeof(kMark) - 1 : 0;
  size_t keep = utf8_safe_prefix(src, cap - 1 - mark_len);
  std::memcpy(dst, src, keep);
  std::memcpy(dst + keep, kMark, mark_len);
  dst[keep + mark_len] = '\0';
  return false;
}

trtshim_status fail(trtshim_err* err, trtshim_status code, const std::string& msg) noexcept {
  if (err != nullptr) {
    err->code = code;
    copy_text(err->msg, sizeof(err->msg), msg.c_str(), true);
  }
  return code;
}

trtshim_status failf(trtshim_err* err, trtshim_status code, const char* fmt, ...) noexcept {
  if (err != nullptr) {
    err->code = code;
    // Format into a buffer larger than msg so that fail()'s truncation (with
    // its "..." marker and UTF-8 care) decides the cut, not vsnprintf.
    char buf[TRTSHIM_ERR_LEN * 2];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) buf[0] = '\0';
    // buf is twice msg's size, so an over-long result is cut (and marked)
    // below even when vsnprintf had to cut it first.
    copy_text(err->msg, sizeof(err->msg), buf, true);
  }
  return code;
}

// ---- error capture ------------------------------------------------------

void ErrorCapture::add(const char* msg) noexcept {
  if (msg == nullptr) msg = "";
  std::lock_guard<std::mutex> l(mu_);
  ++count_;
  try {
    if (text_.size() >= kMaxBytes) return;
    if (!text_.empty()) text_ += "; ";
    text_.append(msg, std::min(std::strlen(msg), kMaxBytes - std::min(text_.size(), kMaxBytes)));
  } catch (...) {
    // Out of memory while recording an error: this line is lost, the log
    // line itself still goes out.
  }
}

std::string ErrorCapture::text() const {
  std::lock_guard<std::mutex> l(mu_);
  return text_;
}

size_t ErrorCapture::count() const noexcept {
  std::lock_guard<std::mutex> l(mu_);
  return count_;
}

void ErrorCapture::clear() noexcept {
  std::lock_guard<std::mutex> l(mu_);
  text_.clear();
  count_ = 0;
}

namespace {
thread_local ErrorCapture* t_capture = nullptr;
// g_wide_mu guards g_wide, the captures of the wide scopes running;
// g_exclusive is held for an exclusive scope's whole life. Two mutexes: a
// worker thread's record_error must not wait for a build to end.
std::mutex g_wide_mu;
std::vector<ErrorCapture*> g_wide;
std::mutex g_exclusive;
}  // namespace

CaptureScope::CaptureScope(ErrorCapture& c, Reach reach)
    : prev_(t_capture), capture_(&c), wide_(reach != Reach::kOwnThread) {
  if (reach == Reach::kWorkersExclusive) serial_ = std::unique_lock<std::mutex>(g_exclusive);
  if (wide_) {
    std::lock_guard<std::mutex> l(g_wide_mu);
    g_wide.push_back(&c);  // may throw bad_alloc: the scope then never existed
  }
  t_capture = &c;
}

CaptureScope::~CaptureScope() {
  t_capture = prev_;
  if (wide_) {
    std::lock_guard<std::mutex> l(g_wide_mu);
    g_wide.erase(std::find(g_wide.begin(), g_wide.end(), capture_));
  }
}

void record_error(const char* msg) noexcept {
  if (ErrorCapture* c = t_capture) {
    c->add(msg);
    return;
  }
  std::lock_guard<std::mutex> l(g_wide_mu);
  for (ErrorCapture* c : g_wide) c->add(msg);
}

ErrorCapture* current_capture() noexcept { return t_capture; }

std::string dims_str(const trtshim_dims& d) {
  if (d.nb < 0 || d.nb > TRTSHIM_MAX_DIMS) return "[?nb=" + std::to_string(d.nb) + "]";
  std::string s = "[";
  for (int32_t i = 0; i < d.nb; ++i) {
    if (i > 0) s += ",";
    s += std::to_string(d.d[i]);
  }
  return s + "]";
}

bool dims_valid(const trtshim_dims& d, bool allow_dynamic, std::string* why) {
  if (d.nb < 0 || d.nb > TRTSHIM_MAX_DIMS) {
    if (why) *why = "nb " + std::to_string(d.nb) + " is outside 0.." + std::to_string(TRTSHIM_MAX_DIMS);
    return false;
  }
  for (int32_t i = 0; i < d.nb; ++i) {
    if (d.d[i] >= 0) continue;
    if (d.d[i] == -1 && allow_dynamic) continue;
    if (why) {
      *why = "dimension " + std::to_string(i) + " of " + dims_str(d) + " is " + std::to_string(d.d[i]) +
             (allow_dynamic ? " (must be >= 0, or -1 for dynamic)" : " (must be >= 0)");
    }
    return false;
  }
  return true;
}

bool dims_has_dynamic(const trtshim_dims& d) noexcept {
  if (d.nb < 0 || d.nb > TRTSHIM_MAX_DIMS) return false;
  for (int32_t i = 0; i < d.nb; ++i)
    if (d.d[i] < 0) return true;
  return false;
}

bool dims_within(const trtshim_dims& d, const trtshim_dims& min, const trtshim_dims& max) noexcept {
  if (d.nb != min.nb || d.nb != max.nb || d.nb < 0 || d.nb > TRTSHIM_MAX_DIMS) return false;
  for (int32_t i = 0; i < d.nb; ++i)
    if (d.d[i] < min.d[i] || d.d[i] > max.d[i]) return false;
  return true;
}

bool shape_matches(const trtshim_dims& concrete, const trtshim_dims& shape, std::string* why) {
  std::string w;
  if (!dims_valid(concrete, false, &w)) {
    if (why) *why = w;
    return false;
  }
  if (concrete.nb != shape.nb) {
    if (why) *why = "rank " + std::to_string(concrete.nb) + " " + dims_str(concrete) + ", engine expects rank " +
                    std::to_string(shape.nb) + " " + dims_str(shape);
    return false;
  }
  for (int32_t i = 0; i < shape.nb; ++i) {
    if (shape.d[i] >= 0 && concrete.d[i] != shape.d[i]) {
      if (why) *why = "dimension " + std::to_string(i) + " of " + dims_str(concrete) + " must be " +
                      std::to_string(shape.d[i]) + " (engine shape " + dims_str(shape) + ")";
      return false;
    }
  }
  return true;
}

bool precision_valid(int32_t p) noexcept {
  return p >= TRTSHIM_PRECISION_FP32 && p <= TRTSHIM_PRECISION_STRONGLY_TYPED;
}

bool hwcompat_valid(int32_t h) noexcept {
  return h >= TRTSHIM_HWCOMPAT_NONE && h <= TRTSHIM_HWCOMPAT_SAME_COMPUTE_CAPABILITY;
}

bool severity_valid(int32_t s) noexcept { return s >= TRTSHIM_LOG_INTERNAL_ERROR && s <= TRTSHIM_LOG_VERBOSE; }

bool severity_passes(int32_t sev, int32_t max_severity) noexcept { return sev <= max_severity; }

namespace {

// One profile entry on its own; `where` names it in messages.
bool profile_entry_valid(const trtshim_profile_dim& p, const std::string& where, std::string* why) {
  std::string w;
  const trtshim_dims* sel[3] = {&p.min, &p.opt, &p.max};
  const char* sel_name[3] = {"min", "opt", "max"};
  for (int k = 0; k < 3; ++k) {
    if (!dims_valid(*sel[k], false, &w)) {
      *why = where + ": " + sel_name[k] + " " + w;
      return false;
    }
  }
  if (p.min.nb != p.opt.nb || p.min.nb != p.max.nb) {
    *why = where + ": min/opt/max have different ranks (" + dims_str(p.min) + ", " + dims_str(p.opt) + ", " +
           dims_str(p.max) + ")";
    return false;
  }
  for (int32_t i = 0; i < p.min.nb; ++i) {
    if (!(p.min.d[i] <= p.opt.d[i] && p.opt.d[i] <= p.max.d[i])) {
      *why = where + ": dimension " + std::to_string(i) + " needs min <= opt <= max, got " +
             std::to_string(p.min.d[i]) + ", " + std::to_string(p.opt.d[i]) + ", " + std::to_string(p.max.d[i]);
      return false;
    }
  }
  return true;
}

}  // namespace

trtshim_status validate_build_options(const trtshim_build_options* o, std::string* why) {
  std::string local;
  if (why == nullptr) why = &local;
  if (o == nullptr) {
    *why = "build options are NULL";
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (!precision_valid(o->precision)) {
    *why = "unknown precision " + std::to_string(o->precision);
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (o->workspace_bytes < 0) {
    *why = "workspace_bytes " + std::to_string(o->workspace_bytes) + " is negative (0 = TensorRT's default)";
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (o->optimization_level != -1 && (o->optimization_level < 0 || o->optimization_level > 5)) {
    *why = "optimization_level " + std::to_string(o->optimization_level) + " is outside 0..5 (-1 = default)";
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (!hwcompat_valid(o->hardware_compat)) {
    *why = "unknown hardware_compat " + std::to_string(o->hardware_compat);
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (o->version_compat != 0 && o->version_compat != 1) {
    *why = "version_compat must be 0 or 1, got " + std::to_string(o->version_compat);
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (o->disable_tf32 != 0 && o->disable_tf32 != 1) {
    *why = "disable_tf32 must be 0 or 1, got " + std::to_string(o->disable_tf32);
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (o->timing_cache == nullptr && o->timing_cache_len != 0) {
    *why = "timing_cache is NULL but timing_cache_len is " + std::to_string(o->timing_cache_len);
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (o->nb_profile < 0) {
    *why = "nb_profile " + std::to_string(o->nb_profile) + " is negative";
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  if (o->nb_profile > 0 && o->profile == nullptr) {
    *why = "profile is NULL but nb_profile is " + std::to_string(o->nb_profile);
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  std::set<std::string> seen;
  for (int32_t i = 0; i < o->nb_profile; ++i) {
    const trtshim_profile_dim& p = o->profile[i];
    if (p.name == nullptr || p.name[0] == '\0') {
      *why = "profile entry " + std::to_string(i) + " has no input name";
      return TRTSHIM_ERR_INVALID_ARGUMENT;
    }
    std::string where = "profile for input '" + std::string(p.name) + "'";
    if (!seen.insert(p.name).second) {
      *why = where + " is given twice";
      return TRTSHIM_ERR_INVALID_ARGUMENT;
    }
    if (!profile_entry_valid(p, where, why)) return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  return TRTSHIM_OK;
}

trtshim_status check_profile_against_inputs(const std::vector<NetInput>& inputs,
                                            const trtshim_profile_dim* profile, int32_t nb_profile,
                                            std::string* why) {
  std::string local;
  if (why == nullptr) why = &local;
  if (nb_profile < 0 || (nb_profile > 0 && profile == nullptr)) {
    *why = "invalid profile list";
    return TRTSHIM_ERR_INVALID_ARGUMENT;
  }
  auto find_input = [&](const char* name) -> const NetInput* {
    for (const NetInput& in : inputs)
      if (in.name == name) return &in;
    return nullptr;
  };
  auto find_entry = [&](const std::string& name) -> const trtshim_profile_dim* {
    for (int32_t i = 0; i < nb_profile; ++i)
      if (profile[i].name != nullptr && name == profile[i].name) return &profile[i];
    return nullptr;
  };
  auto input_names = [&]() {
    std::string s;
    for (const NetInput& in : inputs) s += (s.empty() ? "" : ", ") + in.name + dims_str(in.dims);
    return s.empty() ? std::string("none") : s;
  };

  for (int32_t i = 0; i < nb_profile; ++i) {
    const trtshim_profile_dim& p = profile[i];
    if (p.name == nullptr) {
      *why = "profile entry " + std::to_string(i) + " has no input name";
      return TRTSHIM_ERR_INVALID_ARGUMENT;
    }
    const NetInput* in = find_input(p.name);
    if (in == nullptr) {
      *why = "profile names '" + std::string(p.name) + "', which is not an input of the model (inputs: " +
             input_names() + ")";
      return TRTSHIM_ERR_INVALID_ARGUMENT;
    }
    if (in->shape_tensor) {
      *why = "input '" + in->name + "' is a shape tensor; profiles for shape-tensor values are not supported";
      return TRTSHIM_ERR_UNSUPPORTED;
    }
    if (p.min.nb != in->dims.nb) {
      *why = "profile for input '" + in->name + "' has rank " + std::to_string(p.min.nb) + " " +
             dims_str(p.min) + ", the model's input has rank " + std::to_string(in->dims.nb) + " " +
             dims_str(in->dims);
      return TRTSHIM_ERR_INVALID_ARGUMENT;
    }
    for (int32_t k = 0; k < in->dims.nb; ++k) {
      int64_t fixed = in->dims.d[k];
      if (fixed < 0) continue;
      if (p.min.d[k] != fixed || p.opt.d[k] != fixed || p.max.d[k] != fixed) {
        *why = "profile for input '" + in->name + "': dimension " + std::to_string(k) + " is fixed at " +
               std::to_string(fixed) + " in the model " + dims_str(in->dims) + " but the profile gives " +
               dims_str(p.min) + ".." + dims_str(p.max);
        return TRTSHIM_ERR_INVALID_ARGUMENT;
      }
    }
  }
  for (const NetInput& in : inputs) {
    if (!dims_has_dynamic(in.dims)) continue;
    if (in.shape_tensor) {
      *why = "input '" + in.name + "' is a dynamic shape tensor; profiles for shape-tensor values are not supported";
      return TRTSHIM_ERR_UNSUPPORTED;
    }
    if (find_entry(in.name) == nullptr) {
      *why = "input '" + in.name + "' has dynamic shape " + dims_str(in.dims) +
             " and needs a profile entry (min/opt/max)";
      return TRTSHIM_ERR_INVALID_ARGUMENT;
    }
  }
  return TRTSHIM_OK;
}

bool guess_data_dependent(const trtshim_dims& output, const std::vector<trtshim_dims>& inputs) noexcept {
  if (!dims_has_dynamic(output)) return false;
  bool any_input_dynamic = false;
  bool input_dynamic_beyond_batch = false;
  for (const trtshim_dims& in : inputs) {
    if (in.nb < 0 || in.nb > TRTSHIM_MAX_DIMS) continue;
    for (int32_t i = 0; i < in.nb; ++i) {
      if (in.d[i] >= 0) continue;
      any_input_dynamic = true;
      if (i > 0) input_dynamic_beyond_batch = true;
    }
  }
  // Nothing about the inputs varies, yet the output does: values decide it.
  if (!any_input_dynamic) return true;
  if (input_dynamic_beyond_batch) return false;  // can't tell; assume shapes explain it
  for (int32_t i = 1; i < output.nb; ++i)
    if (output.d[i] < 0) return true;
  return false;
}

}  // namespace trtshim_internal
