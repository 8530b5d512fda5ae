package repository

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// Every bound, from a config document (config.yaml or a KServe load's
// config override, which go through the same resolver): a value beyond it
// is refused naming the key and the bound, as ErrOutOfBounds and
// model.ErrBadModel; values at the bound resolve.
func TestBoundsOfConfigValues(t *testing.T) {
	root := t.TempDir()
	link(t, "../testdata/models/yolov8n-320/1/model.onnx", filepath.Join(root, "dets", "1", "model.onnx"))
	repo := &Repository{Roots: []string{root}, Defaults: Defaults{MaxBatchSize: 8, InstanceCount: 1}}
	e, err := repo.Find("dets/1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, config string
		err          string // "" resolves
	}{
		// The config bomb of issue 20, as JSON (KServe's load parameter).
		{"bomb", `{"max_batch_size": 1000000000, "instance_count": 100000}`, "max_batch_size 1000000000 is above the limit 1024"},
		{"instances", `{"instance_count": 100000}`, "instance_count 100000 is above the limit 64"},
		{"batch at the limit", "max_batch_size: 1024\n", ""},
		{"batch above", "max_batch_size: 1025\n", "max_batch_size 1025 is above the limit 1024"},
		{"batch overflows int32", "max_batch_size: 9000000000\n", "max_batch_size 9000000000 is above the limit 1024"},
		{"instances at the limit", "instance_count: 64\n", ""},
		{"width", "input_width: 100000\n", "input_width 100000 is above the limit 8192"},
		{"height", "input_height: 8193\n", "input_height 8193 is above the limit 8192"},
		{"queue", "dynamic_batching: {max_queue_size: 100000000}\n", "dynamic_batching.max_queue_size 100000000 is above the limit 65536"},
		{"queue at the limit", "dynamic_batching: {max_queue_size: 65536}\n", ""},
		{"delay", "dynamic_batching: {max_queue_delay_microseconds: 3600000000}\n", "dynamic_batching.max_queue_delay_microseconds 3600000000 is above the limit 10000000"},
		{"negative delay", "dynamic_batching: {max_queue_delay_microseconds: -5}\n", "dynamic_batching.max_queue_delay_microseconds -5 is below the minimum 0"},
		{"negative queue", "dynamic_batching: {max_queue_size: -5}\n", "dynamic_batching.max_queue_size -5 is below the minimum 1"},
		{"preferred zero", "dynamic_batching: {preferred_batch_size: [0, 4]}\n", "dynamic_batching.preferred_batch_size 0 is below the minimum 1"},
		{"preferred huge", "dynamic_batching: {preferred_batch_size: [4, 100000]}\n", "dynamic_batching.preferred_batch_size 100000 is above the limit 1024"},
		{"preferred above max batch", "max_batch_size: 8\ndynamic_batching: {preferred_batch_size: [4, 16]}\n", "dynamic_batching.preferred_batch_size 16 is above the limit 8"},
		{"preferred above default max batch", "dynamic_batching: {preferred_batch_size: [4, 16]}\n", "dynamic_batching.preferred_batch_size 16 is above the limit 8"},
		{"preferred fine", "dynamic_batching: {preferred_batch_size: [4, 8], max_queue_delay_microseconds: 500}\n", ""},
		{"mean not finite", "preprocessing: {mean: [.nan, 0, 0]}\n", "preprocessing.mean must be finite"},
		{"std infinite", "preprocessing: {std: [1, .inf, 1]}\n", "preprocessing.std must be finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := repo.ResolveWith(e, []byte(tc.config))
			if tc.err == "" {
				if err != nil {
					t.Fatalf("err = %v, want it to resolve", err)
				}
				if m.MaxBatchSize < 1 || m.InstanceCount < 1 {
					t.Fatalf("resolved %d/%d", m.MaxBatchSize, m.InstanceCount)
				}
				return
			}
			if !errors.Is(err, ErrOutOfBounds) || !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want ErrOutOfBounds saying %q", err, tc.err)
			}
		})
	}
}

// The resolved model is checked too: defaults (the flags) and the model's
// own files size buffers as surely as config.yaml does.
func TestBoundsOfResolvedModel(t *testing.T) {
	root := t.TempDir()
	link(t, "../testdata/models/yolov8n-320/1/model.onnx", filepath.Join(root, "dets", "1", "model.onnx"))
	repo := &Repository{Roots: []string{root}, Defaults: Defaults{MaxBatchSize: 5000, InstanceCount: 1}}
	e, err := repo.Find("dets/1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Resolve(e); !errors.Is(err, ErrOutOfBounds) || !strings.Contains(err.Error(), "max_batch_size 5000 is above the limit 1024") {
		t.Fatalf("default max batch 5000: err = %v", err)
	}
	// config.yaml brings it within bounds.
	if m, err := repo.ResolveWith(e, []byte("max_batch_size: 16\n")); err != nil || m.MaxBatchSize != 16 {
		t.Fatalf("with max_batch_size 16: %v %v", m, err)
	}
}

func TestSettingsCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Settings
		err  string
	}{
		{"zero is unset", Settings{}, ""},
		{"typical", Settings{MaxBatchSize: 32, InstanceCount: 4, InputWidth: 1280, InputHeight: 1280, MaxQueueSize: 4096, MaxQueueDelayMicroseconds: 2000, PreferredBatchSizes: []int{8, 16, 32}, Classes: 80}, ""},
		{"classes", Settings{Classes: 100_001}, "class_names (count) 100001 is above the limit 100000"},
		{"negative instances", Settings{InstanceCount: -1}, "instance_count -1 is below the minimum 1"},
		{"many preferred sizes", Settings{PreferredBatchSizes: make1(2000)}, "dynamic_batching.preferred_batch_size (count) 2000 is above the limit 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Check()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var be *BoundError
			if !errors.As(err, &be) || err.Error() != tc.err {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	if len(Limits()) != len(bounds) || !strings.Contains(strings.Join(Limits(), "\n"), "max_batch_size: 1..1024") {
		t.Fatalf("Limits() = %q", Limits())
	}
}

func make1(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// aliasBomb is a YAML "billion laughs" (9^9 strings once expanded) under
// key, the anchors nested inside it.
func aliasBomb(key string) string {
	var b strings.Builder
	b.WriteString(key + ":\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i, c := range "bcdefghi" {
		prev := string("abcdefghi"[i])
		b.WriteString("  " + string(c) + ": &" + string(c) + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n")
	}
	return b.String()
}

// A config override is YAML: an alias bomb in a key of the repository's
// is refused without being expanded, and one under a backend's key stays
// an unexpanded node here (the backend decodes it strictly: see
// engines/simulated's TestAliasBombInSimulatedKey).
func TestAliasBombIsNotExpanded(t *testing.T) {
	if _, err := ParseFileConfig([]byte(aliasBomb("dynamic_batching"))); !errors.Is(err, model.ErrBadModel) {
		t.Fatalf("alias bomb under dynamic_batching: err = %v", err)
	}
	if _, err := ParseFileConfig([]byte("class_names: &a [x, x]\ninstance_count: 1\n")); err != nil {
		t.Fatalf("a plain anchor: %v", err)
	}
	if _, err := ParseFileConfig([]byte(aliasBomb("simulated"))); err != nil {
		t.Fatalf("a backend's key is left to the backend, undecoded: %v", err)
	}
}
