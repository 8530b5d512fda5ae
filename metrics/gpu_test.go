package metrics

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trtserve/trtserve/pipeline"
)

// fakeGPU is one mocked device's readings; a non-zero fail makes that call
// return it.
type fakeGPU struct {
	uuid                      string
	utilPct                   uint32
	memTotal, memUsed         uint64
	powerMW, limitMW, tempC   uint32
	energyMJ                  atomic.Uint64 // the driver's counter, mJ
	failUtil, failPower, fail nvml.Return   // fail: every call but GetUUID
}

func ok(r nvml.Return) nvml.Return {
	if r == 0 {
		return nvml.SUCCESS
	}
	return r
}

func (f *fakeGPU) device() *mock.Device {
	or := func(specific nvml.Return) nvml.Return {
		if f.fail != 0 {
			return f.fail
		}
		return ok(specific)
	}
	return &mock.Device{
		GetUUIDFunc: func() (string, nvml.Return) { return f.uuid, nvml.SUCCESS },
		GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: f.utilPct, Memory: 5}, or(f.failUtil)
		},
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: f.memTotal, Used: f.memUsed, Free: f.memTotal - f.memUsed}, or(0)
		},
		GetPowerUsageFunc:             func() (uint32, nvml.Return) { return f.powerMW, or(f.failPower) },
		GetPowerManagementLimitFunc:   func() (uint32, nvml.Return) { return f.limitMW, or(0) },
		GetTotalEnergyConsumptionFunc: func() (uint64, nvml.Return) { return f.energyMJ.Load(), or(0) },
		GetTemperatureFunc: func(s nvml.TemperatureSensors) (uint32, nvml.Return) {
			if s != nvml.TEMPERATURE_GPU {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return f.tempC, or(0)
		},
	}
}

// fakeNVML mocks the library and counts Init/Shutdown references.
type fakeNVML struct {
	mock.Interface
	refs atomic.Int32
}

func newFakeNVML(initRet nvml.Return, gpus ...*fakeGPU) *fakeNVML {
	f := &fakeNVML{}
	devs := make([]nvml.Device, len(gpus))
	for i, g := range gpus {
		devs[i] = g.device()
	}
	f.InitFunc = func() nvml.Return {
		if initRet != nvml.SUCCESS {
			return initRet
		}
		f.refs.Add(1)
		return nvml.SUCCESS
	}
	f.ShutdownFunc = func() nvml.Return {
		if f.refs.Add(-1) < 0 {
			f.refs.Add(1)
			return nvml.ERROR_UNINITIALIZED
		}
		return nvml.SUCCESS
	}
	f.DeviceGetCountFunc = func() (int, nvml.Return) { return len(devs), nvml.SUCCESS }
	f.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if i < 0 || i >= len(devs) {
			return nil, nvml.ERROR_INVALID_ARGUMENT
		}
		return devs[i], nvml.SUCCESS
	}
	return f
}

func gpu(uuid string, utilPct uint32, powerMW uint32) *fakeGPU {
	g := &fakeGPU{uuid: uuid, utilPct: utilPct, memTotal: 80 << 30, memUsed: 3 << 30, powerMW: powerMW, limitMW: 700000, tempC: 41}
	g.energyMJ.Store(5_000_000) // the driver's counter at the server's start
	return g
}

const gpuHelp = `
# HELP nv_energy_consumption GPU energy consumption in joules since the Triton Server started
# TYPE nv_energy_consumption counter
# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes
# TYPE nv_gpu_memory_total_bytes gauge
# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes
# TYPE nv_gpu_memory_used_bytes gauge
# HELP nv_gpu_power_limit GPU power management limit in watts
# TYPE nv_gpu_power_limit gauge
# HELP nv_gpu_power_usage GPU power usage in watts
# TYPE nv_gpu_power_usage gauge
# HELP nv_gpu_temperature_celsius GPU core temperature in degrees Celsius
# TYPE nv_gpu_temperature_celsius gauge
# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
`

// expose renders the expected text: help lines, then the samples sorted
// into the family order above (testutil compares parsed families, so
// sample order within a family does not matter, but families must be
// declared once).
func expose(samples ...string) string {
	families := map[string][]string{}
	for _, s := range samples {
		name := s[:strings.IndexByte(s, '{')]
		families[name] = append(families[name], s)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(gpuHelp), "\n") {
		b.WriteString(line + "\n")
		if f := strings.Fields(line); f[1] == "TYPE" {
			for _, s := range families[f[2]] {
				b.WriteString(s + "\n")
			}
		}
	}
	return b.String()
}

func TestGPUCollector(t *testing.T) {
	gpuNames := []string{"nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes", "nv_gpu_power_usage", "nv_gpu_power_limit", "nv_energy_consumption", "nv_gpu_temperature_celsius"}
	for _, tc := range []struct {
		name    string
		gpus    func() []*fakeGPU
		spentMJ []uint64 // energy used per device after the collector started
		want    string
	}{
		{
			name: "two devices, percent to ratio, mW to W, mJ since start to J",
			gpus: func() []*fakeGPU {
				return []*fakeGPU{gpu("GPU-aaaa", 37, 123456), gpu("GPU-bbbb", 100, 61000)}
			},
			spentMJ: []uint64{1_500, 0},
			want: expose(
				`nv_energy_consumption{gpu_uuid="GPU-aaaa"} 1.5`,
				`nv_energy_consumption{gpu_uuid="GPU-bbbb"} 0`,
				`nv_gpu_memory_total_bytes{gpu_uuid="GPU-aaaa"} 8.589934592e+10`,
				`nv_gpu_memory_total_bytes{gpu_uuid="GPU-bbbb"} 8.589934592e+10`,
				`nv_gpu_memory_used_bytes{gpu_uuid="GPU-aaaa"} 3.221225472e+09`,
				`nv_gpu_memory_used_bytes{gpu_uuid="GPU-bbbb"} 3.221225472e+09`,
				`nv_gpu_power_limit{gpu_uuid="GPU-aaaa"} 700`,
				`nv_gpu_power_limit{gpu_uuid="GPU-bbbb"} 700`,
				`nv_gpu_power_usage{gpu_uuid="GPU-aaaa"} 123.456`,
				`nv_gpu_power_usage{gpu_uuid="GPU-bbbb"} 61`,
				`nv_gpu_temperature_celsius{gpu_uuid="GPU-aaaa"} 41`,
				`nv_gpu_temperature_celsius{gpu_uuid="GPU-bbbb"} 41`,
				`nv_gpu_utilization{gpu_uuid="GPU-aaaa"} 0.37`,
				`nv_gpu_utilization{gpu_uuid="GPU-bbbb"} 1`,
			),
		},
		{
			name: "a device whose power reading fails loses that metric only",
			gpus: func() []*fakeGPU {
				a, b := gpu("GPU-aaaa", 0, 50000), gpu("GPU-bbbb", 12, 0)
				b.failPower = nvml.ERROR_NOT_SUPPORTED
				return []*fakeGPU{a, b}
			},
			want: expose(
				`nv_energy_consumption{gpu_uuid="GPU-aaaa"} 0`,
				`nv_energy_consumption{gpu_uuid="GPU-bbbb"} 0`,
				`nv_gpu_memory_total_bytes{gpu_uuid="GPU-aaaa"} 8.589934592e+10`,
				`nv_gpu_memory_total_bytes{gpu_uuid="GPU-bbbb"} 8.589934592e+10`,
				`nv_gpu_memory_used_bytes{gpu_uuid="GPU-aaaa"} 3.221225472e+09`,
				`nv_gpu_memory_used_bytes{gpu_uuid="GPU-bbbb"} 3.221225472e+09`,
				`nv_gpu_power_limit{gpu_uuid="GPU-aaaa"} 700`,
				`nv_gpu_power_limit{gpu_uuid="GPU-bbbb"} 700`,
				`nv_gpu_power_usage{gpu_uuid="GPU-aaaa"} 50`,
				`nv_gpu_temperature_celsius{gpu_uuid="GPU-aaaa"} 41`,
				`nv_gpu_temperature_celsius{gpu_uuid="GPU-bbbb"} 41`,
				`nv_gpu_utilization{gpu_uuid="GPU-aaaa"} 0`,
				`nv_gpu_utilization{gpu_uuid="GPU-bbbb"} 0.12`,
			),
		},
		{
			name: "a lost GPU reports nothing; utilization unsupported (MIG) on the other",
			gpus: func() []*fakeGPU {
				a, b := gpu("GPU-aaaa", 50, 70000), gpu("GPU-bbbb", 50, 70000)
				a.failUtil = nvml.ERROR_NOT_SUPPORTED
				b.fail = nvml.ERROR_GPU_IS_LOST
				return []*fakeGPU{a, b}
			},
			want: expose(
				`nv_energy_consumption{gpu_uuid="GPU-aaaa"} 0`,
				`nv_gpu_memory_total_bytes{gpu_uuid="GPU-aaaa"} 8.589934592e+10`,
				`nv_gpu_memory_used_bytes{gpu_uuid="GPU-aaaa"} 3.221225472e+09`,
				`nv_gpu_power_limit{gpu_uuid="GPU-aaaa"} 700`,
				`nv_gpu_power_usage{gpu_uuid="GPU-aaaa"} 70`,
				`nv_gpu_temperature_celsius{gpu_uuid="GPU-aaaa"} 41`,
			),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gpus := tc.gpus()
			c, err := NewGPUCollectorFrom(newFakeNVML(nvml.SUCCESS, gpus...))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i, mj := range tc.spentMJ {
				gpus[i].energyMJ.Add(mj) // after construction read the baseline
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want), gpuNames...); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestGPUCollectorEnergyIsMonotonic(t *testing.T) {
	g := gpu("GPU-aaaa", 0, 0)
	c, err := NewGPUCollectorFrom(newFakeNVML(nvml.SUCCESS, g))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	energy := func() float64 {
		t.Helper()
		reg := New(noModels{})
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
		return gaugeOrCounter(t, reg, "nv_energy_consumption")
	}
	g.energyMJ.Add(2_000)
	if got := energy(); got != 2 {
		t.Fatalf("energy %v J, want 2", got)
	}
	g.energyMJ.Store(10) // driver reloaded: its counter restarted
	if got := energy(); got != 0 {
		t.Fatalf("energy after a counter reset %v J, want 0 (restart, never negative)", got)
	}
	g.energyMJ.Add(3_000)
	if got := energy(); got != 3 {
		t.Fatalf("energy %v J, want 3", got)
	}
}

func TestGPUCollectorConstructionErrors(t *testing.T) {
	uuidFails := &mock.Device{GetUUIDFunc: func() (string, nvml.Return) { return "", nvml.ERROR_GPU_IS_LOST }}
	for _, tc := range []struct {
		name    string
		lib     func() *fakeNVML
		is      []error
		inError string
	}{
		{
			name:    "library missing",
			lib:     func() *fakeNVML { return newFakeNVML(nvml.ERROR_LIBRARY_NOT_FOUND) },
			is:      []error{ErrNVMLUnavailable, nvml.ERROR_LIBRARY_NOT_FOUND},
			inError: "NVML not available: libnvidia-ml.so.1 not found",
		},
		{
			name:    "driver not loaded",
			lib:     func() *fakeNVML { return newFakeNVML(nvml.ERROR_DRIVER_NOT_LOADED) },
			is:      []error{ErrNVMLUnavailable, nvml.ERROR_DRIVER_NOT_LOADED},
			inError: "NVML not available: init:",
		},
		{
			name:    "no device",
			lib:     func() *fakeNVML { return newFakeNVML(nvml.SUCCESS) },
			is:      []error{ErrNoGPU},
			inError: "no NVIDIA GPU",
		},
		{
			name: "device count fails",
			lib: func() *fakeNVML {
				f := newFakeNVML(nvml.SUCCESS)
				f.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
				return f
			},
			is:      []error{ErrNVMLUnavailable, nvml.ERROR_UNKNOWN},
			inError: "device count",
		},
		{
			name: "the only device is unreadable",
			lib: func() *fakeNVML {
				f := newFakeNVML(nvml.SUCCESS)
				f.DeviceGetCountFunc = func() (int, nvml.Return) { return 1, nvml.SUCCESS }
				f.DeviceGetHandleByIndexFunc = func(int) (nvml.Device, nvml.Return) { return uuidFails, nvml.SUCCESS }
				return f
			},
			is:      []error{ErrNoGPU, nvml.ERROR_GPU_IS_LOST},
			inError: "device 0: uuid",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib := tc.lib()
			c, err := NewGPUCollectorFrom(lib)
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("error %q is not %v", err, target)
				}
			}
			if !strings.Contains(err.Error(), tc.inError) {
				t.Errorf("error %q lacks %q", err, tc.inError)
			}
			if n := lib.refs.Load(); n != 0 {
				t.Errorf("%d NVML reference(s) left after a failed construction", n)
			}
		})
	}
}

func TestGPUCollectorSkipsUnreadableDevice(t *testing.T) {
	lib := newFakeNVML(nvml.SUCCESS, gpu("GPU-aaaa", 1, 1000), gpu("GPU-bbbb", 2, 2000))
	next := lib.DeviceGetHandleByIndexFunc
	lib.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if i == 0 {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		return next(i)
	}
	c, err := NewGPUCollectorFrom(lib)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.UUIDs(); len(got) != 1 || got[0] != "GPU-bbbb" {
		t.Fatalf("UUIDs %v, want the readable GPU only", got)
	}
}

func TestGPUCollectorClose(t *testing.T) {
	lib := newFakeNVML(nvml.SUCCESS, gpu("GPU-aaaa", 10, 1000))
	c, err := NewGPUCollectorFrom(lib)
	if err != nil {
		t.Fatal(err)
	}
	if n := lib.refs.Load(); n != 1 {
		t.Fatalf("%d NVML references, want 1", n)
	}
	// Scrapes racing Close (run with -race): Close waits for a scrape in
	// progress, and scrapes after it report nothing.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				testutil.CollectAndCount(c)
			}
		}()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := lib.refs.Load(); n != 0 {
		t.Fatalf("%d NVML references after Close, want 0", n)
	}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("%d metrics after Close, want none", n)
	}
}

// TestGPUCollectorRealNVML runs against the machine's own NVML: without a
// driver it must fail with the documented error and hold nothing; with one
// it must report every GPU it found.
func TestGPUCollectorRealNVML(t *testing.T) {
	c, err := NewGPUCollector()
	if err != nil {
		if !errors.Is(err, ErrNVMLUnavailable) && !errors.Is(err, ErrNoGPU) {
			t.Fatalf("error %q is neither ErrNVMLUnavailable nor ErrNoGPU", err)
		}
		t.Logf("no NVML here, as documented: %v", err)
		return
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	uuids := c.UUIDs()
	t.Logf("NVML GPUs: %v", uuids)
	if n := testutil.CollectAndCount(c, "nv_gpu_memory_total_bytes"); n != len(uuids) {
		t.Errorf("%d nv_gpu_memory_total_bytes series for %d GPUs", n, len(uuids))
	}
}

type noModels struct{}

func (noModels) Loaded() []*pipeline.Model { return nil }

func TestRegisterGPUWithoutNVML(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := New(noModels{})
	closer := reg.registerGPU(log, func() (*GPUCollector, error) {
		return NewGPUCollectorFrom(newFakeNVML(nvml.ERROR_LIBRARY_NOT_FOUND))
	})
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(logs.String(), "\n"); lines != 1 || !strings.Contains(logs.String(), "GPU metrics off: NVML not available: ") {
		t.Fatalf("log %q: want one line saying GPU metrics are off and why", logs.String())
	}
	fams, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "nv_gpu_") || f.GetName() == "nv_energy_consumption" {
			t.Errorf("%s registered without NVML", f.GetName())
		}
	}
}

func TestRegisterGPUWithNVML(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := New(noModels{})
	lib := newFakeNVML(nvml.SUCCESS, gpu("GPU-aaaa", 25, 1000))
	closer := reg.registerGPU(log, func() (*GPUCollector, error) { return NewGPUCollectorFrom(lib) })
	if got := gaugeOrCounter(t, reg, "nv_gpu_utilization"); got != 0.25 {
		t.Errorf("nv_gpu_utilization %v, want 0.25", got)
	}
	if !strings.Contains(logs.String(), "GPU metrics on") || !strings.Contains(logs.String(), "GPU-aaaa") {
		t.Errorf("log %q: want GPU metrics on with the UUID", logs.String())
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if n := lib.refs.Load(); n != 0 {
		t.Fatalf("%d NVML references after Close", n)
	}
}

func TestPinnedPool(t *testing.T) {
	var used atomic.Int64
	reg := New(noModels{})
	if err := reg.RegisterPinnedPool(func() (int64, int64) { return 256 << 20, used.Load() }); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterPinnedPool(nil); err == nil {
		t.Error("nil reader accepted")
	}
	for _, u := range []int64{0, 48 << 20} {
		used.Store(u)
		want := `
# HELP nv_pinned_memory_pool_total_bytes Pinned memory pool total memory size, in bytes
# TYPE nv_pinned_memory_pool_total_bytes gauge
nv_pinned_memory_pool_total_bytes 2.68435456e+08
# HELP nv_pinned_memory_pool_used_bytes Pinned memory pool used memory size, in bytes
# TYPE nv_pinned_memory_pool_used_bytes gauge
nv_pinned_memory_pool_used_bytes ` + map[int64]string{0: "0", 48 << 20: "5.0331648e+07"}[u] + "\n"
		if err := testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(want), "nv_pinned_memory_pool_total_bytes", "nv_pinned_memory_pool_used_bytes"); err != nil {
			t.Errorf("used=%d: %v", u, err)
		}
	}
}

func TestGPUFaultGauge(t *testing.T) {
	var faulted atomic.Bool
	reg := New(noModels{})
	if err := reg.RegisterGPUFault(faulted.Load); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterGPUFault(nil); err == nil {
		t.Error("nil reader accepted")
	}
	for _, tc := range []struct {
		faulted bool
		want    float64
	}{{false, 0}, {true, 1}} {
		faulted.Store(tc.faulted)
		if got := gaugeOrCounter(t, reg, "trtserve_gpu_fault"); got != tc.want {
			t.Errorf("faulted %v: trtserve_gpu_fault %v, want %v", tc.faulted, got, tc.want)
		}
	}
}

// gaugeOrCounter reads the one sample of a gauge or counter family.
func gaugeOrCounter(t *testing.T, reg *Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name || len(f.GetMetric()) != 1 {
			continue
		}
		m := f.GetMetric()[0]
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("%s not gathered (or not one series)", name)
	return 0
}
