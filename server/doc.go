// Package server owns trtserve's HTTP surface: the Fiber app, Roboflow
// Inference's routes with their request and response types, JSON errors
// with the right statuses, request limits, and the glue that turns a request
// into pipeline Work (decode an image, run the model, shape the answer).
//
// It must not schedule inference itself (pipeline/ does) or run native code.
// Fiber reuses request memory after a handler returns: everything that
// outlives a handler is copied or decoded before it returns.
package server
