package doctor

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trtserve/trtserve/cuda"
)

// NoGPUMessage opens the report of a host without a usable GPU; scripts
// and CI look for it.
const NoGPUMessage = "no GPU: nothing checked"

// Files are the names WriteFiles writes under its directory.
var Files = []string{"doctor.md", "components.csv", "bandwidth.csv", "overlap.csv", "alloc.csv", "nvml.csv"}

// source labels every figure with where it came from.
func (r *Report) source() string {
	if r.Mock {
		return "MOCK"
	}
	return "gpu"
}

// Markdown writes the human report.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "# trtserve doctor\n\n%s, %v.\n\n", r.When.Format(time.RFC3339), r.Took.Round(time.Millisecond))
	if r.Mock {
		fmt.Fprint(w, "**MOCK (TRTSERVE_CUDA_MOCK=1): every check below ran on the CUDA mock (cuda/cudamock), host memory standing in for a GPU. The figures test the report and the checks' logic; they say nothing about any hardware.**\n\n")
	}
	if r.GPU == nil {
		fmt.Fprintf(w, "**%s.** %s\n\n", NoGPUMessage, r.NoGPU)
	}
	fmt.Fprint(w, "## What the server would load\n\n| component | found | detail |\n|---|---|---|\n")
	for _, c := range r.Components {
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.Name, yesNo(c.Found), cell(c.Detail))
	}
	if r.GPU != nil {
		f := r.GPU
		d := f.Device
		fmt.Fprintf(w, "\n## GPU %d\n\n| fact | value |\n|---|---|\n", d.Index)
		fmt.Fprintf(w, "| name | %s |\n| compute capability | %s (%d.%d) |\n", d.Name, d.ComputeCapability(), d.Major, d.Minor)
		fmt.Fprintf(w, "| memory | %d MiB total, %d MiB free |\n| copy engines | %d |\n", d.TotalMemory>>20, f.FreeMemory>>20, d.CopyEngines)
		fmt.Fprintf(w, "| CUDA runtime | %s (%s) |\n| CUDA driver API | %s |\n", f.Runtime, cudaVersion(f.RuntimeVersion), cudaVersion(f.CUDADriver))
		drv := f.NVMLDriver
		if drv == "" {
			drv = "unknown (NVML not available)"
		}
		fmt.Fprintf(w, "| NVIDIA driver | %s |\n| visible devices | %d |\n", drv, f.DeviceCount)
	}
	if len(r.Bandwidth) > 0 {
		fmt.Fprintf(w, "\n## Copy bandwidth (%s)\n\nGB/s = 1e9 bytes/s, best round; pinned copies asynchronous on one stream, pageable ones cudaMemcpy.\n\n", r.source())
		fmt.Fprint(w, "| direction | host memory | size | GB/s |\n|---|---|---:|---:|\n")
		for _, b := range r.Bandwidth {
			fmt.Fprintf(w, "| %s | %s | %s | %.2f |\n", b.Direction, b.Memory, size(b.Bytes), b.GBps)
		}
		if p, pg := r.best(cuda.HtoD, cuda.Pinned), r.best(cuda.HtoD, cuda.Pageable); p > 0 && pg > 0 {
			fmt.Fprintf(w, "\nLargest size: pinned H2D %.2f GB/s, pageable %.2f GB/s, pinned ÷ pageable %.2f.\n", p, pg, p/pg)
		}
	}
	if o := r.Overlap; o != nil {
		fmt.Fprintf(w, "\n## Copy/compute overlap of the simulated engine (%s)\n\n", r.source())
		fmt.Fprintf(w, "Batch %d, %s in and %s out per item; the kernel is told to take as long as the copies (%v). Target: efficiency ≥ %.1f.\n\n",
			o.Batch, size(o.InBytes), size(o.OutBytes), o.Busy.Round(time.Microsecond), OverlapTarget)
		fmt.Fprint(w, "| copies only | 1 buffer set | 2 buffer sets | speedup | ideal | efficiency |\n|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(w, "| %v | %v | %v | %.2f | %.2f | %.2f |\n", o.CopyOnly.Round(time.Microsecond), o.Serial.Round(time.Microsecond),
			o.Overlapped.Round(time.Microsecond), o.Speedup, o.Ideal, o.Efficiency)
	}
	if r.Overlap == nil && r.OverlapSkipped != "" {
		fmt.Fprintf(w, "\n## Copy/compute overlap of the simulated engine\n\n%s.\n", r.OverlapSkipped)
	}
	if a := r.Alloc; a != nil {
		fmt.Fprintf(w, "\n## Alloc/free cycles (%s)\n\n", r.source())
		fmt.Fprintf(w, "%d cycles of a %s pinned block and a %s device block in %v; device free memory %+d bytes, process virtual size %+d bytes (tolerance %s): **%s**.\n",
			a.Cycles, size(a.HostSize), size(a.DeviceSize), a.Took.Round(time.Millisecond), a.DeviceFreeDelta, a.VMSizeDelta, size(int(a.Tolerance)), verdict(a.Check()))
	}
	if len(r.NVML) > 0 || r.NVMLDevice != "" {
		fmt.Fprintf(w, "\n## NVML metrics (as /metrics reports them)\n\n%s\n\n", r.NVMLDevice)
		if len(r.NVML) > 0 {
			fmt.Fprint(w, "| GPU | metric | value |\n|---|---|---:|\n")
			for _, m := range r.NVML {
				fmt.Fprintf(w, "| %s | %s | %s |\n", m.GPU, m.Metric, strconv.FormatFloat(m.Value, 'g', -1, 64))
			}
		}
	}
	if r.GPU != nil {
		fmt.Fprint(w, "\n## Verdict\n\n")
		if len(r.Problems) == 0 {
			fmt.Fprint(w, "No problem found.\n")
		}
		for _, p := range r.Problems {
			fmt.Fprintf(w, "- PROBLEM: %s\n", p)
		}
	}
}

// best is the bandwidth at the largest size measured for dir and mem.
func (r *Report) best(dir cuda.Direction, mem cuda.HostMemory) float64 {
	var b cuda.Bandwidth
	for _, x := range r.Bandwidth {
		if x.Direction == dir && x.Memory == mem && x.Bytes >= b.Bytes {
			b = x
		}
	}
	return b.GBps
}

// Summary is a short plain-text account for the terminal.
func (r *Report) Summary(w io.Writer) {
	if r.GPU == nil {
		fmt.Fprintf(w, "%s (%s)\n", NoGPUMessage, r.NoGPU)
	} else {
		d := r.GPU.Device
		mock := ""
		if r.Mock {
			mock = " [MOCK: no GPU used]"
		}
		drv := r.GPU.NVMLDriver
		if drv == "" {
			drv = "unknown (no NVML)"
		}
		fmt.Fprintf(w, "GPU %d: %s (%s, %d MiB), %s, driver %s%s\n", d.Index, d.Name, d.ComputeCapability(), d.TotalMemory>>20, r.GPU.Runtime, drv, mock)
	}
	for _, c := range r.Components {
		fmt.Fprintf(w, "  %-17s %-3s %s\n", c.Name, yesNo(c.Found), c.Detail)
	}
	if r.GPU == nil {
		return
	}
	if p, pg := r.best(cuda.HtoD, cuda.Pinned), r.best(cuda.HtoD, cuda.Pageable); p > 0 {
		fmt.Fprintf(w, "  H2D (%s)       pinned %.2f GB/s, write-combined %.2f, pageable %.2f\n", r.source(), p, r.best(cuda.HtoD, cuda.PinnedWriteCombined), pg)
		fmt.Fprintf(w, "  D2H (%s)       pinned %.2f GB/s, write-combined %.2f, pageable %.2f; D2D %.1f\n", r.source(), r.best(cuda.DtoH, cuda.Pinned),
			r.best(cuda.DtoH, cuda.PinnedWriteCombined), r.best(cuda.DtoH, cuda.Pageable), r.best(cuda.DtoD, cuda.DeviceMemory))
	}
	if o := r.Overlap; o != nil {
		fmt.Fprintf(w, "  overlap (%s)   efficiency %.2f (speedup %.2f of ideal %.2f)\n", r.source(), o.Efficiency, o.Speedup, o.Ideal)
	} else if r.OverlapSkipped != "" {
		fmt.Fprintf(w, "  overlap         %s\n", r.OverlapSkipped)
	}
	if a := r.Alloc; a != nil {
		fmt.Fprintf(w, "  alloc (%s)     %d cycles: device %+d B, VmSize %+d B: %s\n", r.source(), a.Cycles, a.DeviceFreeDelta, a.VMSizeDelta, verdict(a.Check()))
	}
	fmt.Fprintf(w, "  NVML            %d readings (%s)\n", len(r.NVML), r.NVMLDevice)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
}

// WriteFiles writes doctor.md and the CSVs (Files) under dir, creating
// it. A CSV with no rows has its header only.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	r.Markdown(&md)
	if err := os.WriteFile(filepath.Join(dir, "doctor.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	src := r.source()
	tables := map[string][][]string{}
	tables["components.csv"] = [][]string{{"component", "found", "detail"}}
	for _, c := range r.Components {
		tables["components.csv"] = append(tables["components.csv"], []string{c.Name, strconv.FormatBool(c.Found), c.Detail})
	}
	tables["bandwidth.csv"] = [][]string{{"source", "direction", "host_memory", "bytes", "copies", "gbps"}}
	for _, b := range r.Bandwidth {
		tables["bandwidth.csv"] = append(tables["bandwidth.csv"], []string{src, string(b.Direction), string(b.Memory),
			strconv.Itoa(b.Bytes), strconv.Itoa(b.Copies), strconv.FormatFloat(b.GBps, 'f', 3, 64)})
	}
	tables["overlap.csv"] = [][]string{{"source", "batch", "in_bytes", "out_bytes", "copy_only_us", "kernel_us", "one_set_us", "two_sets_us", "speedup", "ideal", "efficiency"}}
	if o := r.Overlap; o != nil {
		us := func(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
		tables["overlap.csv"] = append(tables["overlap.csv"], []string{src, strconv.Itoa(o.Batch), strconv.Itoa(o.InBytes), strconv.Itoa(o.OutBytes),
			us(o.CopyOnly), us(o.Busy), us(o.Serial), us(o.Overlapped), f(o.Speedup), f(o.Ideal), f(o.Efficiency)})
	}
	tables["alloc.csv"] = [][]string{{"source", "cycles", "host_bytes", "device_bytes", "took_ms", "device_free_delta", "vmsize_delta", "tolerance", "verdict"}}
	if a := r.Alloc; a != nil {
		tables["alloc.csv"] = append(tables["alloc.csv"], []string{src, strconv.Itoa(a.Cycles), strconv.Itoa(a.HostSize), strconv.Itoa(a.DeviceSize),
			strconv.FormatInt(a.Took.Milliseconds(), 10), strconv.FormatInt(a.DeviceFreeDelta, 10), strconv.FormatInt(a.VMSizeDelta, 10),
			strconv.FormatInt(a.Tolerance, 10), verdict(a.Check())})
	}
	tables["nvml.csv"] = [][]string{{"gpu_uuid", "metric", "value"}}
	for _, m := range r.NVML {
		tables["nvml.csv"] = append(tables["nvml.csv"], []string{m.GPU, m.Metric, strconv.FormatFloat(m.Value, 'g', -1, 64)})
	}
	for name, rows := range tables {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := csv.NewWriter(f)
		w.WriteAll(rows)
		if err := w.Error(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func verdict(err error) string {
	if err != nil {
		return "GREW: " + err.Error()
	}
	return "no growth"
}

// cell keeps a detail from breaking its markdown table row.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
