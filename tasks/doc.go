// Package tasks owns what each task does between the image and the answer:
// image → tensor (decode, orient, Roboflow's static crop, contrast and
// grayscale steps, resize or letterbox, normalise: Preprocess) and tensor →
// result (box decoding and NMS, masks, keypoints, class scores), the
// drawing of results on the image, and each task's check, at load, that a
// model's outputs have the layout the task reads (Validate), so that a
// model of the wrong layout fails its load with the reason instead of
// loading and failing every request.
//
// Results are plain Go values (boxes with class names, masks as polygons
// or RLE, keypoints, class scores). tasks knows no protocol: it has no
// HTTP and no JSON. The protocol adapters in server/ parse requests into
// a task's options and encode its results; they run both halves on the
// pipeline's postprocess worker (compute, then encode), so answers are
// encoded off the request goroutine. Pixel arithmetic is vision's; this
// package decides which of it a task runs, in which order.
//
// It must not import pipeline, engines or server.
//
// # Adding a task
//
//  1. Name it in model (a Task constant, and its spellings in ParseTask).
//  2. Write tasks/<task>.go: a type with Validate (the outputs the task
//     reads, checked once at load; wrap model.ErrBadModel via badOutputs),
//     Postprocess (one image's slice of each output → the task's result,
//     given the request's options) and Overlays (what Draw draws), and an
//     init that registers it under its model.Task. That type is a
//     Decoder[Options, Result]; Preprocess is shared by every image task.
//  3. Give it its route in server/<task>.go: parse the request into the
//     task's options, encode its result, and add the route (and its entry
//     in the legacy route's table, legacyTasks).
package tasks
