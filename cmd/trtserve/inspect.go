package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/internal/gpustack"
	"github.com/trtserve/trtserve/repository"
)

const inspectUsage = `usage: trtserve inspect [--json] FILE

Describes an ONNX model (inputs, outputs, opsets, producer, and the
Ultralytics or Roboflow metadata trtserve reads) or a TensorRT engine
(IO tensors with their profiles; reading an engine needs the TensorRT shim
and, for real engines, the GPU it was built for).

flags:
`

type inspectReport struct {
	File     string            `json:"file"`
	Kind     string            `json:"kind"`
	Bytes    int64             `json:"bytes"`
	IR       int64             `json:"ir_version,omitempty"`
	Producer string            `json:"producer,omitempty"`
	Opsets   map[string]int64  `json:"opsets,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Roboflow map[string]string `json:"roboflow,omitempty"`
	TensorRT string            `json:"tensorrt,omitempty"`
	Inputs   []inspectTensor   `json:"inputs"`
	Outputs  []inspectTensor   `json:"outputs"`
}

type inspectTensor struct {
	Name     string   `json:"name"`
	DataType string   `json:"datatype"`
	Shape    []int64  `json:"shape"`
	Dims     []string `json:"dim_params,omitempty"`
	Min      []int64  `json:"profile_min,omitempty"`
	Opt      []int64  `json:"profile_opt,omitempty"`
	Max      []int64  `json:"profile_max,omitempty"`
}

// runInspect is `trtserve inspect`.
func runInspect(args []string, stdout, stderr io.Writer) error {
	c, err := config.LoadInspect(args, stderr, inspectUsage)
	if err != nil {
		return err
	}
	file := c.File
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	r := inspectReport{File: file, Bytes: int64(len(data))}
	if info, onnxErr := repository.ParseONNXInfo(data); onnxErr == nil && len(info.Inputs) > 0 {
		r.Kind, r.IR, r.Producer, r.Opsets, r.Metadata = "onnx", info.IRVersion, info.Producer, info.Opsets, info.Metadata
		for _, t := range info.Inputs {
			r.Inputs = append(r.Inputs, inspectTensor{Name: t.Name, DataType: string(t.DataType), Shape: t.Shape, Dims: info.DimParams[t.Name]})
		}
		for _, t := range info.Outputs {
			r.Outputs = append(r.Outputs, inspectTensor{Name: t.Name, DataType: string(t.DataType), Shape: t.Shape, Dims: info.DimParams[t.Name]})
		}
		r.Roboflow = roboflowFiles(filepath.Dir(file))
	} else {
		r.Kind = "tensorrt engine"
		if err := inspectEngine(&r, data, c); err != nil {
			return fmt.Errorf("%s is not an ONNX model (%v), and as a TensorRT engine: %w", file, onnxErr, err)
		}
	}
	if c.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printReport(stdout, r)
	return nil
}

func inspectEngine(r *inspectReport, plan []byte, c *config.Inspect) error {
	stack, err := gpustack.Open(gpustack.Options{ShimLib: c.TRTShimLib, TensorRTLib: c.TensorRTLib, AllowEngineHostCode: true, CUDALib: c.CUDALib, GPU: c.GPU})
	if cudaErr := (*gpustack.CUDAError)(nil); errors.As(err, &cudaErr) {
		return fmt.Errorf("reading an engine needs its GPU: %w", err)
	} else if err != nil {
		return err
	}
	defer stack.Close()
	r.TensorRT = stack.Info.Version()
	return stack.OnDevice(func() error {
		eng, err := stack.Shim.Load(plan)
		if err != nil {
			return err
		}
		defer eng.Close()
		for _, io := range eng.IO() {
			t := inspectTensor{Name: io.Name, DataType: io.DataType.String(), Shape: io.Shape, Min: io.Min, Opt: io.Opt, Max: io.Max}
			if io.Input {
				r.Inputs = append(r.Inputs, t)
			} else {
				r.Outputs = append(r.Outputs, t)
			}
		}
		return nil
	})
}

// roboflowFiles are the Roboflow model-cache files next to the model.
func roboflowFiles(dir string) map[string]string {
	out := map[string]string{}
	for _, n := range []string{"environment.json", "class_names.txt", "model_type.json"} {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			b = bytes.TrimSpace(b)
			if len(b) > 200 {
				b = append(b[:200:200], "..."...)
			}
			out[n] = string(b)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func printReport(w io.Writer, r inspectReport) {
	fmt.Fprintf(w, "%s: %s, %s\n", r.File, r.Kind, humanBytes(r.Bytes))
	if r.Kind == "onnx" {
		var ops []string
		for d, v := range r.Opsets {
			if d == "" {
				d = "ai.onnx"
			}
			ops = append(ops, fmt.Sprintf("%s %d", d, v))
		}
		sort.Strings(ops)
		fmt.Fprintf(w, "  ir version %d, producer %q, opsets %s\n", r.IR, r.Producer, strings.Join(ops, ", "))
	} else {
		fmt.Fprintf(w, "  tensorrt %s\n", r.TensorRT)
	}
	tensors := func(kind string, ts []inspectTensor) {
		for _, t := range ts {
			fmt.Fprintf(w, "  %s %-16s %-5s %v", kind, t.Name, t.DataType, t.Shape)
			if len(t.Dims) > 0 {
				fmt.Fprintf(w, "  dims %v", t.Dims)
			}
			if t.Min != nil {
				fmt.Fprintf(w, "  profile min %v opt %v max %v", t.Min, t.Opt, t.Max)
			}
			fmt.Fprintln(w)
		}
	}
	tensors("input ", r.Inputs)
	tensors("output", r.Outputs)
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := r.Metadata[k]
		if len(v) > 120 {
			v = v[:120] + "..."
		}
		fmt.Fprintf(w, "  metadata %s: %s\n", k, v)
	}
	for k, v := range r.Roboflow {
		fmt.Fprintf(w, "  roboflow %s: %s\n", k, v)
	}
}
