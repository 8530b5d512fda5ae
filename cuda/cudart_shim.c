// cudart_shim.c — the calls of cudart_shim.h. cgo compiles this file with
// the package; Go reaches each function through cudart.go's import "C".
#include "cudart_shim.h"

#include <stdlib.h>
#include <string.h>

const char *cudart_error_name(cudart_fns *f, cuerr e) { return f->GetErrorName(e); }
const char *cudart_error_string(cudart_fns *f, cuerr e) { return f->GetErrorString(e); }

cuerr cudart_get_device_count(cudart_fns *f, int *n) { return f->GetDeviceCount(n); }
cuerr cudart_set_device(cudart_fns *f, int d) { return f->SetDevice(d); }
cuerr cudart_mem_get_info(cudart_fns *f, size_t *free_, size_t *total) { return f->MemGetInfo(free_, total); }
cuerr cudart_runtime_version(cudart_fns *f, int *v) { return f->RuntimeGetVersion(v); }
cuerr cudart_driver_version(cudart_fns *f, int *v) { return f->DriverGetVersion(v); }

// cudaDeviceProp's layout has changed with most CUDA releases (fields
// added, removed, reordered), and we compile without its header, so we
// cannot know its size: the properties are written into a zeroed buffer
// far larger than any version's struct (about 1 KiB in CUDA 12). Only its
// head is read, which is the same in CUDA 11, 12 and 13.x (checked in
// driver_types.h): name, uuid, luid, luidDeviceNodeMask, totalGlobalMem.
// Everything else comes from cudaDeviceGetAttribute, whose enum values are
// stable ABI.
#define CUDART_PROPS_BUF (16 * 1024)
typedef struct {
	char name[256];
	unsigned char uuid[16];
	char luid[8];
	unsigned int luidDeviceNodeMask;
	size_t totalGlobalMem;
} cudart_props_head;

// cudart_device_info creates no context: neither call needs one. It used
// to read the total memory with cudaMemGetInfo, which made the device
// current (creating its primary context) and then restored the thread's
// previous device — device 0 on a thread that had none, creating a context
// on GPU 0 as well under --gpu N.
cuerr cudart_device_info(cudart_fns *f, int dev, cudart_devinfo *out) {
	cuerr e;
	char *props = calloc(1, CUDART_PROPS_BUF);
	if (props == NULL) { out->failed = "calloc"; return 2; } // cudaErrorMemoryAllocation
	e = f->GetDeviceProperties(props, dev);
	if (e == 0) {
		const cudart_props_head *head = (const cudart_props_head *)props;
		memcpy(out->name, head->name, sizeof out->name - 1);
		out->total = head->totalGlobalMem;
	}
	free(props);
	if (e != 0) { out->failed = "cudaGetDeviceProperties"; return e; }
	out->name[sizeof out->name - 1] = 0;

	// cudaDevAttr* values, from driver_types.h (identical in CUDA 11 to 13).
	struct { int attr; int *dst; } attrs[] = {
		{75, &out->major},      // cudaDevAttrComputeCapabilityMajor
		{76, &out->minor},      // cudaDevAttrComputeCapabilityMinor
		{40, &out->engines},    // cudaDevAttrAsyncEngineCount
		{18, &out->integrated}, // cudaDevAttrIntegrated
	};
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
		e = f->DeviceGetAttribute(attrs[i].dst, attrs[i].attr, dev);
		if (e != 0) { out->failed = "cudaDeviceGetAttribute"; return e; }
	}
	return 0;
}

// The pointer comes back as the result so Go never passes C the address
// of a Go pointer variable.
void *cudart_host_alloc(cudart_fns *f, size_t n, unsigned int flags, cuerr *e) {
	void *p = NULL;
	*e = f->HostAlloc(&p, n, flags);
	return p;
}
cuerr cudart_free_host(cudart_fns *f, void *p) { return f->FreeHost(p); }
cuerr cudart_malloc(cudart_fns *f, uintptr_t *p, size_t n) {
	void *d = NULL;
	cuerr e = f->Malloc(&d, n);
	*p = (uintptr_t)d;
	return e;
}
cuerr cudart_free(cudart_fns *f, uintptr_t p) { return f->Free((void *)p); }

// 0x01 is cudaStreamNonBlocking: our streams must not serialize with the
// legacy default stream, which other libraries in the process may use.
cuerr cudart_stream_create(cudart_fns *f, uintptr_t *s, int prio) {
	cuhandle h = NULL;
	cuerr e = f->StreamCreateWithPriority(&h, 0x01, prio);
	*s = (uintptr_t)h;
	return e;
}
cuerr cudart_stream_priority_range(cudart_fns *f, int *least, int *greatest) { return f->DeviceGetStreamPriorityRange(least, greatest); }
cuerr cudart_stream_destroy(cudart_fns *f, uintptr_t s) { return f->StreamDestroy((cuhandle)s); }
cuerr cudart_stream_synchronize(cudart_fns *f, uintptr_t s) { return f->StreamSynchronize((cuhandle)s); }
cuerr cudart_stream_wait_event(cudart_fns *f, uintptr_t s, uintptr_t e) { return f->StreamWaitEvent((cuhandle)s, (cuhandle)e, 0); }

cuerr cudart_event_create(cudart_fns *f, uintptr_t *ev, unsigned int flags) {
	cuhandle h = NULL;
	cuerr e = f->EventCreateWithFlags(&h, flags);
	*ev = (uintptr_t)h;
	return e;
}
cuerr cudart_event_record(cudart_fns *f, uintptr_t ev, uintptr_t s) { return f->EventRecord((cuhandle)ev, (cuhandle)s); }
cuerr cudart_event_synchronize(cudart_fns *f, uintptr_t ev) { return f->EventSynchronize((cuhandle)ev); }
cuerr cudart_event_query(cudart_fns *f, uintptr_t ev) { return f->EventQuery((cuhandle)ev); }
cuerr cudart_event_elapsed(cudart_fns *f, float *ms, uintptr_t a, uintptr_t b) { return f->EventElapsedTime(ms, (cuhandle)a, (cuhandle)b); }
cuerr cudart_event_destroy(cudart_fns *f, uintptr_t ev) { return f->EventDestroy((cuhandle)ev); }

// cudaMemcpyKind: 1 HostToDevice, 2 DeviceToHost, 3 DeviceToDevice.
cuerr cudart_htod_async(cudart_fns *f, uintptr_t dst, const void *src, size_t n, uintptr_t s) { return f->MemcpyAsync((void *)dst, src, n, 1, (cuhandle)s); }
cuerr cudart_dtoh_async(cudart_fns *f, void *dst, uintptr_t src, size_t n, uintptr_t s) { return f->MemcpyAsync(dst, (const void *)src, n, 2, (cuhandle)s); }
cuerr cudart_dtod_async(cudart_fns *f, uintptr_t dst, uintptr_t src, size_t n, uintptr_t s) { return f->MemcpyAsync((void *)dst, (const void *)src, n, 3, (cuhandle)s); }
cuerr cudart_memset_async(cudart_fns *f, uintptr_t dst, int v, size_t n, uintptr_t s) { return f->MemsetAsync((void *)dst, v, n, (cuhandle)s); }
cuerr cudart_htod(cudart_fns *f, uintptr_t dst, const void *src, size_t n) { return f->Memcpy((void *)dst, src, n, 1); }
cuerr cudart_dtoh(cudart_fns *f, void *dst, uintptr_t src, size_t n) { return f->Memcpy(dst, (const void *)src, n, 2); }

// CUDA IPC (cudart_shim.h). 0x01 is cudaIpcMemLazyEnablePeerAccess, the
// one flag cudaIpcOpenMemHandle takes (Triton passes it too).
cuerr cudart_ipc_get(cudart_ipc_fns *f, void *handle64, uintptr_t p) {
	cudart_ipc_handle h;
	memset(&h, 0, sizeof h);
	cuerr e = f->IpcGetMemHandle(&h, (void *)p);
	memcpy(handle64, &h, sizeof h);
	return e;
}
cuerr cudart_ipc_open(cudart_ipc_fns *f, uintptr_t *p, const void *handle64) {
	cudart_ipc_handle h;
	void *d = NULL;
	memcpy(&h, handle64, sizeof h);
	cuerr e = f->IpcOpenMemHandle(&d, h, 0x01);
	*p = (uintptr_t)d;
	return e;
}
cuerr cudart_ipc_close(cudart_ipc_fns *f, uintptr_t p) { return f->IpcCloseMemHandle((void *)p); }

int cuda_drv_address_range(cuda_drv_fns *f, uintptr_t p, uintptr_t *base, size_t *size) {
	unsigned long long b = 0;
	size_t n = 0;
	int e = f->MemGetAddressRange(&b, &n, (unsigned long long)p);
	*base = (uintptr_t)b;
	*size = n;
	return e;
}
