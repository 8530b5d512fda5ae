// Package model owns the vocabulary of a resolved model: Spec (one servable
// model version with its task, classes, input size and preprocessing), the
// task and resize-mode names, tensor descriptions (TensorInfo, DataType),
// the ONNX header summary and the sentinel errors about models.
//
// It is plain data shared by every layer above it, so it imports nothing of
// trtserve's and does no I/O: reading folders and files is repository/,
// running weights is engines/, turning images and outputs into answers is
// tasks/.
package model
