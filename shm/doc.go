// Package shm is the registry of shared-memory regions clients registered:
// Triton's system shared-memory extension (POSIX shm objects under
// /dev/shm, named by key) and its CUDA shared-memory extension (device
// memory another process exported as a cudaIpcMemHandle_t). A client on the
// same host then names a region, an offset and a byte size instead of
// sending tensor bytes; the protocol adapters (package kserve, for HTTP and
// gRPC) acquire a bounds-checked Lease on that window and copy once, from
// the region into the batch slot and from the outputs into the region.
//
// Decisions where Triton's protocol is silent (docs/shared-memory.md says
// the same for users):
//
//   - One namespace for both kinds, as Triton's SharedMemoryManager keeps
//     one map: a name registered as system memory cannot be registered as
//     CUDA memory too (ErrExists, "shared memory region 'x' already in
//     manager"), and an input names a region without saying its kind.
//   - A system region's key is a POSIX shm name: an optional leading '/',
//     then 1 to 255 bytes with no '/', no NUL, not "." or "..". The file
//     /dev/shm/<name> is opened read-write with O_NOFOLLOW and must be a
//     regular file; offset+byte_size must lie inside it (overflow-safe).
//     Only that window is mapped (MAP_SHARED, from the page that holds
//     offset), once, at registration; the descriptor is closed at once.
//   - Unregister takes the name out of the registry at once (it can be
//     registered again straight away) and unmaps (or closes the CUDA IPC
//     mapping) when the last Lease on it is released: an in-flight request
//     keeps its region alive, as Triton's awaiting_unregister does.
//     Unregistering a name that is not registered, or is registered as the
//     other kind, succeeds and does nothing, as in Triton.
//   - MaxRegions (default config.DefaultMaxSharedMemoryRegions) bounds the
//     regions registered at once, so a client cannot exhaust the server's
//     mappings or file descriptors: one more is ErrInvalid naming the bound.
//   - Acquire refuses an offset at or past the region's byte size (as
//     Triton) and a window past its end, with both numbers in the message
//     (ErrBounds); a zero-byte window at an offset inside the region is
//     allowed.
//   - A client may shrink its shm file after registering it; touching the
//     mapping past the new end raises SIGBUS. Lease.Read and Lease.Write
//     turn that fault into an error (debug.SetPanicOnFault) instead of
//     crashing the server, so the request fails and other clients keep
//     being served. Lease.Bytes is the raw window for callers that accept
//     that risk; the kserve adapters use Read and Write.
//   - CUDA regions go through a CUDAOpener (internal/app implements it over
//     package cuda: cudaSetDevice, cudaIpcOpenMemHandle, a check that
//     byte_size fits the exported allocation, cudaMemcpy for each copy,
//     cudaIpcCloseMemHandle). Without one, registering a CUDA region is
//     refused with ErrNoCUDA (and ErrInvalid).
//
// The package knows no protocol: errors wrap ErrNotFound, ErrExists,
// ErrBounds and ErrInvalid, and the adapters map them to status codes.
package shm
