package metrics

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"
)

// GPU metrics come from NVML (libnvidia-ml.so.1, part of the NVIDIA driver),
// which go-nvml dlopens at run time: the same binary runs on machines
// without a driver, where NewGPUCollector returns ErrNVMLUnavailable and the
// server registers no GPU metric at all (absent, never zeros).
//
// Names, types, labels and help texts are Triton's (so its dashboards and
// alerts work unchanged), except nv_gpu_temperature_celsius, which is ours.

var (
	// ErrNVMLUnavailable: NVML could not be loaded or initialised (no
	// driver, a container run without --gpus, a driver/library mismatch).
	ErrNVMLUnavailable = errors.New("NVML not available")
	// ErrNoGPU: NVML works but shows no usable GPU.
	ErrNoGPU = errors.New("no NVIDIA GPU visible to NVML")
)

var gpuLabels = []string{"gpu_uuid"}

// GPUCollector is a prometheus.Collector that reads every GPU NVML showed
// at construction, at scrape time. A reading that fails for one device
// (ERROR_NOT_SUPPORTED for power on some boards, utilization under MIG, a
// GPU fallen off the bus) leaves out that one metric for that one device.
type GPUCollector struct {
	lib nvml.Interface

	// mu guards closed and the devices' energy baselines. Collect holds it
	// for the whole scrape so Close cannot shut NVML down under a reading.
	mu      sync.Mutex
	closed  bool
	devices []*gpuDevice

	util, memTotal, memUsed, power, powerLimit, energy, temp *prometheus.Desc
}

type gpuDevice struct {
	dev  nvml.Device
	uuid string
	// energyBase is the driver's energy counter (mJ) when we first read it,
	// so nv_energy_consumption counts from the server's start, as Triton's.
	energyBase uint64
	hasBase    bool
}

// NewGPUCollector loads the real NVML (libnvidia-ml.so.1) and initialises
// it. Without it the error wraps ErrNVMLUnavailable and nothing is held.
// Close the collector when the server stops.
func NewGPUCollector() (*GPUCollector, error) {
	return NewGPUCollectorFrom(nvml.New())
}

// NewGPUCollectorFrom initialises lib (one reference: go-nvml counts Init
// and Shutdown calls, so other users of the same library are unaffected)
// and enumerates its devices. Tests pass go-nvml's mock.
func NewGPUCollectorFrom(lib nvml.Interface) (*GPUCollector, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		if errors.Is(ret, nvml.ERROR_LIBRARY_NOT_FOUND) {
			return nil, fmt.Errorf("%w: libnvidia-ml.so.1 not found (no NVIDIA driver, or a container run without --gpus): %w", ErrNVMLUnavailable, ret)
		}
		return nil, fmt.Errorf("%w: init: %w", ErrNVMLUnavailable, ret)
	}
	c := &GPUCollector{lib: lib}
	fail := func(err error) (*GPUCollector, error) {
		lib.Shutdown() // our reference only; the error we return says more
		return nil, err
	}
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fail(fmt.Errorf("%w: device count: %w", ErrNVMLUnavailable, ret))
	}
	var skipped []error
	for i := 0; i < n; i++ {
		dev, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			skipped = append(skipped, fmt.Errorf("device %d: handle: %w", i, ret))
			continue
		}
		uuid, ret := dev.GetUUID()
		if ret != nvml.SUCCESS {
			skipped = append(skipped, fmt.Errorf("device %d: uuid: %w", i, ret))
			continue
		}
		d := &gpuDevice{dev: dev, uuid: uuid}
		if e, ret := dev.GetTotalEnergyConsumption(); ret == nvml.SUCCESS {
			d.energyBase, d.hasBase = e, true
		}
		c.devices = append(c.devices, d)
	}
	if len(c.devices) == 0 {
		if len(skipped) > 0 {
			return fail(fmt.Errorf("%w: %d device(s) unreadable: %w", ErrNoGPU, len(skipped), skipped[0]))
		}
		return fail(ErrNoGPU)
	}
	gd := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, gpuLabels, nil) }
	c.util = gd("nv_gpu_utilization", "GPU utilization rate [0.0 - 1.0)")
	c.memTotal = gd("nv_gpu_memory_total_bytes", "GPU total memory, in bytes")
	c.memUsed = gd("nv_gpu_memory_used_bytes", "GPU used memory, in bytes")
	c.power = gd("nv_gpu_power_usage", "GPU power usage in watts")
	c.powerLimit = gd("nv_gpu_power_limit", "GPU power management limit in watts")
	c.energy = gd("nv_energy_consumption", "GPU energy consumption in joules since the Triton Server started")
	// Ours, not Triton's (Triton has no temperature metric; DCGM's exporter
	// calls it DCGM_FI_DEV_GPU_TEMP).
	c.temp = gd("nv_gpu_temperature_celsius", "GPU core temperature in degrees Celsius")
	return c, nil
}

// UUIDs lists the GPUs the collector reports on, for a startup log line.
func (c *GPUCollector) UUIDs() []string {
	out := make([]string, len(c.devices))
	for i, d := range c.devices {
		out[i] = d.uuid
	}
	return out
}

// Describe sends the GPU descriptors.
func (c *GPUCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.util, c.memTotal, c.memUsed, c.power, c.powerLimit, c.energy, c.temp} {
		ch <- d
	}
}

// Collect reads NVML now. After Close it sends nothing.
func (c *GPUCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	for _, d := range c.devices {
		gauge := func(desc *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, d.uuid)
		}
		if u, ret := d.dev.GetUtilizationRates(); ret == nvml.SUCCESS {
			gauge(c.util, float64(u.Gpu)/100) // NVML: percent of the last sample period
		}
		if m, ret := d.dev.GetMemoryInfo(); ret == nvml.SUCCESS {
			gauge(c.memTotal, float64(m.Total))
			gauge(c.memUsed, float64(m.Used))
		}
		if mw, ret := d.dev.GetPowerUsage(); ret == nvml.SUCCESS {
			gauge(c.power, float64(mw)/1000) // NVML: milliwatts
		}
		if mw, ret := d.dev.GetPowerManagementLimit(); ret == nvml.SUCCESS {
			gauge(c.powerLimit, float64(mw)/1000)
		}
		if mj, ret := d.dev.GetTotalEnergyConsumption(); ret == nvml.SUCCESS {
			if !d.hasBase {
				d.energyBase, d.hasBase = mj, true
			}
			// A counter must not go down: after a driver reload resets the
			// device's counter, restart from there.
			if mj < d.energyBase {
				d.energyBase = mj
			}
			ch <- prometheus.MustNewConstMetric(c.energy, prometheus.CounterValue, float64(mj-d.energyBase)/1000, d.uuid) // NVML: millijoules
		}
		if t, ret := d.dev.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
			gauge(c.temp, float64(t))
		}
	}
}

// Close releases the collector's NVML reference (once; later calls return
// nil). Scrapes after Close report no GPU metric.
func (c *GPUCollector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if ret := c.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %w", ret)
	}
	return nil
}

// PinnedPoolCollector reports a pinned host memory pool under Triton's
// names. The pool lives in package cuda, which metrics must not import, so
// the server passes a function that reads it.
type PinnedPoolCollector struct {
	read        func() (total, used int64)
	total, used *prometheus.Desc
}

// NewPinnedPoolCollector reports read's answer at every scrape. read must
// be safe to call from any goroutine.
func NewPinnedPoolCollector(read func() (total, used int64)) *PinnedPoolCollector {
	return &PinnedPoolCollector{
		read:  read,
		total: prometheus.NewDesc("nv_pinned_memory_pool_total_bytes", "Pinned memory pool total memory size, in bytes", nil, nil),
		used:  prometheus.NewDesc("nv_pinned_memory_pool_used_bytes", "Pinned memory pool used memory size, in bytes", nil, nil),
	}
}

// Describe sends the pool's descriptors.
func (p *PinnedPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.total
	ch <- p.used
}

// Collect reads the pool.
func (p *PinnedPoolCollector) Collect(ch chan<- prometheus.Metric) {
	total, used := p.read()
	ch <- prometheus.MustNewConstMetric(p.total, prometheus.GaugeValue, float64(total))
	ch <- prometheus.MustNewConstMetric(p.used, prometheus.GaugeValue, float64(used))
}

// Register adds collectors to the server's registry (GPU, pinned pool).
func (r *Registry) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := r.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// RegisterPinnedPool reports the pinned host memory pool that read
// describes (cuda's pool: total and used bytes).
func (r *Registry) RegisterPinnedPool(read func() (total, used int64)) error {
	if read == nil {
		return errors.New("metrics: nil pinned pool reader")
	}
	return r.Register(NewPinnedPoolCollector(read))
}

// RegisterGPUFault adds trtserve_gpu_fault, 1 once faulted says the GPU
// hit a sticky CUDA error: an alert on it, or on readiness, catches a
// server that must be restarted (when --exit-on-gpu-fault is off).
func (r *Registry) RegisterGPUFault(faulted func() bool) error {
	if faulted == nil {
		return errors.New("metrics: nil GPU fault reader")
	}
	return r.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trtserve_gpu_fault",
		Help: "1 after a sticky CUDA error made the GPU unusable until the process restarts, else 0",
	}, func() float64 {
		if faulted() {
			return 1
		}
		return 0
	}))
}

// RegisterGPU registers NVML GPU metrics when NVML is there and logs one
// line either way ("GPU metrics on" with the GPUs' UUIDs, or "GPU metrics
// off: <why>"). Close what it returns when the server stops; without NVML
// it is a no-op closer.
func (r *Registry) RegisterGPU(log *slog.Logger) io.Closer {
	return r.registerGPU(log, NewGPUCollector)
}

func (r *Registry) registerGPU(log *slog.Logger, open func() (*GPUCollector, error)) io.Closer {
	g, err := open()
	if err != nil {
		log.Info("GPU metrics off: " + err.Error())
		return nopCloser{}
	}
	if err := r.Register(g); err != nil {
		log.Warn("GPU metrics off: " + err.Error())
		g.Close()
		return nopCloser{}
	}
	log.Info("GPU metrics on", "gpus", g.UUIDs())
	return g
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
