package grpcserver

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trtserve/trtserve/kserve"
	"github.com/trtserve/trtserve/shm"
)

// grpcCodes maps kserve's codes to gRPC's (they are named alike; Triton
// maps its own error classes to the same gRPC codes).
var grpcCodes = map[kserve.Code]codes.Code{
	kserve.Internal:          codes.Internal,
	kserve.InvalidArgument:   codes.InvalidArgument,
	kserve.NotFound:          codes.NotFound,
	kserve.Unavailable:       codes.Unavailable,
	kserve.ResourceExhausted: codes.ResourceExhausted,
	kserve.DeadlineExceeded:  codes.DeadlineExceeded,
	kserve.Unimplemented:     codes.Unimplemented,
	kserve.Canceled:          codes.Canceled,
	kserve.Unauthenticated:   codes.Unauthenticated,
	// Retrying cannot help, but gRPC has no "too large" code; Triton
	// answers RESOURCE_EXHAUSTED for what does not fit.
	kserve.TooLarge: codes.ResourceExhausted,
}

// grpcCode is a kserve code's gRPC code (Internal for one it does not
// know).
func grpcCode(c kserve.Code) codes.Code {
	if g, ok := grpcCodes[c]; ok {
		return g
	}
	return codes.Internal
}

// toStatus is the gRPC status of any error of an RPC: a status error
// stays as it is; anything else is classified by kserve.CodeOf, so HTTP
// and gRPC map the pipeline's and the engines' errors one way. Causes the
// client must not see (an Internal error's) are logged by the caller's
// logError.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	ke := kserve.CodeOf(err)
	return status.Error(grpcCode(ke.Code), ke.Msg)
}

// shmStatus maps the shared-memory registry's errors as Triton's
// SharedMemoryManager's are: an unknown region NOT_FOUND, a name in use
// ALREADY_EXISTS, bad bounds, keys, handles or sizes INVALID_ARGUMENT.
func shmStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, shm.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, shm.ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, shm.ErrBounds), errors.Is(err, shm.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, "shared memory: "+err.Error())
}

// invalidf is an INVALID_ARGUMENT status; client strings in args are
// clipped.
func invalidf(format string, args ...any) error {
	ke := kserve.Errorf(kserve.InvalidArgument, format, args...)
	return status.Error(codes.InvalidArgument, ke.Msg)
}
