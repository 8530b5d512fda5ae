/*
 * simkernel.h — a simulated inference engine that is a real GPU kernel.
 *
 * The pipeline benchmarks on a GPU host without TensorRT (docs/benchmarks.md)
 * need an "engine" whose cost on the GPU is known and real: it occupies the
 * stream, reads the input batch from device memory, writes the outputs, and
 * takes as long as the caller says (a + b x batch, calibrated by the
 * caller). Copy/compute overlap, stream priorities and event timing are
 * then measured against real hardware behaviour.
 *
 * Like trtshim.h this header needs no CUDA header: the stream crosses as
 * void* (cudaStream_t) and errors as int (cudaError_t).
 */
#ifndef TRTSERVE_SIMKERNEL_H
#define TRTSERVE_SIMKERNEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * simkernel_launch enqueues, on stream, work that
 *   - reads all in_bytes of in (device memory) and sums them as unsigned
 *     bytes;
 *   - lasts busy_ns nanoseconds from its first block's start (measured with
 *     the GPU's %globaltimer), or as long as the read takes if longer;
 *   - then fills out (device memory, out_bytes) as `batch` equal parts
 *     (the last takes the remainder): every byte of part p is
 *     (sum + p) mod 256. The result is deterministic and checkable on the
 *     host.
 * It returns the cudaError_t of the enqueue (0 on success), never waits for
 * the GPU, and keeps no pointer after it returns. batch < 1 counts as 1.
 * Safe to call concurrently on different streams.
 */
int simkernel_launch(void *stream, const void *in, size_t in_bytes, void *out,
                     size_t out_bytes, long long busy_ns, int batch);

/* simkernel_error_string is cudaGetErrorString of a code it returned. */
const char *simkernel_error_string(int code);

#ifdef __cplusplus
}
#endif

#endif /* TRTSERVE_SIMKERNEL_H */
