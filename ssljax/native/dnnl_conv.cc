// A 2-D convolution and both of its gradients on oneDNN, as XLA FFI handlers (CPU).
//
//   forward          y[n, h, w, o]  = sum_{i, j, c} x_pad[n, h*sh + i, w*sw + j, c] W[i, j, c, o]
//   input gradient   dx = the transpose of the forward in x, applied to g = dL/dy
//   kernel gradient  dW[i, j, c, o] = sum_{n, h, w} x_pad[n, h*sh + i, w*sw + j, c] g[n, h, w, o]
//
// Layouts are JAX's: float32 NHWC images [N, H, W, C] and outputs / output gradients
// [N, Ho, Wo, O]; HWIO kernels [kh, kw, C, O]. Attributes: the strides and the top/left
// padding (the bottom/right padding follows from the shapes; oneDNN takes it negative where
// the last input rows are never read) and the OpenMP threads of the call.
//
// Each call runs oneDNN's direct convolution primitive of its kind (forward_training,
// backward_data, backward_weights), built once per shape and cached. Kernels go in and out
// through a reorder from / to HWIO where the primitive picks a blocked layout (oneDNN's
// fast kernels do). Every call has its own scratchpad and reordered kernel: the devices'
// threads execute the same cached primitive at once, which a library-owned scratchpad does
// not allow.
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

enum Kind : int64_t { kForward = 0, kInputGradient = 1, kKernelGradient = 2 };

// kind, N, H, W, C, Ho, Wo, O, kh, kw, sh, sw, pad top, pad left
using Key = std::array<int64_t, 14>;

struct Primitive {
  dnnl::primitive prim;
  dnnl::memory::desc image, out, hwio, weights, scratchpad, reorder_scratchpad;
  bool reorder_needed = false;
  dnnl::reorder reorder;  // HWIO -> weights (forward, input gradient) or back (kernel gradient)
};

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

std::shared_ptr<Primitive> Build(const Key& k) {
  const auto [kind, n, h, w, c, ho, wo, o, kh, kw, sh, sw, pt, pl] = k;
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  using conv = dnnl::convolution_forward;
  auto p = std::make_shared<Primitive>();
  // oneDNN's logical dimensions are always N, C, H, W (and O, I, H, W); the tags say how
  // they lie in memory.
  p->image = dnnl::memory::desc({n, c, h, w}, dt::f32, tag::nhwc);
  p->out = dnnl::memory::desc({n, o, ho, wo}, dt::f32, tag::nhwc);
  p->hwio = dnnl::memory::desc({o, c, kh, kw}, dt::f32, tag::hwio);
  const dnnl::memory::desc any_weights({o, c, kh, kw}, dt::f32, tag::any);
  const dnnl::memory::dims strides{sh, sw}, pad_l{pt, pl},
      pad_r{(ho - 1) * sh + kh - h - pt, (wo - 1) * sw + kw - w - pl};
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const auto direct = dnnl::algorithm::convolution_direct;
  using bwd_data = dnnl::convolution_backward_data;
  using bwd_weights = dnnl::convolution_backward_weights;
#if DNNL_VERSION_MAJOR >= 3  // primitive descriptors take the shapes directly
  const auto fwd = conv::primitive_desc(Engine(), dnnl::prop_kind::forward_training, direct,
                                        p->image, any_weights, p->out, strides, pad_l, pad_r,
                                        attr);
#else  // oneDNN 2: through an operation descriptor
  const auto fwd = conv::primitive_desc(
      conv::desc(dnnl::prop_kind::forward_training, direct, p->image, any_weights, p->out,
                 strides, pad_l, pad_r),
      attr, Engine());
#endif
  if (kind == kForward) {
    p->prim = conv(fwd);
    p->weights = fwd.weights_desc();
    p->scratchpad = fwd.scratchpad_desc();
  } else if (kind == kInputGradient) {
#if DNNL_VERSION_MAJOR >= 3
    const auto bwd = bwd_data::primitive_desc(Engine(), direct, p->image, any_weights, p->out,
                                              strides, pad_l, pad_r, fwd, attr);
#else
    const auto bwd = bwd_data::primitive_desc(
        bwd_data::desc(direct, p->image, any_weights, p->out, strides, pad_l, pad_r), attr,
        Engine(), fwd);
#endif
    p->prim = bwd_data(bwd);
    p->weights = bwd.weights_desc();
    p->scratchpad = bwd.scratchpad_desc();
  } else {
#if DNNL_VERSION_MAJOR >= 3
    const auto bwd = bwd_weights::primitive_desc(Engine(), direct, p->image, any_weights,
                                                 p->out, strides, pad_l, pad_r, fwd, attr);
#else
    const auto bwd = bwd_weights::primitive_desc(
        bwd_weights::desc(direct, p->image, any_weights, p->out, strides, pad_l, pad_r), attr,
        Engine(), fwd);
#endif
    p->prim = bwd_weights(bwd);
    p->weights = bwd.diff_weights_desc();
    p->scratchpad = bwd.scratchpad_desc();
  }
  p->reorder_needed = p->weights != p->hwio;
  if (p->reorder_needed) {
    const bool to_hwio = kind == kKernelGradient;
    auto pd = dnnl::reorder::primitive_desc(Engine(), to_hwio ? p->weights : p->hwio,
                                            Engine(), to_hwio ? p->hwio : p->weights, attr);
    p->reorder = dnnl::reorder(pd);
    p->reorder_scratchpad = pd.scratchpad_desc();
  }
  return p;
}

std::shared_ptr<Primitive> Get(const Key& k) {
  static std::mutex mutex;
  static auto* cache = new std::map<Key, std::shared_ptr<Primitive>>();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache->find(k);
  if (it != cache->end()) return it->second;
  auto p = Build(k);
  cache->emplace(k, p);
  return p;
}

// Runs the primitive of `kind`. `image` is x (forward, kernel gradient) or dx (input
// gradient), `out` is y (forward) or g, `kernel` is W or dW, always as JAX lays them out.
ffi::Error Run(Kind kind, const char* name, ffi::AnyBuffer::Dimensions image_dims,
               float* image, ffi::AnyBuffer::Dimensions out_dims, float* out,
               ffi::AnyBuffer::Dimensions kernel_dims, float* kernel, int64_t stride_h,
               int64_t stride_w, int64_t pad_top, int64_t pad_left, int64_t threads) {
  // XLA runs the program of every local device on its own thread, and each call opens an
  // OpenMP team: `threads` (the cores per local device) keeps them from oversubscribing
  // the CPU, where spinning teams would starve the devices that wait in a collective.
  omp_set_num_threads(static_cast<int>(threads > 0 ? threads : 1));
  const auto& xd = image_dims;
  const auto& gd = out_dims;
  const auto& wd = kernel_dims;
  if (xd.size() != 4 || gd.size() != 4 || wd.size() != 4 || xd[0] != gd[0] ||
      wd[2] != xd[3] || wd[3] != gd[3]) {
    return ffi::Error::InvalidArgument(
        std::string(name) +
        ": expects images [N, H, W, C], outputs [N, Ho, Wo, O] and a [kh, kw, C, O] kernel");
  }
  const Key k{kind,  xd[0], xd[1], xd[2],    xd[3],    gd[1],   gd[2],
              gd[3], wd[0], wd[1], stride_h, stride_w, pad_top, pad_left};
  try {
    const auto p = Get(k);
    dnnl::stream stream(Engine());
    dnnl::memory image_m(p->image, Engine(), image), out_m(p->out, Engine(), out),
        hwio(p->hwio, Engine(), kernel), scratchpad(p->scratchpad, Engine());
    dnnl::memory weights = p->reorder_needed ? dnnl::memory(p->weights, Engine()) : hwio;
    auto reorder = [&](const dnnl::memory& from, const dnnl::memory& to) {
      dnnl::memory reorder_scratchpad(p->reorder_scratchpad, Engine());
      p->reorder.execute(stream, {{DNNL_ARG_FROM, from},
                                  {DNNL_ARG_TO, to},
                                  {DNNL_ARG_SCRATCHPAD, reorder_scratchpad}});
    };
    if (kind == kForward) {
      if (p->reorder_needed) reorder(hwio, weights);
      p->prim.execute(stream, {{DNNL_ARG_SRC, image_m},
                               {DNNL_ARG_WEIGHTS, weights},
                               {DNNL_ARG_DST, out_m},
                               {DNNL_ARG_SCRATCHPAD, scratchpad}});
    } else if (kind == kInputGradient) {
      if (p->reorder_needed) reorder(hwio, weights);
      p->prim.execute(stream, {{DNNL_ARG_DIFF_DST, out_m},
                               {DNNL_ARG_WEIGHTS, weights},
                               {DNNL_ARG_DIFF_SRC, image_m},
                               {DNNL_ARG_SCRATCHPAD, scratchpad}});
    } else {
      p->prim.execute(stream, {{DNNL_ARG_SRC, image_m},
                               {DNNL_ARG_DIFF_DST, out_m},
                               {DNNL_ARG_DIFF_WEIGHTS, weights},
                               {DNNL_ARG_SCRATCHPAD, scratchpad}});
      if (p->reorder_needed) reorder(weights, hwio);
    }
    stream.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string(name) + ": oneDNN: " + e.what());
  }
  return ffi::Error::Success();
}

float* Data(ffi::Buffer<ffi::F32>& b) { return b.typed_data(); }
float* Data(ffi::ResultBuffer<ffi::F32>& b) { return b->typed_data(); }

ffi::Error Forward(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                   ffi::ResultBuffer<ffi::F32> y, int64_t stride_h, int64_t stride_w,
                   int64_t pad_top, int64_t pad_left, int64_t threads) {
  return Run(kForward, "ssljax_conv_forward", x.dimensions(), Data(x), y->dimensions(),
             Data(y), w.dimensions(), Data(w), stride_h, stride_w, pad_top, pad_left, threads);
}

ffi::Error InputGradient(ffi::Buffer<ffi::F32> g, ffi::Buffer<ffi::F32> w,
                         ffi::ResultBuffer<ffi::F32> dx, int64_t stride_h, int64_t stride_w,
                         int64_t pad_top, int64_t pad_left, int64_t threads) {
  return Run(kInputGradient, "ssljax_conv_input_gradient", dx->dimensions(), Data(dx),
             g.dimensions(), Data(g), w.dimensions(), Data(w), stride_h, stride_w, pad_top,
             pad_left, threads);
}

ffi::Error KernelGradient(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> g,
                          ffi::ResultBuffer<ffi::F32> dw, int64_t stride_h, int64_t stride_w,
                          int64_t pad_top, int64_t pad_left, int64_t threads) {
  return Run(kKernelGradient, "ssljax_conv_kernel_gradient", x.dimensions(), Data(x),
             g.dimensions(), Data(g), dw->dimensions(), Data(dw), stride_h, stride_w,
             pad_top, pad_left, threads);
}

auto Binding() {
  return ffi::Ffi::Bind()
      .Arg<ffi::Buffer<ffi::F32>>()
      .Arg<ffi::Buffer<ffi::F32>>()
      .Ret<ffi::Buffer<ffi::F32>>()
      .Attr<int64_t>("stride_h")
      .Attr<int64_t>("stride_w")
      .Attr<int64_t>("pad_top")
      .Attr<int64_t>("pad_left")
      .Attr<int64_t>("threads");
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SsljaxConvForward, Forward, Binding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(SsljaxConvInputGradient, InputGradient, Binding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(SsljaxConvKernelGradient, KernelGradient, Binding());
