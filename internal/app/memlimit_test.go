package app

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/trtserve/trtserve/config"
)

// fakeRoot writes files (path relative to the root → content) under a
// temporary folder standing for /.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const gib = int64(1 << 30)

func TestCgroupMemoryLimit(t *testing.T) {
	v1Unlimited := "9223372036854771712\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"no proc file", map[string]string{}, 0},
		{"v2 limit at the namespace root", map[string]string{
			"proc/self/cgroup":          "0::/\n",
			"sys/fs/cgroup/memory.max":  "2147483648\n",
			"sys/fs/cgroup/cpu.max":     "max 100000\n",
			"proc/meminfo":              "MemTotal: 1000 kB\n",
			"sys/fs/cgroup/memory.high": "max\n",
		}, 2 * gib},
		{"v2 no limit", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "max\n",
		}, 0},
		{"v2 nested: the smaller of the cgroup and its parent", map[string]string{
			"proc/self/cgroup":                           "0::/kubepods/pod1/ctr\n",
			"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "4294967296\n",
			"sys/fs/cgroup/kubepods/pod1/memory.max":     "1073741824\n",
			"sys/fs/cgroup/kubepods/memory.max":          "max\n",
		}, gib},
		{"v2 path not visible (cgroup namespace): the mount's own file", map[string]string{
			"proc/self/cgroup":         "0::/../../system.slice/x\n",
			"sys/fs/cgroup/memory.max": "536870912\n",
		}, gib / 2},
		{"v1 limit", map[string]string{
			"proc/self/cgroup": "12:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "3221225472\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":            v1Unlimited,
		}, 3 * gib},
		{"v1 unlimited (the page-rounded MaxInt64)", map[string]string{
			"proc/self/cgroup":                           "4:memory:/process_api/17050c33\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": v1Unlimited,
		}, 0},
		{"v1 path not visible: the mount's own file", map[string]string{
			"proc/self/cgroup":                           "4:memory:/process_api/17050c33\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
		}, gib},
		{"hybrid: v1 memory limit, v2 unified without one", map[string]string{
			"proc/self/cgroup":                           "4:memory:/\n0::/\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "1610612736\n",
		}, 3 * gib / 2},
		{"garbage in the file", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "lots\n",
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cgroupMemoryLimit(fakeRoot(t, tc.files)); got != tc.want {
				t.Fatalf("limit %d, want %d", got, tc.want)
			}
		})
	}
}

func TestInflightBytes(t *testing.T) {
	for _, tc := range []struct {
		set, goLimit, machine, want int64
	}{
		{set: 123, goLimit: 4 * gib, machine: 64 * gib, want: 123},  // set by the operator
		{goLimit: 4 * gib, machine: 64 * gib, want: gib},            // a quarter of the Go limit
		{goLimit: math.MaxInt64, machine: 64 * gib, want: 16 * gib}, // no limit: of the machine's memory
		{goLimit: math.MaxInt64, machine: 0, want: 0},               // nothing known: no bound
	} {
		if got := inflightBytes(tc.set, tc.goLimit, tc.machine); got != tc.want {
			t.Errorf("inflightBytes(%d, %d, %d) = %d, want %d", tc.set, tc.goLimit, tc.machine, got, tc.want)
		}
	}
}

// The derived Go memory limit is 90% of the cgroup's; a GOMEMLIMIT the
// user set is kept.
func TestApplyMemoryLimits(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	gcBefore := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(gcBefore) })
	root := fakeRoot(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"sys/fs/cgroup/memory.max": "2147483648\n",
		"proc/meminfo":             "MemTotal:       16384000 kB\n",
	})

	l := applyMemoryLimits(&config.Config{}, root)
	cg := 2 * gib
	want := int64(float64(cg) * config.DefaultMemoryLimitFraction)
	if l.Source != "cgroup" || l.GoLimit != want || debug.SetMemoryLimit(-1) != want || l.Cgroup != 2*gib {
		t.Fatalf("from the cgroup: %+v, runtime limit %d, want %d", l, debug.SetMemoryLimit(-1), want)
	}
	if l.InflightBytes != int64(float64(want)*config.DefaultInflightBytesFraction) {
		t.Fatalf("in-flight bound %d: not a quarter of the Go limit %d", l.InflightBytes, want)
	}
	if got := debug.SetGCPercent(100); l.GOGC != "50" || got != config.DefaultGCPercent {
		t.Fatalf("without GOGC the collector's headroom is %d (reported %q), want %d", got, l.GOGC, config.DefaultGCPercent)
	}
	// A GOGC the user set is the runtime's already: left as it is.
	l = applyMemoryLimits(&config.Config{GOGC: "100"}, root)
	if got := debug.SetGCPercent(100); l.GOGC != "100" || got != 100 {
		t.Fatalf("with GOGC=100 set: headroom %d, reported %q", got, l.GOGC)
	}

	debug.SetMemoryLimit(3 * gib) // as if the runtime had read GOMEMLIMIT=3GiB
	l = applyMemoryLimits(&config.Config{GOMEMLIMIT: "3GiB", MaxInflightBytes: 777}, root)
	if l.Source != "GOMEMLIMIT" || l.GoLimit != 3*gib || debug.SetMemoryLimit(-1) != 3*gib || l.InflightBytes != 777 {
		t.Fatalf("with GOMEMLIMIT set: %+v, runtime limit %d", l, debug.SetMemoryLimit(-1))
	}

	debug.SetMemoryLimit(math.MaxInt64)
	l = applyMemoryLimits(&config.Config{}, fakeRoot(t, map[string]string{"proc/meminfo": "MemTotal: 8388608 kB\n"}))
	if l.Source != "none" || debug.SetMemoryLimit(-1) != math.MaxInt64 || l.InflightBytes != 2*gib {
		t.Fatalf("without a limit: %+v", l)
	}
}
