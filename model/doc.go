// Package model owns the vocabulary of a resolved model: Spec (one servable
// model version with its task, classes, input size and preprocessing), the
// typed names a Spec is made of (Task, ResizeMode, Source, NMS,
// OutputLayout, Contrast, the shipped backend names), tensor descriptions
// (TensorInfo, DataType), the ONNX header summary and the sentinel errors
// about models.
//
// It is plain data shared by every layer above it, so it imports nothing
// of trtserve's and does no I/O: reading folders and files is repository/,
// running weights is engines/, turning images and outputs into answers is
// tasks/. A setting only one backend understands is not a Spec field (the
// backend decodes it from Spec.Config), so this package never grows a
// backend's vocabulary.
package model
