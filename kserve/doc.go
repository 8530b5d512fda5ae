// Package kserve is the transport-neutral half of the KServe v2 / Triton
// inference protocol, shared by the HTTP adapter (package server) and the
// gRPC adapter (package grpcserver), so both protocols validate a request
// the same way, run it through the same admission queue, batcher and
// instances, and map errors and statistics one way.
//
// It owns:
//   - inference requests as plain values (Request, Input, RequestedOutput,
//     Param), validated against a loaded model by Prepare: names,
//     datatypes, shapes, byte counts, the batch bound, shared-memory
//     parameters (shared_memory_region / _offset / _byte_size, resolved
//     through an shm.Registry that bounds-checks every window);
//   - the batch path: Prepared.Run makes one pipeline.Work per batch item,
//     which copies its slice of every input into its batch slot and its
//     slot of every requested output into the answer (or straight into a
//     shared-memory region). Those are the only copies of tensor data;
//   - the answer's tensors (Output) and the views both protocols encode:
//     model metadata, model configuration, statistics, the repository
//     index, model load and unload;
//   - the one mapping of errors (pipeline's queue full, deadline, model not
//     ready or unknown, engine failure, ...) to a protocol-neutral Code
//     (CodeOf); each adapter maps a Code to its HTTP status or gRPC code.
//
// It must not: import net/http, fiber, fasthttp, grpc or protobuf; parse or
// write any wire format (JSON data arrays, the binary tensor extension's
// framing and protobuf messages stay in the adapters; Input.Decode lets
// the HTTP adapter parse a JSON data array only once the shape has been
// checked); touch CUDA directly (CUDA regions go through shm.Lease).
//
// Decisions where the protocol is silent:
//   - A shared-memory input's window must hold exactly the tensor's bytes
//     (Triton's rule); an output's window must hold at least the tensor.
//     The answer's Output then has no Data and its shared_memory_*
//     parameters in Params; the HTTP adapter writes only its name,
//     datatype and shape, as Triton's HTTP server does.
//   - An unknown region is NotFound (Triton: NOT_FOUND, HTTP 404); a window
//     outside its region or of the wrong size is InvalidArgument.
//   - A system region's input is read in place (a view into the mapping)
//     and copied once into each batch slot; a CUDA region's input is first
//     copied out to host memory (one device-to-host copy), as CUDA memory
//     cannot be read by the decode workers directly; a CUDA output is
//     gathered on the host and written with one host-to-device copy.
//   - Leases on regions are held from Prepare until Release, so a region
//     unregistered during an inference stays mapped until it ends.
//   - Request.Budget (--max-inflight-bytes, one for the whole server) is
//     charged, as Prepare sizes them, with the bytes the request holds:
//     its inputs (raw, typed, or decoded: reserved before a JSON array is
//     parsed), a CUDA region's host copy, and the answer's buffers; a
//     system region's window costs nothing. Release gives them back. A
//     request that already needs more than the whole budget is TooLarge;
//     one that does not fit beside the others now, ResourceExhausted.
package kserve
