package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func (lv Level) load() string {
	if lv.Rate > 0 {
		return fmt.Sprintf("%.1f/s", lv.Rate)
	}
	return strconv.Itoa(lv.Concurrency)
}

func (lv Level) errors() string {
	if len(lv.Errors) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(lv.Errors)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, lv.Errors[k]))
	}
	return strings.Join(parts, " ")
}

// cpu is the server's CPU ms per image, "-" when not measured.
func (lv Level) cpu() string {
	if lv.CPUPerImage <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(lv.CPUPerImage)/float64(time.Millisecond))
}

// WriteTable prints the levels as a Markdown table, then, when several
// targets ran, each level's fps ratio of the first target to the others.
func WriteTable(w io.Writer, levels []Level) {
	fmt.Fprintln(w, "| target | load | fps | server CPU ms/image | p50 ms | p90 ms | p95 ms | p99 ms | errors | server queue / input / infer / output ms | max RSS MiB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, lv := range levels {
		name := lv.Target
		if lv.Backend != "" {
			name += " (" + lv.Backend + ")"
		}
		server := "-"
		if lv.ServerQueue+lv.ServerInput+lv.ServerInfer+lv.ServerOutput > 0 {
			server = strings.Join([]string{ms(lv.ServerQueue), ms(lv.ServerInput), ms(lv.ServerInfer), ms(lv.ServerOutput)}, " / ")
		}
		rss := "-"
		if lv.MaxRSS > 0 {
			rss = fmt.Sprintf("%.0f", lv.MaxRSS/(1<<20))
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, lv.load(), lv.FPS, lv.cpu(),
			ms(lv.P50), ms(lv.P90), ms(lv.P95), ms(lv.P99), lv.errors(), server, rss)
	}
	ratios := Ratios(levels)
	if len(ratios) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, r := range ratios {
		fmt.Fprintln(w, r)
	}
}

// Ratios compares, level by level, the first target's fps with each other
// target's: "load 64: parallel / serial fps = 3.10×", and, when both
// report it, their server CPU per image: "load 64: new / base server CPU
// per image = 0.48×".
func Ratios(levels []Level) []string {
	var out []string
	for i := 0; i < len(levels); {
		// One group is one level across the targets: it ends where the
		// load changes or a target comes round again (a repeated level).
		j := i + 1
		seen := map[string]bool{levels[i].Target: true}
		for j < len(levels) && levels[j].load() == levels[i].load() && !seen[levels[j].Target] {
			seen[levels[j].Target] = true
			j++
		}
		for _, o := range levels[i+1 : j] {
			if o.FPS > 0 {
				out = append(out, fmt.Sprintf("load %s: %s / %s fps = %.2f×", levels[i].load(), levels[i].Target, o.Target, levels[i].FPS/o.FPS))
			}
			if a, b := levels[i].CPUPerImage, o.CPUPerImage; a > 0 && b > 0 {
				out = append(out, fmt.Sprintf("load %s: %s / %s server CPU per image = %.2f×", levels[i].load(), levels[i].Target, o.Target, float64(a)/float64(b)))
			}
		}
		i = j
	}
	return out
}

// WriteCSV writes perf_analyzer's CSV columns (latencies in µs) plus the
// target, its backend, the error count and the server's CPU time per image
// and over the window (µs; 0 when the target does not export it). Client
// send/receive split is not measured and left empty.
func WriteCSV(path string, levels []Level) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"Concurrency", "Inferences/Second", "Client Send", "Network+Server Send/Recv", "Server Queue",
		"Server Compute Input", "Server Compute Infer", "Server Compute Output", "Client Recv",
		"p50 latency", "p90 latency", "p95 latency", "p99 latency", "Avg latency", "Request Rate", "Target", "Backend", "Errors",
		"Server CPU per image", "Server CPU"})
	us := func(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }
	for _, lv := range levels {
		errs := 0
		for _, n := range lv.Errors {
			errs += n
		}
		w.Write([]string{strconv.Itoa(lv.Concurrency), strconv.FormatFloat(lv.FPS, 'f', 2, 64), "", "",
			us(lv.ServerQueue), us(lv.ServerInput), us(lv.ServerInfer), us(lv.ServerOutput), "",
			us(lv.P50), us(lv.P90), us(lv.P95), us(lv.P99), us(lv.Avg), strconv.FormatFloat(lv.Rate, 'f', 2, 64),
			lv.Target, lv.Backend, strconv.Itoa(errs), us(lv.CPUPerImage), us(lv.ServerCPU)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// jsonLevel is a Level as WriteJSON writes it: times in milliseconds.
type jsonLevel struct {
	Target         string         `json:"target"`
	Backend        string         `json:"backend,omitempty"`
	Concurrency    int            `json:"concurrency,omitempty"`
	Rate           float64        `json:"rate,omitempty"`
	Images         int            `json:"images"`
	FPS            float64        `json:"fps"`
	CPUPerImageMS  float64        `json:"server_cpu_ms_per_image"`
	ServerCPUS     float64        `json:"server_cpu_s"`
	P50MS          float64        `json:"p50_ms"`
	P90MS          float64        `json:"p90_ms"`
	P95MS          float64        `json:"p95_ms"`
	P99MS          float64        `json:"p99_ms"`
	AvgMS          float64        `json:"avg_ms"`
	Errors         map[string]int `json:"errors,omitempty"`
	ServerQueueMS  float64        `json:"server_queue_ms"`
	ServerInputMS  float64        `json:"server_input_ms"`
	ServerInferMS  float64        `json:"server_infer_ms"`
	ServerOutputMS float64        `json:"server_output_ms"`
	MaxRSSMiB      float64        `json:"max_rss_mib"`
}

// WriteJSON writes the levels as a JSON array (times in ms), with the
// ratios of the first target to the others as Ratios prints them.
func WriteJSON(path string, levels []Level) error {
	f := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	out := struct {
		Levels []jsonLevel `json:"levels"`
		Ratios []string    `json:"ratios"`
	}{Levels: []jsonLevel{}, Ratios: Ratios(levels)}
	for _, lv := range levels {
		out.Levels = append(out.Levels, jsonLevel{lv.Target, lv.Backend, lv.Concurrency, lv.Rate, lv.Images, lv.FPS,
			f(lv.CPUPerImage), lv.ServerCPU.Seconds(), f(lv.P50), f(lv.P90), f(lv.P95), f(lv.P99), f(lv.Avg), lv.Errors,
			f(lv.ServerQueue), f(lv.ServerInput), f(lv.ServerInfer), f(lv.ServerOutput), lv.MaxRSS / (1 << 20)})
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// WritePlot draws throughput and p99 latency against load, one line per
// target, into a PNG.
func WritePlot(path, title string, levels []Level) error {
	fps, p99 := plot.New(), plot.New()
	fps.Title.Text = title
	fps.Y.Label.Text = "images/s"
	p99.Y.Label.Text = "p99 latency (ms)"
	for _, p := range []*plot.Plot{fps, p99} {
		p.X.Label.Text = "concurrency (log scale)"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
	}
	if len(levels) > 0 && levels[0].Rate > 0 {
		fps.X.Label.Text, p99.X.Label.Text = "offered requests/s (log scale)", "offered requests/s (log scale)"
	}
	var order []string
	byTarget := map[string][]Level{}
	for _, lv := range levels {
		if _, ok := byTarget[lv.Target]; !ok {
			order = append(order, lv.Target)
		}
		byTarget[lv.Target] = append(byTarget[lv.Target], lv)
	}
	for i, name := range order {
		var a, b plotter.XYs
		for _, lv := range byTarget[name] {
			x := float64(lv.Concurrency)
			if lv.Rate > 0 {
				x = lv.Rate
			}
			a = append(a, plotter.XY{X: x, Y: lv.FPS})
			b = append(b, plotter.XY{X: x, Y: float64(lv.P99) / float64(time.Millisecond)})
		}
		label := name
		if bk := byTarget[name][0].Backend; bk != "" {
			label += " (" + bk + ")"
		}
		for p, xy := range map[*plot.Plot]plotter.XYs{fps: a, p99: b} {
			l, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			c := plotutil.Color(i)
			l.Color, pts.Color = c, c
			pts.Shape = plotutil.Shape(i)
			p.Add(l, pts)
			p.Legend.Add(label, l, pts)
		}
	}
	img := vgimg.New(8*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{fps}, {p99}}, tiles, dc)
	fps.Draw(canvases[0][0])
	p99.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteRawTable prints raw backend throughput per batch size.
func WriteRawTable(w io.Writer, model string, levels []RawLevel) {
	fmt.Fprintf(w, "raw backend, %s, pre-decoded tensors, no server\n\n", model)
	fmt.Fprintln(w, "| backend | batch | instances | fps | ms per batch |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, lv := range levels {
		fmt.Fprintf(w, "| %s | %d | %d | %.1f | %s |\n", lv.Backend, lv.Batch, lv.Instances, lv.FPS, ms(lv.BatchTime))
	}
}
