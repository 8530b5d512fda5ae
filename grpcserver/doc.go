// Package grpcserver is the KServe v2 / Triton gRPC adapter: Triton's
// inference.GRPCInferenceService (grpcapi/inference) over the same model
// manager, admission queues, batchers and instances as the HTTP routes.
//
// It owns the gRPC wire: converting protobuf messages to and from package
// kserve's transport-neutral values, mapping kserve's error codes to gRPC
// status codes, the API key as request metadata, grpc.health.v1, gzip,
// message size and keepalive limits, panic recovery, and draining. It
// must not validate tensors or run a model itself: every inference goes
// through kserve.Prepare and Prepared.Run, as HTTP's does, so both
// protocols refuse the same requests with the same messages and batch
// together.
//
// Copies. The server's codec (codec.go) gathers a request from the
// connection's buffers into one slice and leaves raw_input_contents as
// views of it (protobuf would copy each entry again); kserve copies each
// batch item's slice of them once into its batch slot, and each output
// slot once into the answer's buffer, which the codec hands to the
// transport as it is (protobuf would copy it into the encoded message).
// Typed fp32_contents are decoded by protobuf and used in place. A tensor
// in a shared-memory region is read from (or written to) the mapping,
// with no tensor bytes in the messages at all.
//
// Decisions where the protocol or the issue is silent:
//   - Outputs always travel as raw_output_contents (as Triton answers),
//     one entry per output in the order of outputs; an output written to a
//     shared-memory region has an empty entry, so the indexes stay aligned
//     (Triton does the same).
//   - Status codes are Triton's: INVALID_ARGUMENT for a request that does
//     not fit the model, NOT_FOUND for an unknown model or region,
//     UNAVAILABLE for a model that is not ready, a server that is
//     draining, and load/unload outside explicit model control (Triton's
//     model repository manager's code; HTTP answers 400), RESOURCE_EXHAUSTED for a full queue (and a message over
//     --grpc-max-message-bytes), DEADLINE_EXCEEDED when the client's
//     deadline or --request-timeout passes, UNAUTHENTICATED for a missing
//     or wrong key, ALREADY_EXISTS for a region name in use, UNIMPLEMENTED
//     for the RPCs trtserve does not serve (TraceSetting, LogSettings) and
//     for features it does not have (the classification extension, model
//     file uploads, repository names).
//   - ModelReady answers ready=false, not an error, for a model that is
//     unknown or not loaded, and UNAVAILABLE while the server is not ready
//     (starting, draining), as Triton's InferenceServer::ModelIsReady.
//   - An unknown model is NOT_FOUND (the KServe v2 protocol's code, and
//     HTTP's 404); recent Tritons answer INVALID_ARGUMENT "Request for
//     unknown model".
//   - The API key (--api-key) is read from the "authorization: Bearer
//     <key>" metadata, or "x-api-key: <key>"; ServerLive, ServerReady and
//     the health service need none (orchestrators probe them); the admin
//     key is accepted wherever the API key is. Repository load and unload
//     need config.ControlKey (the admin key when set, else the API key);
//     the inference key there is PERMISSION_DENIED.
//   - Compression: gzip (grpc-go's) and deflate (zlib, registered here, as
//     gRPC's C core and so Triton and tritonclient speak it).
//   - grpc.health.v1: the service "" and "inference.GRPCInferenceService"
//     are SERVING while the server is ready (models loaded, not draining,
//     no GPU fault) and NOT_SERVING otherwise, so a Kubernetes gRPC probe
//     is a readiness probe; use HTTP's /v2/health/live for liveness.
//   - ModelStreamInfer serves up to config.DefaultGRPCStreamInflight
//     requests of one stream at once and answers each as it finishes (not
//     necessarily in order: the id tells them apart, as with Triton). It
//     reads the next request only when one of them finishes, so HTTP/2
//     flow control holds back a client that sends faster than the server
//     answers. A request's error is sent in its response's error_message
//     and the stream goes on.
//   - Draining (SIGTERM): health turns NOT_SERVING, the server stops
//     taking calls (GracefulStop sends GOAWAY), streams stop reading new
//     requests, answer those in flight and end with UNAVAILABLE; calls
//     still running at --shutdown-timeout are cut off (Stop).
package grpcserver
