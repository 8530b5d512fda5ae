package config

import (
	"io"
	"testing"
	"time"
)

func TestEnvThenFlags(t *testing.T) {
	t.Setenv("PORT", "9100")
	t.Setenv("MAX_BATCH_SIZE", "16")
	t.Setenv("MODEL_CACHE_DIR", "/tmp/cache")
	t.Setenv("TRTSERVE_REQUEST_TIMEOUT", "5s")
	t.Setenv("MAX_ACTIVE_MODELS", "3")
	t.Setenv("TRTSERVE_PIPELINE", "serial")
	c, err := Load([]string{"--port", "9200", "--log-format", "json", "--max-queue-delay", "2ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9200 || c.MaxBatchSize != 16 || c.RequestTimeout != 5*time.Second || c.LogFormat != "json" {
		t.Fatalf("config %+v", c)
	}
	if c.MaxActiveModels != 3 || c.Pipeline != "serial" || c.MaxQueueDelay != 2*time.Millisecond || c.MaxQueueSize != 2048 {
		t.Fatalf("pipeline config %+v", c)
	}
	if roots := c.Roots(); len(roots) != 2 || roots[1] != "/tmp/cache" {
		t.Fatalf("roots %v", roots)
	}
}

func TestInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--port", "70000"},
		{"--max-batch-size", "0"},
		{"--log-level", "loud"},
		{"--log-format", "xml"},
		{"--pipeline", "fast"},
		{"--max-queue-size", "0"},
		{"--max-queue-delay", "-1ms"},
		{"--backend", "tensorflow"},
		{"--tensorrt", "on"},
		{"stray"},
	} {
		if _, err := Load(args, io.Discard); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
	t.Setenv("PORT", "not-a-number")
	if _, err := Load(nil, io.Discard); err == nil {
		t.Error("bad PORT must fail")
	}
}
