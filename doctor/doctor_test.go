package doctor

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
)

// fakeNVML is go-nvml's mock with one GPU whose readings are fixed.
func fakeNVML() nvml.Interface {
	dev := &mock.Device{
		GetUUIDFunc:                   func() (string, nvml.Return) { return "GPU-test-0", nvml.SUCCESS },
		GetUtilizationRatesFunc:       func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{Gpu: 37}, nvml.SUCCESS },
		GetMemoryInfoFunc:             func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: 80 << 30, Used: 1 << 30}, nvml.SUCCESS },
		GetPowerUsageFunc:             func() (uint32, nvml.Return) { return 123000, nvml.SUCCESS },
		GetPowerManagementLimitFunc:   func() (uint32, nvml.Return) { return 700000, nvml.SUCCESS },
		GetTotalEnergyConsumptionFunc: func() (uint64, nvml.Return) { return 5000, nvml.SUCCESS },
		GetTemperatureFunc:            func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 41, nvml.SUCCESS },
	}
	return &mock.Interface{
		InitFunc:                       func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:                   func() nvml.Return { return nvml.SUCCESS },
		SystemGetDriverVersionFunc:     func() (string, nvml.Return) { return "580.65.06", nvml.SUCCESS },
		SystemGetCudaDriverVersionFunc: func() (int, nvml.Return) { return 13000, nvml.SUCCESS },
		DeviceGetCountFunc:             func() (int, nvml.Return) { return 1, nvml.SUCCESS },
		DeviceGetHandleByIndexFunc:     func(int) (nvml.Device, nvml.Return) { return dev, nvml.SUCCESS },
	}
}

func noNVML() nvml.Interface {
	return &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
}

// smallAlloc keeps the tests' alloc/free cycles cheap: a leak of one
// allocation per cycle is 12.5 MiB, three times the tolerance.
var smallAlloc = cuda.AllocCyclesOptions{Cycles: 200, HostSize: 64 << 10, DeviceSize: 64 << 10, Tolerance: 4 << 20}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestNoGPU(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		why  string // in the report's reason
	}{
		{"no libcudart", Options{CUDALib: "/nonexistent/libcudart.so.13", NVML: noNVML()}, "libcudart.so.13"},
		{"no device", Options{Runtime: &cudamock.Mock{Devices: 0}, NVML: noNVML()}, "mock machine without a GPU"},
		{"--gpu beyond the devices", Options{Runtime: cudamock.New(1), GPU: 3, NVML: noNVML()}, "--gpu 3, but 1 device(s)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Run(c.o)
			if err != nil {
				t.Fatalf("no GPU is not a failure: %v", err)
			}
			if r.GPU != nil || !strings.Contains(r.NoGPU, c.why) {
				t.Fatalf("GPU %+v, reason %q: want none because of %q", r.GPU, r.NoGPU, c.why)
			}
			if len(r.Bandwidth)+len(r.NVML) != 0 || r.Overlap != nil || r.Alloc != nil {
				t.Fatal("checks ran without a GPU")
			}
			dir := t.TempDir()
			if err := r.WriteFiles(dir); err != nil {
				t.Fatal(err)
			}
			md, _ := os.ReadFile(filepath.Join(dir, "doctor.md"))
			var sum strings.Builder
			r.Summary(&sum)
			for _, text := range []string{string(md), sum.String()} {
				if !strings.Contains(text, NoGPUMessage) || !strings.Contains(text, c.why) || !strings.Contains(text, "NVML") {
					t.Errorf("report lacks the message, the reason or the components:\n%s", text)
				}
			}
			if rows := readCSV(t, filepath.Join(dir, "bandwidth.csv")); len(rows) != 1 {
				t.Errorf("bandwidth.csv: %d rows without a GPU, want the header only", len(rows))
			}
		})
	}
}

// On the mock every check runs: the report has each section, every CSV its
// rows, every figure is labelled MOCK, and NVML's readings come through the
// server's collector.
func TestChecksOnMock(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	r, err := Run(Options{Runtime: m, Mock: true, Quick: true, NVML: fakeNVML(), Alloc: smallAlloc})
	if err != nil {
		t.Fatalf("%v: %v", err, r.Problems)
	}
	if r.GPU == nil || r.GPU.Device.Name != "Mock GPU" || r.GPU.NVMLDriver != "580.65.06" || r.GPU.RuntimeVersion != 13000 {
		t.Fatalf("facts %+v", r.GPU)
	}
	// 2 directions × 3 host kinds × 2 sizes, and D2D at 2 sizes.
	if len(r.Bandwidth) != 14 {
		t.Errorf("%d bandwidth figures, want 14", len(r.Bandwidth))
	}
	for _, b := range r.Bandwidth {
		if b.GBps <= 0 || b.Copies < 1 {
			t.Errorf("figure %+v", b)
		}
	}
	if r.Overlap == nil || r.Overlap.Serial <= 0 || r.Overlap.Ideal < 1 {
		t.Errorf("overlap %+v", r.Overlap)
	}
	if r.Alloc == nil || r.Alloc.Cycles != 200 || r.Alloc.Check() != nil {
		t.Errorf("alloc %+v", r.Alloc)
	}
	want := map[string]float64{"nv_gpu_utilization": 0.37, "nv_gpu_power_usage": 123, "nv_gpu_temperature_celsius": 41, "nv_gpu_memory_total_bytes": 80 << 30}
	for _, n := range r.NVML {
		if v, ok := want[n.Metric]; ok && v == n.Value && n.GPU == "GPU-test-0" {
			delete(want, n.Metric)
		}
	}
	if len(want) > 0 {
		t.Errorf("NVML readings %+v lack %v", r.NVML, want)
	}
	if st := m.Stats(); st.HostAllocs+st.DeviceAllocs+st.StreamsLive+st.EventsLive != 0 {
		t.Errorf("the checks leaked %+v", st)
	}

	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for file, rows := range map[string]int{"bandwidth.csv": 15, "overlap.csv": 2, "alloc.csv": 2, "nvml.csv": 8} {
		got := readCSV(t, filepath.Join(dir, file))
		if len(got) != rows {
			t.Errorf("%s: %d rows, want %d", file, len(got), rows)
		}
		if file != "nvml.csv" && len(got) > 1 && got[1][0] != "MOCK" {
			t.Errorf("%s: source %q, want MOCK", file, got[1][0])
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "doctor.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"MOCK (TRTSERVE_CUDA_MOCK=1)", "## Copy bandwidth (MOCK)", "## Copy/compute overlap", "**no growth**", "nv_gpu_power_usage", "No problem found."} {
		if !strings.Contains(string(md), s) {
			t.Errorf("doctor.md lacks %q", s)
		}
	}
	if strings.Contains(string(md), NoGPUMessage) {
		t.Error("doctor.md says no GPU")
	}
}

// leaky loses every free of one kind, as a leak in the runtime or the
// driver would. Its leaking pinned memory is an anonymous mapping, as
// cudaHostAlloc's is (the mock's calloc may come from memory the race
// detector's allocator reserved long before, invisible in VmSize).
type leaky struct {
	*cudamock.Mock
	host, device bool
}

func (l *leaky) HostAlloc(size int, flags cuda.HostAllocFlags) (unsafe.Pointer, error) {
	if !l.host {
		return l.Mock.HostAlloc(size, flags)
	}
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	return unsafe.Pointer(&b[0]), nil
}

func (l *leaky) FreeHost(p unsafe.Pointer) error {
	if l.host {
		return nil
	}
	return l.Mock.FreeHost(p)
}

func (l *leaky) Free(p cuda.DevicePtr) error {
	if l.device {
		return nil
	}
	return l.Mock.Free(p)
}

func TestGrowthIsAProblem(t *testing.T) {
	for _, c := range []struct {
		name         string
		host, device bool
		says         string
	}{
		{"device", false, true, "device free memory moved"},
		{"host", true, false, "virtual size grew"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := cudamock.New(1)
			defer m.Close()
			rt := &leaky{Mock: m, host: c.host, device: c.device}
			r, err := Run(Options{Runtime: rt, Mock: true, Quick: true, NVML: noNVML(), Alloc: smallAlloc})
			if !errors.Is(err, ErrProblems) {
				t.Fatalf("err %v, want ErrProblems", err)
			}
			if r.Alloc == nil || !errors.Is(r.Alloc.Check(), cuda.ErrMemoryGrowth) {
				t.Fatalf("alloc %+v", r.Alloc)
			}
			var md strings.Builder
			r.Markdown(&md)
			if !strings.Contains(md.String(), "GREW") || !strings.Contains(md.String(), "PROBLEM") || !strings.Contains(md.String(), c.says) {
				t.Errorf("report does not name the growth (%q):\n%s", c.says, md.String())
			}
		})
	}
}
