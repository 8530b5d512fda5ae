/* Stand-in for CUDA's header, used only when no CUDA toolkit is found: the
 * TensorRT headers need nothing from it but these two opaque handle types. */
#pragma once
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
