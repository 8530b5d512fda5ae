package repository

import (
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trtserve/trtserve/model"
)

// Field numbers of onnx.proto (ModelProto, GraphProto, ValueInfoProto, ...).
const (
	modelIRVersion    = 1
	modelProducerName = 2
	modelGraph        = 7
	modelOpsetImport  = 8
	modelMetadata     = 14
	graphInitializer  = 5
	graphInput        = 11
	graphOutput       = 12
	valueInfoName     = 1
	valueInfoType     = 2
	typeTensor        = 1
	tensorElemType    = 1
	tensorShape       = 2
	shapeDim          = 1
	dimValue          = 1
	dimParam          = 2
	tensorProtoName   = 8
)

// ONNX element type numbers (onnx.TensorProto.DataType).
var onnxElemTypes = map[int64]model.DataType{1: model.FP32, 2: model.UINT8, 6: model.INT32, 7: model.INT64, 10: model.FP16}

// maxONNXHeader bounds how much of a file ReadONNXInfo parses when the graph
// is stored after huge initializers; 2 GiB is protobuf's own limit.
const maxONNXFile = 2 << 30

// ReadONNXInfoFile reads an ONNX model's header information from path.
func ReadONNXInfoFile(path string) (*model.ONNXInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxONNXFile {
		return nil, fmt.Errorf("%w: %s is larger than 2 GiB (external data is not supported)", model.ErrBadModel, path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	info, err := ParseONNXInfo(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// ParseONNXInfo decodes the parts of a serialized ModelProto that trtserve
// needs, skipping weights. Inputs that are also initializers (old exports
// list weights as graph inputs) are dropped.
func ParseONNXInfo(data []byte) (*model.ONNXInfo, error) {
	info := &model.ONNXInfo{Opsets: map[string]int64{}, Metadata: map[string]string{}, DimParams: map[string][]string{}}
	var graph []byte
	err := walk(data, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == modelIRVersion && typ == protowire.VarintType:
			info.IRVersion = int64(n)
		case num == modelProducerName && typ == protowire.BytesType:
			info.Producer = string(v)
		case num == modelGraph && typ == protowire.BytesType:
			graph = v
		case num == modelOpsetImport && typ == protowire.BytesType:
			var domain string
			var version int64
			if err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				if num == 1 && typ == protowire.BytesType {
					domain = string(v)
				} else if num == 2 && typ == protowire.VarintType {
					version = int64(n)
				}
				return nil
			}); err != nil {
				return err
			}
			info.Opsets[domain] = version
		case num == modelMetadata && typ == protowire.BytesType:
			var key, val string
			if err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ == protowire.BytesType && num == 1 {
					key = string(v)
				} else if typ == protowire.BytesType && num == 2 {
					val = string(v)
				}
				return nil
			}); err != nil {
				return err
			}
			info.Metadata[key] = val
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: not an ONNX model: %v", model.ErrBadModel, err)
	}
	if graph == nil {
		return nil, fmt.Errorf("%w: ONNX model has no graph", model.ErrBadModel)
	}
	initializers := map[string]bool{}
	var ins, outs [][]byte
	err = walk(graph, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case graphInput:
			ins = append(ins, v)
		case graphOutput:
			outs = append(outs, v)
		case graphInitializer:
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num == tensorProtoName && typ == protowire.BytesType {
					initializers[string(v)] = true
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: bad ONNX graph: %v", model.ErrBadModel, err)
	}
	for _, raw := range ins {
		t, params, err := parseValueInfo(raw)
		if err != nil {
			return nil, err
		}
		if !initializers[t.Name] {
			info.Inputs = append(info.Inputs, t)
			info.DimParams[t.Name] = params
		}
	}
	for _, raw := range outs {
		t, params, err := parseValueInfo(raw)
		if err != nil {
			return nil, err
		}
		info.Outputs = append(info.Outputs, t)
		info.DimParams[t.Name] = params
	}
	if len(info.Inputs) == 0 || len(info.Outputs) == 0 {
		return nil, fmt.Errorf("%w: ONNX graph declares no inputs or no outputs", model.ErrBadModel)
	}
	return info, nil
}

func parseValueInfo(raw []byte) (model.TensorInfo, []string, error) {
	var t model.TensorInfo
	var params []string
	err := walk(raw, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case valueInfoName:
			t.Name = string(v)
		case valueInfoType:
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != typeTensor || typ != protowire.BytesType {
					return nil
				}
				return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
					switch {
					case num == tensorElemType && typ == protowire.VarintType:
						t.DataType = onnxElemTypes[int64(n)]
						if t.DataType == "" {
							t.DataType = model.DataType(fmt.Sprintf("ONNX_TYPE_%d", n))
						}
					case num == tensorShape && typ == protowire.BytesType:
						return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
							if num != shapeDim || typ != protowire.BytesType {
								return nil
							}
							dim, param := int64(-1), ""
							if err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
								if num == dimValue && typ == protowire.VarintType {
									dim = int64(n)
								} else if num == dimParam && typ == protowire.BytesType {
									param = string(v)
								}
								return nil
							}); err != nil {
								return err
							}
							t.Shape = append(t.Shape, dim)
							params = append(params, param)
							return nil
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	if err != nil {
		return t, nil, fmt.Errorf("%w: bad ONNX value info: %v", model.ErrBadModel, err)
	}
	return t, params, nil
}

var errTruncated = errors.New("truncated protobuf")

// walk calls fn for every field of one protobuf message. For bytes fields v
// is the payload; for varints n is the value. Groups and fixed fields are
// skipped.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			x, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return errTruncated
			}
			if err := fn(num, typ, nil, x); err != nil {
				return err
			}
			b = b[m:]
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errTruncated
			}
			if err := fn(num, typ, v, 0); err != nil {
				return err
			}
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return errTruncated
			}
			b = b[m:]
		}
	}
	return nil
}
