package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/trtserve/trtserve/bench"
	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/internal/app"
)

const benchUsage = `usage: trtserve bench [flags]

Load-test Roboflow-compatible servers (closed-loop concurrency sweep or
open-loop request rates), or with --raw measure a backend alone on
pre-decoded tensors at each batch size.

examples:
  trtserve bench --url http://127.0.0.1:9001 --model yolov5s-coco/1 --images testdata/images
  trtserve bench --url parallel=http://127.0.0.1:9001 --url serial=http://127.0.0.1:9002 \
      --model yolov5s-coco/1 --concurrency 1,64,1000 --plot bench.png --csv bench.csv
  trtserve bench --raw --model yolov5s-coco/1 --model-repository models

flags:
`

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// params collects --param key=value; values that parse as JSON (numbers,
// booleans, quoted strings) are sent as such, anything else as a string.
type params map[string]any

func (p params) String() string { return "" }
func (p params) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("--param wants key=value, got %q", v)
	}
	var j any
	if err := json.Unmarshal([]byte(val), &j); err == nil {
		p[k] = j
	} else {
		p[k] = val
	}
	return nil
}

type targets []bench.Target

func (t *targets) String() string { return "" }
func (t *targets) Set(v string) error {
	name, url, ok := strings.Cut(v, "=")
	if !ok {
		name, url = fmt.Sprintf("target%d", len(*t)+1), v
		if len(*t) == 0 {
			name = "trtserve"
		}
	}
	*t = append(*t, bench.Target{Name: name, URL: url})
	return nil
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trtserve bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	var ts targets
	fs.Var(&ts, "url", "server to load, as URL or name=URL; repeat to compare targets in one run (the first is the numerator of the ratios)")
	fs.Var(&ts, "compare", "a further target, as name=URL (same as another --url): measured in the same run, its fps ratio printed")
	extra := params{}
	fs.Var(extra, "param", "extra request field as key=value (repeatable), e.g. mask_decode_mode=fast")
	model := fs.String("model", "yolov5s-coco/1", "model_id to request (or, with --raw, to load)")
	task := fs.String("task", "object_detection", "Roboflow route: /infer/<task>")
	images := fs.String("images", "testdata/images", "folder of .jpg/.png images sent round-robin")
	conc := fs.String("concurrency", "1,8,64,256,1000", "closed-loop concurrency levels")
	rates := fs.String("rate", "", "open-loop request rates per second (instead of --concurrency), e.g. 50,100,200")
	warmup := fs.Duration("warmup", 3*time.Second, "time each level runs before measuring")
	duration := fs.Duration("duration", 10*time.Second, "measurement window per level")
	timeout := fs.Duration("timeout", 120*time.Second, "client timeout per request")
	apiKey := fs.String("api-key", "", "api_key sent in each request (Roboflow servers)")
	csvPath := fs.String("csv", "", "write perf_analyzer-style CSV here")
	plotPath := fs.String("plot", "", "write a PNG of throughput and p99 latency against load here")
	title := fs.String("title", "", "plot title")
	quiet := fs.Bool("quiet", false, "no progress bar")
	raw := fs.Bool("raw", false, "measure the backend alone on pre-decoded tensors (no server)")
	repo := fs.String("model-repository", "./models", "with --raw: model repository")
	backend := fs.String("backend", "", "with --raw: force a backend (onnxruntime or simulated)")
	maxBatch := fs.Int("max-batch-size", 8, "with --raw: largest batch for dynamic-batch models")
	batches := fs.String("batches", "", "with --raw: batch sizes (default 1, 2, 4, ... max)")
	ortLib := fs.String("onnxruntime-lib", "", "with --raw: path to libonnxruntime.so")
	threads := fs.Int("intra-op-threads", 0, "with --raw: ONNX Runtime threads per run, 0 = one per core")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *raw {
		cfg, err := config.Load(nil, stderr)
		if err != nil {
			return err
		}
		cfg.ModelRepository, cfg.Backend, cfg.MaxBatchSize, cfg.IntraOpThreads = *repo, *backend, *maxBatch, *threads
		if *ortLib != "" {
			cfg.ORTLibrary = *ortLib
		}
		bs, err := ints(*batches)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		backends, err := app.OpenBackends(cfg, log)
		if err != nil {
			return err
		}
		defer backends.Close()
		r := &bench.Raw{Repo: app.NewRepository(cfg, backends), Backends: backends.BackendSet, Model: *model, Batches: bs, Warmup: *warmup, Duration: *duration}
		levels, err := r.Run(ctx)
		bench.WriteRawTable(stdout, *model, levels)
		return err
	}
	if len(ts) == 0 {
		ts.Set("http://127.0.0.1:9001")
	}
	l := &bench.Load{Targets: ts, Model: *model, Task: *task, APIKey: *apiKey, Params: extra, Warmup: *warmup, Duration: *duration, Timeout: *timeout}
	if !*quiet {
		l.Progress = stderr
	}
	var err error
	if l.Images, err = bench.ReadImages(*images); err != nil {
		return err
	}
	if *rates != "" {
		for _, f := range strings.Split(*rates, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 {
				return fmt.Errorf("rate %q is not a positive number", f)
			}
			l.Rates = append(l.Rates, r)
		}
	} else if l.Concurrency, err = ints(*conc); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trtserve bench: model %s, task %s, %d images from %s, warm-up %v, window %v\n\n", *model, *task, len(l.Images), *images, *warmup, *duration)
	levels, err := l.Run(ctx)
	bench.WriteTable(stdout, levels)
	if err != nil {
		return err
	}
	if *csvPath != "" {
		if err := bench.WriteCSV(*csvPath, levels); err != nil {
			return err
		}
	}
	if *plotPath != "" {
		t := *title
		if t == "" {
			t = fmt.Sprintf("%s, %s", *model, *task)
		}
		for _, lv := range levels {
			if lv.Backend != "" {
				t += " — " + lv.Backend + " accelerator"
				break
			}
		}
		if err := bench.WritePlot(*plotPath, t, levels); err != nil {
			return err
		}
	}
	return nil
}
