// simkernel.cu — see simkernel.h. A simulated engine made of two real
// kernels: one reads the whole input (so the memory traffic of a real
// engine's first layer is there), the other waits out the rest of the time
// the caller asked for and writes the outputs.
#include <cuda_runtime.h>
#include <stdint.h>

#include "simkernel.h"

namespace {

constexpr int kThreads = 256;
// Enough blocks to fill any current GPU (an H100's 132 SMs hold 8 such
// blocks each) so the read runs at memory bandwidth; a fixed cap keeps the
// launch independent of the device.
constexpr size_t kMaxBlocks = 1024;

// Per-launch state, in stream-ordered device memory so concurrent launches
// on different streams never share it. memset(0) initializes both fields:
// not_start holds ~(earliest block start), so atomicMax on it is atomicMin
// on the start time and 0 is its identity.
struct Scratch {
  unsigned long long sum;
  unsigned long long not_start;
};

__device__ __forceinline__ unsigned long long globaltimer() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Sum of the four bytes of w: the sum of absolute differences from zero.
__device__ __forceinline__ unsigned int byte_sum(unsigned int w) { return __vsadu4(w, 0u); }

__device__ __forceinline__ unsigned long long block_reduce(unsigned long long v) {
  __shared__ unsigned long long warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = 0;
  if (warp == 0) {
    v = lane < (int)(blockDim.x >> 5) ? warp_sums[lane] : 0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;  // valid in thread 0
}

// sim_read sums every input byte. Integer addition is associative, so the
// total does not depend on the grid or on the order blocks run in.
__global__ void sim_read(const unsigned char *__restrict__ in, size_t n, Scratch *scratch) {
  if (threadIdx.x == 0) atomicMax(&scratch->not_start, ~globaltimer());
  const size_t tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  unsigned long long acc = 0;
  if (n > 0) {
    // 16-byte loads for the aligned middle; the unaligned head and the tail
    // (under 16 bytes each) take one byte per thread.
    size_t head = (16 - ((uintptr_t)in & 15)) & 15;
    if (head > n) head = n;
    if (tid < head) acc += in[tid];
    const uint4 *v = reinterpret_cast<const uint4 *>(in + head);
    const size_t nv = (n - head) / 16;
    for (size_t i = tid; i < nv; i += stride) {
      const uint4 x = v[i];
      acc += byte_sum(x.x) + byte_sum(x.y) + byte_sum(x.z) + byte_sum(x.w);
    }
    const size_t tail = head + nv * 16;
    if (tail + tid < n) acc += in[tail + tid];
  }
  acc = block_reduce(acc);
  if (threadIdx.x == 0 && acc != 0) atomicAdd(&scratch->sum, acc);
}

// sim_fill runs after sim_read on the same stream, so the sum is complete.
__global__ void sim_fill(unsigned char *__restrict__ out, size_t n, size_t batch, long long busy_ns,
                         const Scratch *scratch) {
  if (busy_ns > 0) {
    const unsigned long long until = ~scratch->not_start + (unsigned long long)busy_ns;
    // One thread per block watches the clock; the rest park at the barrier
    // and cost no issue slots.
    if (threadIdx.x == 0) {
      while (globaltimer() < until) {
#if __CUDA_ARCH__ >= 700
        __nanosleep(1000);
#endif
      }
    }
    __syncthreads();
  }
  const unsigned int s = (unsigned int)(scratch->sum & 0xff);
  const size_t part = n / batch;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += stride) {
    size_t p = part ? k / part : batch - 1;
    if (p > batch - 1) p = batch - 1;
    out[k] = (unsigned char)(s + (unsigned int)p);
  }
}

unsigned int blocks_for(size_t work_items) {
  size_t b = (work_items + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  if (b > kMaxBlocks) b = kMaxBlocks;
  return (unsigned int)b;
}

}  // namespace

extern "C" int simkernel_launch(void *stream, const void *in, size_t in_bytes, void *out,
                                size_t out_bytes, long long busy_ns, int batch) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (batch < 1) batch = 1;
  // This library has its own runtime (static cudart), whose current device
  // for this thread is not the one the caller's runtime set. The buffers
  // say which device the work is for; make it current here too, or a
  // stream of device 1 would be used from device 0's context.
  const void *probe = in_bytes > 0 ? in : out;
  if (probe != nullptr) {
    cudaPointerAttributes attr;
    cudaError_t e = cudaPointerGetAttributes(&attr, probe);
    if (e != cudaSuccess) return (int)e;
    int cur = -1;
    if (attr.type == cudaMemoryTypeDevice && cudaGetDevice(&cur) == cudaSuccess && cur != attr.device) {
      e = cudaSetDevice(attr.device);
      if (e != cudaSuccess) return (int)e;
    }
  }
  // Stream-ordered allocation (CUDA 11.2+) costs microseconds from the
  // device's pool and keeps launches on different streams independent.
  Scratch *scratch = nullptr;
  cudaError_t e = cudaMallocAsync(reinterpret_cast<void **>(&scratch), sizeof(Scratch), s);
  if (e != cudaSuccess) return (int)e;
  e = cudaMemsetAsync(scratch, 0, sizeof(Scratch), s);
  if (e == cudaSuccess) {
    sim_read<<<blocks_for(in_bytes / 16), kThreads, 0, s>>>(static_cast<const unsigned char *>(in),
                                                             in_bytes, scratch);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess) {
    sim_fill<<<blocks_for(out_bytes), kThreads, 0, s>>>(static_cast<unsigned char *>(out), out_bytes,
                                                        (size_t)batch, busy_ns, scratch);
    e = cudaGetLastError();
  }
  const cudaError_t fe = cudaFreeAsync(scratch, s);
  return (int)(e != cudaSuccess ? e : fe);
}

extern "C" const char *simkernel_error_string(int code) {
  return cudaGetErrorString(static_cast<cudaError_t>(code));
}
