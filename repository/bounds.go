package repository

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/model"
)

// ErrOutOfBounds is a model setting outside what trtserve accepts (a
// BoundError says which and the bound). It is also model.ErrBadModel, so
// whatever refuses a bad model refuses it too; the HTTP layer answers it
// with 400.
var ErrOutOfBounds = errors.New("model setting out of bounds")

// BoundError is one setting beyond its bound, named by its config.yaml key.
type BoundError struct {
	Field        string
	Value, Limit int64
	// Above: Value is above Limit (else below it).
	Above bool
}

func (e *BoundError) Error() string {
	if e.Above {
		return fmt.Sprintf("%s %d is above the limit %d", e.Field, e.Value, e.Limit)
	}
	return fmt.Sprintf("%s %d is below the minimum %d", e.Field, e.Value, e.Limit)
}

// Is makes a BoundError both ErrOutOfBounds and model.ErrBadModel.
func (e *BoundError) Is(target error) bool {
	return target == ErrOutOfBounds || target == model.ErrBadModel
}

// outOfBounds is a bound that is not a number range.
type outOfBounds string

func (e outOfBounds) Error() string { return string(e) }

// Is makes it both ErrOutOfBounds and model.ErrBadModel.
func (e outOfBounds) Is(target error) bool {
	return target == ErrOutOfBounds || target == model.ErrBadModel
}

// Settings are the values of a model that size what its load allocates or
// how long its requests may wait: what the bounds table checks, whether
// they come from config.yaml (as written) or from the resolved model.Spec
// (after defaults, metadata and the model file). A zero means "not set"
// where the setting has a default, and is then not checked.
type Settings struct {
	MaxBatchSize, InstanceCount int64
	InputWidth, InputHeight     int64
	MaxQueueSize                int64
	MaxQueueDelayMicroseconds   int64
	PreferredBatchSizes         []int
	Classes                     int64
}

// bound is one row of the table: the config.yaml key, its range and the
// value(s) it reads. zeroOK: 0 means the default, so it passes.
type bound struct {
	field    string
	min, max int64
	zeroOK   bool
	values   func(s *Settings) []int64
}

func one(f func(s *Settings) int64) func(s *Settings) []int64 {
	return func(s *Settings) []int64 { return []int64{f(s)} }
}

// bounds is every bound on a model's settings, in one place. The limits
// are package config's constants (config/defaults.go), so the flags that
// set the same values (--max-batch-size, ...) check the same numbers.
var bounds = []bound{
	{"max_batch_size", 1, config.MaxModelBatchSize, true, one(func(s *Settings) int64 { return s.MaxBatchSize })},
	{"instance_count", 1, config.MaxModelInstances, true, one(func(s *Settings) int64 { return s.InstanceCount })},
	{"input_width", 1, config.MaxModelInputSide, true, one(func(s *Settings) int64 { return s.InputWidth })},
	{"input_height", 1, config.MaxModelInputSide, true, one(func(s *Settings) int64 { return s.InputHeight })},
	{"dynamic_batching.max_queue_size", 1, config.MaxModelQueueSize, true, one(func(s *Settings) int64 { return s.MaxQueueSize })},
	{"dynamic_batching.max_queue_delay_microseconds", 0, config.MaxModelQueueDelay.Microseconds(), true, one(func(s *Settings) int64 { return s.MaxQueueDelayMicroseconds })},
	{"dynamic_batching.preferred_batch_size", 1, config.MaxModelBatchSize, false, func(s *Settings) []int64 {
		out := make([]int64, len(s.PreferredBatchSizes))
		for i, n := range s.PreferredBatchSizes {
			out[i] = int64(n)
		}
		return out
	}},
	// How many sizes: each must also be distinct and at most
	// max_batch_size (checked below), so this only stops a long list.
	{"dynamic_batching.preferred_batch_size (count)", 0, config.MaxModelBatchSize, true, one(func(s *Settings) int64 { return int64(len(s.PreferredBatchSizes)) })},
	{"class_names (count)", 0, config.MaxModelClasses, true, one(func(s *Settings) int64 { return s.Classes })},
}

// Check tests every setting against its bound and returns the first one
// beyond it, as a *BoundError naming the config.yaml key and the bound.
func (s *Settings) Check() error {
	for _, b := range bounds {
		for _, v := range b.values(s) {
			if v == 0 && b.zeroOK {
				continue
			}
			if v > b.max {
				return &BoundError{Field: b.field, Value: v, Limit: b.max, Above: true}
			}
			if v < b.min {
				return &BoundError{Field: b.field, Value: v, Limit: b.min}
			}
		}
	}
	if s.MaxBatchSize > 0 {
		for _, n := range s.PreferredBatchSizes {
			if int64(n) > s.MaxBatchSize {
				return &BoundError{Field: "dynamic_batching.preferred_batch_size", Value: int64(n), Limit: s.MaxBatchSize, Above: true}
			}
		}
	}
	return nil
}

// fileSettings are config.yaml's values as written (before the model's
// files or the defaults fill what it leaves out).
func fileSettings(c *FileConfig) *Settings {
	s := &Settings{
		MaxBatchSize: int64(c.MaxBatchSize), InstanceCount: int64(c.InstanceCount),
		InputWidth: int64(c.InputWidth), InputHeight: int64(c.InputHeight),
		Classes: int64(len(c.ClassNames)),
	}
	if b := c.DynamicBatching; b != nil {
		s.MaxQueueSize = int64(b.MaxQueueSize)
		s.MaxQueueDelayMicroseconds = int64(b.MaxQueueDelayMicroseconds)
		s.PreferredBatchSizes = b.PreferredBatchSize
	}
	return s
}

// SpecSettings are a resolved model's settings.
func SpecSettings(m *model.Spec) *Settings {
	return &Settings{
		MaxBatchSize: int64(m.MaxBatchSize), InstanceCount: int64(m.InstanceCount),
		InputWidth: int64(m.InputWidth), InputHeight: int64(m.InputHeight),
		MaxQueueSize:              int64(m.Batching.MaxQueueSize),
		MaxQueueDelayMicroseconds: int64(m.Batching.MaxQueueDelayMicroseconds),
		PreferredBatchSizes:       m.Batching.PreferredBatchSize,
		Classes:                   int64(len(m.ClassNames)),
	}
}

// checkFileConfig checks config.yaml (or a load's override) as written,
// so a value beyond a bound is refused even where the model file would
// have overridden it (a fixed batch size), and its preprocessing numbers
// are finite.
func checkFileConfig(c *FileConfig) error {
	if err := fileSettings(c).Check(); err != nil {
		return err
	}
	for _, v := range []struct {
		field string
		p     *[3]float32
	}{{"preprocessing.mean", c.Preprocessing.Mean}, {"preprocessing.std", c.Preprocessing.Std}} {
		if v.p == nil {
			continue
		}
		for _, x := range v.p {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return outOfBounds(fmt.Sprintf("%s must be finite numbers, got %v", v.field, *v.p))
			}
		}
	}
	return nil
}

// checkSpec checks a resolved model: its settings and its input tensor's
// dimensions as the file has them (a fixed batch or channel count beyond a
// bound sizes buffers as surely as a config value would).
func checkSpec(m *model.Spec) error {
	if err := SpecSettings(m).Check(); err != nil {
		return err
	}
	if m.ONNX != nil && len(m.ONNX.Inputs) > 0 {
		if shape := m.ONNX.Inputs[0].Shape; len(shape) == 4 && shape[1] > config.MaxModelChannels {
			return &BoundError{Field: "input channels (" + m.ONNX.Inputs[0].Name + " dimension 1)", Value: shape[1], Limit: config.MaxModelChannels, Above: true}
		}
	}
	return nil
}

// Limits lists the bounds as "key: min..max" lines, for documentation
// and error hints.
func Limits() []string {
	out := make([]string, len(bounds))
	for i, b := range bounds {
		out[i] = b.field + ": " + strconv.FormatInt(b.min, 10) + ".." + strconv.FormatInt(b.max, 10)
	}
	return out
}
