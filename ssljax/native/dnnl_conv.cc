// The kernel gradient of a 2-D convolution on oneDNN, as an XLA FFI handler (CPU).
//
//   dW[i, j, c, o] = sum_{n, h, w} x_pad[n, h*sh + i, w*sw + j, c] * g[n, h, w, o]
//
// x: float32 NHWC input [N, H, W, C]; g: float32 NHWC output gradient [N, Ho, Wo, O];
// result: float32 HWIO kernel gradient [kh, kw, C, O]. Attributes: the strides and the
// top/left padding (the bottom/right padding follows from the shapes; oneDNN takes it
// negative where the last input rows are never read) and the OpenMP threads to use.
// oneDNN's direct convolution
// backward-weights primitive (`convolution_backward_weights`, built once per shape and
// cached, executed with a scratchpad of each call's own so that devices may share it) does
// the work; its result is reordered to HWIO when it picks a blocked layout.
//
// Built by scripts/build_native.sh against Debian's libdnnl-dev and the XLA FFI headers
// that jaxlib ships (`jax.ffi.include_dir()`); loaded by ssljax/models/native.py.
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <omp.h>

#include "dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using Key = std::array<int64_t, 13>;

struct Primitive {
  dnnl::convolution_backward_weights wgrad;
  dnnl::memory::desc src, diff_dst, diff_weights, hwio, scratchpad, reorder_scratchpad;
  bool reorder_needed = false;
  dnnl::reorder to_hwio;
};

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

std::mutex cache_mutex;
std::map<Key, std::shared_ptr<Primitive>>& Cache() {
  static auto* cache = new std::map<Key, std::shared_ptr<Primitive>>();
  return *cache;
}

std::shared_ptr<Primitive> Build(const Key& k) {
  const auto [n, h, w, c, ho, wo, o, kh, kw, sh, sw, pt, pl] = k;
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  auto p = std::make_shared<Primitive>();
  // oneDNN's logical dimensions are always N, C, H, W (and O, I, H, W); the tags say
  // how they lie in memory.
  p->src = dnnl::memory::desc({n, c, h, w}, dt::f32, tag::nhwc);
  p->diff_dst = dnnl::memory::desc({n, o, ho, wo}, dt::f32, tag::nhwc);
  p->hwio = dnnl::memory::desc({o, c, kh, kw}, dt::f32, tag::hwio);
  dnnl::memory::desc any_weights({o, c, kh, kw}, dt::f32, tag::any);
  const dnnl::memory::dims strides{sh, sw}, pad_l{pt, pl},
      pad_r{(ho - 1) * sh + kh - h - pt, (wo - 1) * sw + kw - w - pl};
  auto fwd = dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                      dnnl::algorithm::convolution_direct, p->src,
                                      any_weights, p->diff_dst, strides, pad_l, pad_r),
      Engine());
  // The scratchpad is the caller's (one per call): the devices' threads execute the same
  // cached primitive at once, which a library-owned scratchpad does not allow.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto bwd = dnnl::convolution_backward_weights::primitive_desc(
      dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, p->src,
                                               any_weights, p->diff_dst, strides, pad_l,
                                               pad_r),
      attr, Engine(), fwd);
  p->wgrad = dnnl::convolution_backward_weights(bwd);
  p->scratchpad = bwd.scratchpad_desc();
  p->diff_weights = bwd.diff_weights_desc();
  p->reorder_needed = p->diff_weights != p->hwio;
  if (p->reorder_needed) {
    auto reorder_pd = dnnl::reorder::primitive_desc(Engine(), p->diff_weights, Engine(),
                                                    p->hwio, attr);
    p->to_hwio = dnnl::reorder(reorder_pd);
    p->reorder_scratchpad = reorder_pd.scratchpad_desc();
  }
  return p;
}

std::shared_ptr<Primitive> Get(const Key& k) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto& cache = Cache();
  auto it = cache.find(k);
  if (it != cache.end()) return it->second;
  auto p = Build(k);
  cache.emplace(k, p);
  return p;
}

ffi::Error KernelGradient(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> g,
                          ffi::ResultBuffer<ffi::F32> dw, int64_t stride_h, int64_t stride_w,
                          int64_t pad_top, int64_t pad_left, int64_t threads) {
  // XLA runs the program of every local device on its own thread, and each call opens an
  // OpenMP team: `threads` (the cores per local device) keeps them from oversubscribing
  // the CPU, where spinning teams would starve the devices that wait in a collective.
  omp_set_num_threads(static_cast<int>(threads > 0 ? threads : 1));
  const auto xd = x.dimensions(), gd = g.dimensions(), wd = dw->dimensions();
  if (xd.size() != 4 || gd.size() != 4 || wd.size() != 4 || xd[0] != gd[0] ||
      wd[2] != xd[3] || wd[3] != gd[3]) {
    return ffi::Error::InvalidArgument(
        "ssljax_conv_kernel_gradient: expects x [N, H, W, C], g [N, Ho, Wo, O] and a "
        "[kh, kw, C, O] result");
  }
  const Key k{xd[0], xd[1], xd[2], xd[3], gd[1], gd[2], gd[3],
              wd[0], wd[1], stride_h, stride_w, pad_top, pad_left};
  try {
    const auto p = Get(k);
    dnnl::stream stream(Engine());
    dnnl::memory src(p->src, Engine(), x.typed_data());
    dnnl::memory diff_dst(p->diff_dst, Engine(), g.typed_data());
    dnnl::memory out(p->hwio, Engine(), dw->typed_data());
    dnnl::memory scratchpad(p->scratchpad, Engine());
    dnnl::memory weights = p->reorder_needed ? dnnl::memory(p->diff_weights, Engine()) : out;
    p->wgrad.execute(stream, {{DNNL_ARG_SRC, src},
                              {DNNL_ARG_DIFF_DST, diff_dst},
                              {DNNL_ARG_DIFF_WEIGHTS, weights},
                              {DNNL_ARG_SCRATCHPAD, scratchpad}});
    if (p->reorder_needed) {
      dnnl::memory reorder_scratchpad(p->reorder_scratchpad, Engine());
      p->to_hwio.execute(stream, {{DNNL_ARG_FROM, weights},
                                  {DNNL_ARG_TO, out},
                                  {DNNL_ARG_SCRATCHPAD, reorder_scratchpad}});
    }
    stream.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("ssljax_conv_kernel_gradient: oneDNN: ") +
                                e.what());
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SsljaxConvKernelGradient, KernelGradient,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("stride_h")
                                  .Attr<int64_t>("stride_w")
                                  .Attr<int64_t>("pad_top")
                                  .Attr<int64_t>("pad_left")
                                  .Attr<int64_t>("threads"));
