package pipeline

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// ErrInsufficientMemory is a load refused before it allocated: the
// model's estimate does not fit --max-model-memory, or the memory the
// host, its container or the backend's GPU and pinned pool have free.
var ErrInsufficientMemory = errors.New("not enough memory to load the model")

// LoadEstimate is what a model will hold once loaded: the pipeline's batch
// buffers and the backend's own memory.
type LoadEstimate struct {
	// Sets is the batch buffer sets (instances × ring depth), each of
	// MaxBatch items of ItemBytes (inputs and outputs together).
	Sets, MaxBatch int
	ItemBytes      int64
	// Buffers are the batch buffers, in pinned memory when the backend
	// asks for it, else host memory.
	Buffers engines.Memory
	// Backend is the backend's own (engines.MemoryEstimator), or the model
	// file's size in host memory for a backend that cannot say.
	Backend engines.Memory
}

// Total is what the model holds, by where.
func (e LoadEstimate) Total() engines.Memory { return e.Buffers.Plus(e.Backend) }

func (e LoadEstimate) String() string {
	t := e.Total()
	return fmt.Sprintf("%s host + %s pinned + %s GPU (batch buffers: %d sets × %d images × %s; the backend: %s host, %s pinned, %s GPU)",
		bytesString(t.Host), bytesString(t.Pinned), bytesString(t.Device), e.Sets, e.MaxBatch, bytesString(e.ItemBytes),
		bytesString(e.Backend.Host), bytesString(e.Backend.Pinned), bytesString(e.Backend.Device))
}

// specItemBytes are the bytes of one batch item per tensor, inputs then
// outputs, before any backend has loaded the model
// (engines.SpecItemBytes: symbolic output dimensions count as 1, so this
// never overestimates; the exact check runs once the engine is loaded and
// its shapes are known, engineItemBytes).
func specItemBytes(spec *model.Spec) []int64 {
	in, out := engines.SpecItemBytes(spec)
	return append(in, out...)
}

// engineItemBytes are a loaded engine's item bytes per tensor, exactly as
// newBufSet allocates them.
func engineItemBytes(eng engines.Engine) []int64 {
	var out []int64
	for _, t := range append(append([]model.TensorInfo(nil), eng.Inputs()...), eng.Outputs()...) {
		out = append(out, engines.SatMul(int64(max(t.ElemsPerItem(), 0)), 4))
	}
	return out
}

// estimate is what loading spec on backend will hold, with batch buffers
// of maxBatch items of itemBytes (per tensor).
func (mg *Manager) estimate(spec *model.Spec, backend engines.Backend, itemBytes []int64, maxBatch int) (LoadEstimate, error) {
	opts := mg.opts.withModel(spec)
	var own engines.LoadEstimate
	if est, ok := backend.(engines.MemoryEstimator); ok {
		var err error
		if own, err = est.EstimateLoad(spec); err != nil {
			return LoadEstimate{}, fmt.Errorf("%s: estimate memory: %w", spec.ID(), err)
		}
	} else if fi, err := os.Stat(spec.File); err == nil {
		own.Own.Host = fi.Size()
	}
	n := max(spec.InstanceCount, 1)
	perInstance := opts.RingDepth
	if opts.Mode == Serial {
		perInstance = 1
	} else if own.Depth > 0 {
		perInstance = max(perInstance, own.Depth+2) // as newModel does for a Submitter
	}
	e := LoadEstimate{Sets: n * perInstance, MaxBatch: max(maxBatch, 1), Backend: own.Own}
	var set int64 // one set's bytes as allocated: each buffer rounded as its allocator rounds it
	for _, b := range itemBytes {
		e.ItemBytes = engines.SatAdd(e.ItemBytes, b)
		size := engines.SatMul(b, int64(e.MaxBatch))
		if own.PinnedBuffers {
			size = pinnedClass(size)
		} else {
			size = roundUp(size, int64(os.Getpagesize()))
		}
		set = engines.SatAdd(set, size)
	}
	all := engines.SatMul(int64(e.Sets), set)
	if own.PinnedBuffers {
		e.Buffers.Pinned = all
	} else {
		e.Buffers.Host = all
	}
	return e, nil
}

func roundUp(n, to int64) int64 {
	if n > (1<<63-1)-to {
		return 1<<63 - 1
	}
	return (n + to - 1) / to * to
}

// pinnedClass is cuda.Pool's size class for a buffer of size bytes
// (powers of two from 4 KiB up to 16 MiB, then 2 MiB steps): what the pool
// holds for it.
func pinnedClass(size int64) int64 {
	const largeClass, largeStep = 16 << 20, 2 << 20
	switch {
	case size <= 4<<10:
		return 4 << 10
	case size > largeClass:
		return roundUp(size, largeStep)
	}
	return 1 << bits.Len64(uint64(size-1))
}

// fits refuses an estimate beyond --max-model-memory or beyond what is
// free: host memory (the container's limit or MemAvailable) for host and
// pinned bytes, the backend's pinned pool and GPU for theirs. It returns
// nil when the model fits, else an ErrInsufficientMemory naming the limit.
// loaded: the backend has loaded the engine already, so what is free no
// longer includes its own memory and only the batch buffers are still to
// come (the cap is on the whole estimate either way).
func (mg *Manager) fits(spec *model.Spec, backend engines.Backend, e LoadEstimate, loaded bool) error {
	return mg.fitsBeside(spec, backend, e, loaded, engines.Memory{})
}

// reserve checks that e fits beside the loads already in progress (their
// estimates count as taken: they may not have allocated yet) and adds it
// to them; release takes it back once the load is done, its memory then
// allocated (and seen as such by the free figures) or not at all.
func (mg *Manager) reserve(spec *model.Spec, backend engines.Backend, e LoadEstimate) error {
	mg.loadMu.Lock()
	defer mg.loadMu.Unlock()
	if err := mg.fitsBeside(spec, backend, e, false, mg.pending); err != nil {
		return err
	}
	mg.pending = mg.pending.Plus(e.Total())
	return nil
}

func (mg *Manager) release(e LoadEstimate) {
	mg.loadMu.Lock()
	defer mg.loadMu.Unlock()
	t := e.Total()
	mg.pending = engines.Memory{Host: mg.pending.Host - t.Host, Pinned: mg.pending.Pinned - t.Pinned, Device: mg.pending.Device - t.Device}
}

// fitsBeside is fits with the memory of other loads in progress (taken)
// counted as not free.
func (mg *Manager) fitsBeside(spec *model.Spec, backend engines.Backend, e LoadEstimate, loaded bool, taken engines.Memory) error {
	need := e.Total()
	if loaded {
		need = e.Buffers
	}
	var what string
	if taken != (engines.Memory{}) {
		what = " beside the loads in progress"
	}
	refuse := func(what string, limit int64) error {
		return fmt.Errorf("%s: %w: it would hold %s, above %s (%s): lower max_batch_size or instance_count, or free memory",
			spec.ID(), ErrInsufficientMemory, e, what, bytesString(limit))
	}
	if limit := mg.opts.MaxModelMemory; limit > 0 && e.Total().Total() > limit {
		return refuse("--max-model-memory", limit)
	}
	hostFree := mg.opts.HostAvailable
	if hostFree == nil {
		hostFree = HostAvailable
	}
	if free, where := hostFree(); free >= 0 && engines.SatAdd(engines.SatAdd(need.Host, need.Pinned), engines.SatAdd(taken.Host, taken.Pinned)) > free {
		return refuse("the host memory free ("+where+")"+what, free)
	}
	if rep, ok := backend.(engines.MemoryReporter); ok && (need.Pinned > 0 || need.Device > 0) {
		pinned, device, err := rep.FreeMemory()
		if err != nil {
			return fmt.Errorf("%s: free memory of %s: %w", spec.ID(), backend.Name(), err)
		}
		if pinned >= 0 && engines.SatAdd(need.Pinned, taken.Pinned) > pinned {
			return refuse("the pinned memory pool's budget left (--pinned-memory-pool-bytes)"+what, pinned)
		}
		if device >= 0 && engines.SatAdd(need.Device, taken.Device) > device {
			return refuse("the GPU's free memory"+what, device)
		}
	}
	return nil
}

// checkRingDepth bounds the manager's ring depth (config.MaxRingDepth).
func checkRingDepth(depth int) error {
	if depth > config.MaxRingDepth {
		return fmt.Errorf("%w: ring depth %d is above the limit %d", model.ErrBadModel, depth, config.MaxRingDepth)
	}
	return nil
}

// HostAvailable is the host memory a load may still take and where that
// figure comes from: the cgroup v2 limit of this process's container
// (memory.max − memory.current) or /proc/meminfo's MemAvailable, whichever
// is smaller; -1 when neither can be read.
func HostAvailable() (int64, string) {
	free, where := int64(-1), ""
	if avail, ok := memAvailable(); ok {
		free, where = avail, "MemAvailable"
	}
	if limit, used, ok := cgroupMemory(); ok && (free < 0 || limit-used < free) {
		free, where = max(limit-used, 0), "the cgroup's memory.max − memory.current"
	}
	return free, where
}

func memAvailable() (int64, bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err == nil
			}
		}
	}
	return 0, false
}

// cgroupMemory reads this process's cgroup memory limit and usage (v2:
// memory.max and memory.current; v1: memory.limit_in_bytes and
// memory.usage_in_bytes); ok is false without a limit.
func cgroupMemory() (limit, used int64, ok bool) {
	dirs := []string{"/sys/fs/cgroup"}
	if data, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, found := strings.CutPrefix(line, "0::"); found && rest != "/" && rest != "" {
				dirs = append([]string{filepath.Join("/sys/fs/cgroup", rest)}, dirs...)
			}
		}
	}
	for _, dir := range dirs {
		maxText, err1 := os.ReadFile(filepath.Join(dir, "memory.max"))
		curText, err2 := os.ReadFile(filepath.Join(dir, "memory.current"))
		if err1 != nil || err2 != nil {
			continue
		}
		m := strings.TrimSpace(string(maxText))
		if m == "max" {
			return 0, 0, false // v2 without a limit
		}
		l, err1 := strconv.ParseInt(m, 10, 64)
		u, err2 := strconv.ParseInt(strings.TrimSpace(string(curText)), 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		return l, u, true
	}
	// cgroup v1: the memory controller's limit (a huge number when none).
	if data, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 || !strings.Contains(","+f[1]+",", ",memory,") {
				continue
			}
			for _, dir := range []string{filepath.Join("/sys/fs/cgroup/memory", f[2]), "/sys/fs/cgroup/memory"} {
				l, err1 := readInt(filepath.Join(dir, "memory.limit_in_bytes"))
				u, err2 := readInt(filepath.Join(dir, "memory.usage_in_bytes"))
				if err1 == nil && err2 == nil {
					return l, u, l < 1<<60
				}
			}
		}
	}
	return 0, 0, false
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
