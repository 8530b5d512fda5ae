package app

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/trtserve/trtserve/config"
)

// Memory: Go's soft memory limit and the in-flight bytes bound.
//
// Without GOMEMLIMIT the Go collector lets the heap grow to twice what is
// live, whatever the container allows; at 1000 waiting 1080p requests that
// is what took the server past its memory. So when the process runs in a
// cgroup with a memory limit (cgroup v2 memory.max, v1
// memory.limit_in_bytes, of its own cgroup or an ancestor: the smallest),
// and GOMEMLIMIT is not set, Run sets the soft limit to 90% of it
// (config.DefaultMemoryLimitFraction): the collector works harder before
// the kernel's OOM killer acts. A GOMEMLIMIT the user set is kept as it is.
//
// Without GOGC, the collector's headroom is config.DefaultGCPercent (50)
// instead of Go's 100: the peak heap is 1.5x the live one, not 2x.
//
// --max-inflight-bytes 0 (the default) bounds the bytes requests hold to a
// quarter (config.DefaultInflightBytesFraction) of the memory limit: the
// Go limit when there is one, else the machine's memory (MemTotal).

// memoryLimits is what Run decided, for its log line.
type memoryLimits struct {
	GoLimit       int64  // Go's soft memory limit in bytes (math.MaxInt64: none)
	Source        string // "GOMEMLIMIT", "cgroup" or "none"
	GOGC          string // the collector's headroom in force: the user's GOGC, or config.DefaultGCPercent
	Cgroup        int64  // the cgroup's limit (0: none found)
	InflightBytes int64  // the --max-inflight-bytes in force
}

// applyMemoryLimits sets Go's memory limit from the cgroup when the user did
// not set GOMEMLIMIT, and works out the in-flight bytes bound. root is "/"
// outside tests.
func applyMemoryLimits(cfg *config.Config, root string) memoryLimits {
	var l memoryLimits
	l.Cgroup = cgroupMemoryLimit(root)
	switch {
	case cfg.GOMEMLIMIT != "":
		l.Source = "GOMEMLIMIT"
		l.GoLimit = debug.SetMemoryLimit(-1) // the runtime parsed it at start
	case l.Cgroup > 0:
		l.Source = "cgroup"
		l.GoLimit = int64(float64(l.Cgroup) * config.DefaultMemoryLimitFraction)
		debug.SetMemoryLimit(l.GoLimit)
	default:
		l.Source = "none"
		l.GoLimit = math.MaxInt64
	}
	l.GOGC = cfg.GOGC
	if l.GOGC == "" {
		debug.SetGCPercent(config.DefaultGCPercent)
		l.GOGC = strconv.Itoa(config.DefaultGCPercent)
	}
	l.InflightBytes = inflightBytes(cfg.MaxInflightBytes, l.GoLimit, machineMemory(root))
	return l
}

// inflightBytes is the in-flight bound: the one set, else a fraction of the
// Go memory limit, else of the machine's memory (0 when neither is known:
// no bound).
func inflightBytes(set, goLimit, machine int64) int64 {
	switch {
	case set > 0:
		return set
	case goLimit > 0 && goLimit < math.MaxInt64:
		return int64(float64(goLimit) * config.DefaultInflightBytesFraction)
	case machine > 0:
		return int64(float64(machine) * config.DefaultInflightBytesFraction)
	}
	return 0
}

func (l memoryLimits) log(log *slog.Logger) {
	goLimit := "none"
	if l.GoLimit < math.MaxInt64 {
		goLimit = mib(l.GoLimit)
	}
	cg := "none"
	if l.Cgroup > 0 {
		cg = mib(l.Cgroup)
	}
	log.Info("memory", "go_memory_limit", goLimit, "source", l.Source, "cgroup_limit", cg, "gogc", l.GOGC, "max_inflight_bytes", mib(l.InflightBytes))
}

func mib(n int64) string { return fmt.Sprintf("%.0fMiB", float64(n)/(1<<20)) }

// cgroupMemoryLimit is the smallest memory limit of this process's cgroup
// and its ancestors, v2 or v1, under root; 0 when none is set. Where the
// cgroup file system shows the process's own cgroup at its root (a cgroup
// namespace), the path /proc/self/cgroup names may not exist below it: the
// walk up from it then reaches the root's files, which are the limit.
func cgroupMemoryLimit(root string) int64 {
	data, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0
	}
	var best int64
	consider := func(n int64) {
		if n > 0 && (best == 0 || n < best) {
			best = n
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		path := parts[2]
		switch {
		case parts[0] == "0" && parts[1] == "":
			// v2, mounted at /sys/fs/cgroup (or /sys/fs/cgroup/unified in
			// the hybrid layout, which holds no memory controller limit
			// when v1 has it; reading it is harmless).
			for _, mount := range []string{"sys/fs/cgroup", "sys/fs/cgroup/unified"} {
				consider(walkLimit(filepath.Join(root, mount), path, "memory.max"))
			}
		case hasController(parts[1], "memory"):
			consider(walkLimit(filepath.Join(root, "sys/fs/cgroup/memory"), path, "memory.limit_in_bytes"))
		}
	}
	return best
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// walkLimit reads file in the cgroup at path below mount and in each of
// its ancestors up to mount itself, returning the smallest limit set.
func walkLimit(mount, path, file string) int64 {
	var best int64
	p := filepath.Clean("/" + path)
	for {
		if n := readLimit(filepath.Join(mount, p, file)); n > 0 && (best == 0 || n < best) {
			best = n
		}
		if p == "/" {
			return best
		}
		p = filepath.Dir(p)
	}
}

// readLimit reads a memory limit file: a byte count, or "max" (v2) / a
// value near MaxInt64 (v1's "unlimited", 9223372036854771712) for none.
func readLimit(file string) int64 {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}

// machineMemory is MemTotal from /proc/meminfo under root, 0 if unknown.
func machineMemory(root string) int64 {
	data, err := os.ReadFile(filepath.Join(root, "proc/meminfo"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil && kb > 0 {
					return kb << 10
				}
			}
		}
	}
	return 0
}
