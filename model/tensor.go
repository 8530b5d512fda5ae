package model

import (
	"fmt"
	"strings"
)

// DataType is a tensor element type, named as in the KServe v2 protocol.
type DataType string

// The element types our backends can feed.
const (
	FP32  DataType = "FP32"
	FP16  DataType = "FP16"
	INT64 DataType = "INT64"
	INT32 DataType = "INT32"
	UINT8 DataType = "UINT8"
)

// Size is the width of one element in bytes (0 when unknown).
func (d DataType) Size() int {
	switch d {
	case FP32, INT32:
		return 4
	case FP16:
		return 2
	case INT64:
		return 8
	case UINT8:
		return 1
	}
	return 0
}

// TensorInfo describes one input or output of an engine. Shape includes the
// batch dimension first; -1 marks a dimension fixed only at run time.
type TensorInfo struct {
	Name     string
	DataType DataType
	Shape    []int64
}

func (t TensorInfo) String() string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("%s %s[%s]", t.Name, t.DataType, strings.Join(dims, ","))
}

// ElemsPerItem is the number of elements of one batch item (all dimensions
// after the first), or -1 when one of them is still dynamic or the tensor
// is a scalar: a rank-0 tensor has no batch dimension to split items by.
func (t TensorInfo) ElemsPerItem() int {
	if len(t.Shape) == 0 {
		return -1
	}
	n := 1
	for _, d := range t.Shape[1:] {
		if d < 0 {
			return -1
		}
		n *= int(d)
	}
	return n
}
