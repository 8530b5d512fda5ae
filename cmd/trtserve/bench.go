package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/trtserve/trtserve/bench"
	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/internal/app"
	"github.com/trtserve/trtserve/internal/tlsconf"
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
  trtserve bench --url https://127.0.0.1:9001 --cacert ca.pem --cert client.pem --key client.key

Each level reports fps and the server's CPU time per answered image
(user+system CPU of the server process over the window, from its
process_cpu_seconds_total on /metrics): compare two builds with
--url new=URL1 --compare old=URL2 to see the CPU an image costs each.

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

// params are --param key=value fields; values that parse as JSON (numbers,
// booleans, quoted strings) are sent as such, anything else as a string.
func params(kvs []string) map[string]any {
	p := map[string]any{}
	for _, kv := range kvs {
		k, val, _ := strings.Cut(kv, "=") // config checked the '='
		var j any
		if err := json.Unmarshal([]byte(val), &j); err == nil {
			p[k] = j
		} else {
			p[k] = val
		}
	}
	return p
}

// targets names --url and --compare values: "name=URL", or a bare URL
// named trtserve when first, target<N> after.
func targets(vs []string) []bench.Target {
	var t []bench.Target
	for _, v := range vs {
		name, url, ok := strings.Cut(v, "=")
		if !ok {
			name, url = fmt.Sprintf("target%d", len(t)+1), v
			if len(t) == 0 {
				name = "trtserve"
			}
		}
		t = append(t, bench.Target{Name: name, URL: url})
	}
	return t
}

func runBench(args []string, stdout, stderr io.Writer) error {
	c, err := config.LoadBench(args, stderr, benchUsage)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if c.Raw {
		cfg, err := c.Serve(stderr)
		if err != nil {
			return err
		}
		bs, err := ints(c.Batches)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		backends, err := app.OpenBackends(cfg, log)
		if err != nil {
			return err
		}
		defer backends.Close()
		r := &bench.Raw{Repo: app.NewRepository(cfg, backends), Backends: backends.BackendSet, Model: c.Model, Batches: bs, Warmup: c.Warmup, Duration: c.Duration}
		levels, err := r.Run(ctx)
		bench.WriteRawTable(stdout, c.Model, levels)
		return err
	}
	l := &bench.Load{Targets: targets(c.Targets), Model: c.Model, Task: c.Task, APIKey: c.APIKey, Params: params(c.Params), Warmup: c.Warmup, Duration: c.Duration, Timeout: c.Timeout}
	if c.CACert != "" || c.Cert != "" || c.Insecure {
		if l.TLS, err = tlsconf.ClientConfig(c.CACert, c.Cert, c.Key, c.Insecure); err != nil {
			return err
		}
	}
	if !c.Quiet {
		l.Progress = stderr
	}
	if l.Images, err = bench.ReadImages(c.Images); err != nil {
		return err
	}
	if c.Rates != "" {
		for _, f := range strings.Split(c.Rates, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 {
				return fmt.Errorf("rate %q is not a positive number", f)
			}
			l.Rates = append(l.Rates, r)
		}
	} else if l.Concurrency, err = ints(c.Concurrency); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trtserve bench: model %s, task %s, %d images from %s, warm-up %v, window %v\n\n", c.Model, c.Task, len(l.Images), c.Images, c.Warmup, c.Duration)
	levels, err := l.Run(ctx)
	bench.WriteTable(stdout, levels)
	if err != nil {
		return err
	}
	if c.CSV != "" {
		if err := bench.WriteCSV(c.CSV, levels); err != nil {
			return err
		}
	}
	if c.JSON != "" {
		if err := bench.WriteJSON(c.JSON, levels); err != nil {
			return err
		}
	}
	if c.Plot != "" {
		t := c.Title
		if t == "" {
			t = fmt.Sprintf("%s, %s", c.Model, c.Task)
		}
		for _, lv := range levels {
			if lv.Backend != "" {
				t += " — " + lv.Backend + " accelerator"
				break
			}
		}
		if err := bench.WritePlot(c.Plot, t, levels); err != nil {
			return err
		}
	}
	return nil
}
