/* The C side of package cuda's libcudart binding: the runtime's entry
 * points as a table Go fills (through internal/dl), and one small C function
 * per call that Go makes through it (cgo cannot call a C function pointer).
 * cudart.go includes this header; cudart_shim.c implements it. */
#ifndef TRTSERVE_CUDART_SHIM_H
#define TRTSERVE_CUDART_SHIM_H

#include <stddef.h>
#include <stdint.h>

// No CUDA header is included: the package must build where no toolkit is
// installed. These are the runtime's types as the ABI sees them —
// cudaError_t is a C enum (int), streams and events are opaque pointers.
// Device addresses, streams and events cross from Go as uintptr_t so no
// Go code ever converts an integer into an unsafe.Pointer.
typedef int cuerr;
typedef void *cuhandle;

// The runtime's entry points, resolved by Go (internal/dl) into this table
// and called through the cudart_* functions below: cgo cannot call a C
// function pointer itself.
typedef struct {
	cuerr (*GetDeviceCount)(int *);
	cuerr (*GetDeviceProperties)(void *, int);
	cuerr (*DeviceGetAttribute)(int *, int, int);
	cuerr (*SetDevice)(int);
	cuerr (*GetDevice)(int *);
	cuerr (*MemGetInfo)(size_t *, size_t *);
	cuerr (*RuntimeGetVersion)(int *);
	cuerr (*DriverGetVersion)(int *);
	const char *(*GetErrorName)(cuerr);
	const char *(*GetErrorString)(cuerr);
	cuerr (*HostAlloc)(void **, size_t, unsigned int);
	cuerr (*FreeHost)(void *);
	cuerr (*Malloc)(void **, size_t);
	cuerr (*Free)(void *);
	cuerr (*StreamCreateWithPriority)(cuhandle *, unsigned int, int);
	cuerr (*DeviceGetStreamPriorityRange)(int *, int *);
	cuerr (*StreamDestroy)(cuhandle);
	cuerr (*StreamSynchronize)(cuhandle);
	cuerr (*StreamWaitEvent)(cuhandle, cuhandle, unsigned int);
	cuerr (*EventCreateWithFlags)(cuhandle *, unsigned int);
	cuerr (*EventRecord)(cuhandle, cuhandle);
	cuerr (*EventSynchronize)(cuhandle);
	cuerr (*EventQuery)(cuhandle);
	cuerr (*EventElapsedTime)(float *, cuhandle, cuhandle);
	cuerr (*EventDestroy)(cuhandle);
	cuerr (*MemcpyAsync)(void *, const void *, size_t, int, cuhandle);
	cuerr (*MemsetAsync)(void *, int, size_t, cuhandle);
	cuerr (*Memcpy)(void *, const void *, size_t, int);
} cudart_fns;

typedef struct {
	char name[256];
	int major, minor, engines, integrated;
	size_t total;
	const char *failed; /* the runtime call that failed, a string literal */
} cudart_devinfo;

const char *cudart_error_name(cudart_fns *f, cuerr e);
const char *cudart_error_string(cudart_fns *f, cuerr e);
cuerr cudart_get_device_count(cudart_fns *f, int *n);
cuerr cudart_set_device(cudart_fns *f, int d);
cuerr cudart_mem_get_info(cudart_fns *f, size_t *free_, size_t *total);
cuerr cudart_runtime_version(cudart_fns *f, int *v);
cuerr cudart_driver_version(cudart_fns *f, int *v);
cuerr cudart_device_info(cudart_fns *f, int dev, cudart_devinfo *out);
void *cudart_host_alloc(cudart_fns *f, size_t n, unsigned int flags, cuerr *e);
cuerr cudart_free_host(cudart_fns *f, void *p);
cuerr cudart_malloc(cudart_fns *f, uintptr_t *p, size_t n);
cuerr cudart_free(cudart_fns *f, uintptr_t p);
cuerr cudart_stream_create(cudart_fns *f, uintptr_t *s, int prio);
cuerr cudart_stream_priority_range(cudart_fns *f, int *least, int *greatest);
cuerr cudart_stream_destroy(cudart_fns *f, uintptr_t s);
cuerr cudart_stream_synchronize(cudart_fns *f, uintptr_t s);
cuerr cudart_stream_wait_event(cudart_fns *f, uintptr_t s, uintptr_t e);
cuerr cudart_event_create(cudart_fns *f, uintptr_t *ev, unsigned int flags);
cuerr cudart_event_record(cudart_fns *f, uintptr_t ev, uintptr_t s);
cuerr cudart_event_synchronize(cudart_fns *f, uintptr_t ev);
cuerr cudart_event_query(cudart_fns *f, uintptr_t ev);
cuerr cudart_event_elapsed(cudart_fns *f, float *ms, uintptr_t a, uintptr_t b);
cuerr cudart_event_destroy(cudart_fns *f, uintptr_t ev);
cuerr cudart_htod_async(cudart_fns *f, uintptr_t dst, const void *src, size_t n, uintptr_t s);
cuerr cudart_dtoh_async(cudart_fns *f, void *dst, uintptr_t src, size_t n, uintptr_t s);
cuerr cudart_dtod_async(cudart_fns *f, uintptr_t dst, uintptr_t src, size_t n, uintptr_t s);
cuerr cudart_memset_async(cudart_fns *f, uintptr_t dst, int v, size_t n, uintptr_t s);
cuerr cudart_htod(cudart_fns *f, uintptr_t dst, const void *src, size_t n);
cuerr cudart_dtoh(cudart_fns *f, void *dst, uintptr_t src, size_t n);


// CUDA IPC (cuda/ipc.go), resolved on first use rather than at Open: a
// runtime without them still serves everything else. cudaIpcMemHandle_t is
// a struct of 64 bytes passed BY VALUE to cudaIpcOpenMemHandle, so the
// function pointer's type must carry a struct of that size, not a pointer.
typedef struct { char reserved[64]; } cudart_ipc_handle;
typedef struct {
	cuerr (*IpcGetMemHandle)(cudart_ipc_handle *, void *);
	cuerr (*IpcOpenMemHandle)(void **, cudart_ipc_handle, unsigned int);
	cuerr (*IpcCloseMemHandle)(void *);
} cudart_ipc_fns;
cuerr cudart_ipc_get(cudart_ipc_fns *f, void *handle64, uintptr_t p);
cuerr cudart_ipc_open(cudart_ipc_fns *f, uintptr_t *p, const void *handle64);
cuerr cudart_ipc_close(cudart_ipc_fns *f, uintptr_t p);

// The driver API's cuMemGetAddressRange_v2 (libcuda.so.1), which the
// runtime has no counterpart of: the allocation an IPC pointer lies in, so
// a client's byte_size is checked against what it exported.
// CUdeviceptr is unsigned long long; CUresult an int enum.
typedef struct {
	int (*MemGetAddressRange)(unsigned long long *, size_t *, unsigned long long);
} cuda_drv_fns;
int cuda_drv_address_range(cuda_drv_fns *f, uintptr_t p, uintptr_t *base, size_t *size);

#endif
