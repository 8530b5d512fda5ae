package config

import (
	"context"
	"fmt"
	"io"
	"strings"
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
		{"--tls-reload-interval", "-1s"},
		{"--health-port", "70000"},
		{"--health-port", "9001"},                   // the HTTP port
		{"--health-port", "8001"},                   // the gRPC port
		{"--health-port", "8003", "--port", "8003"}, // the other way round
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

func TestGPUFlags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		lib      string
		hostCode bool
		exit     bool
	}{
		{name: "defaults", hostCode: true},
		{name: "env", env: map[string]string{"TRTSERVE_TENSORRT_LIB": "/opt/lean/libnvinfer_lean.so.10", "TRTSERVE_ALLOW_ENGINE_HOST_CODE": "false", "TRTSERVE_EXIT_ON_GPU_FAULT": "true"},
			lib: "/opt/lean/libnvinfer_lean.so.10", exit: true},
		{name: "flags win", env: map[string]string{"TRTSERVE_EXIT_ON_GPU_FAULT": "true", "TRTSERVE_ALLOW_ENGINE_HOST_CODE": "false"},
			args: []string{"--tensorrt-lib", "libnvinfer.so.10", "--allow-engine-host-code=true", "--exit-on-gpu-fault=false"}, lib: "libnvinfer.so.10", hostCode: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := Load(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.TensorRTLib != tc.lib || c.AllowEngineHostCode != tc.hostCode || c.ExitOnGPUFault != tc.exit {
				t.Fatalf("tensorrt-lib %q allow-engine-host-code %v exit-on-gpu-fault %v, want %q %v %v",
					c.TensorRTLib, c.AllowEngineHostCode, c.ExitOnGPUFault, tc.lib, tc.hostCode, tc.exit)
			}
		})
	}
	t.Run("bad bool", func(t *testing.T) {
		t.Setenv("TRTSERVE_EXIT_ON_GPU_FAULT", "maybe")
		if _, err := Load(nil, io.Discard); err == nil {
			t.Fatal("TRTSERVE_EXIT_ON_GPU_FAULT=maybe must fail")
		}
	})
}

func TestCriticalLevelIsNamed(t *testing.T) {
	var buf strings.Builder
	log, err := (&Config{LogLevel: "info", LogFormat: "text"}).Logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Log(context.Background(), LevelCritical, "GPU lost")
	if !strings.Contains(buf.String(), "level=CRITICAL") {
		t.Fatalf("log line %q lacks level=CRITICAL", buf.String())
	}
}

// TLS: certificate and key go together, a client CA needs both; the
// startup error names both flags.
func TestTLSFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string // "" = valid
	}{
		{args: nil},
		{args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}},
		{args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem"}},
		{env: map[string]string{"TRTSERVE_TLS_CERT": "c.pem", "TRTSERVE_TLS_KEY": "k.pem"}},
		{args: []string{"--tls-cert", "c.pem"}, want: "--tls-cert (TRTSERVE_TLS_CERT) and --tls-key (TRTSERVE_TLS_KEY) go together"},
		{args: []string{"--tls-key", "k.pem"}, want: "--tls-cert (TRTSERVE_TLS_CERT) and --tls-key (TRTSERVE_TLS_KEY) go together"},
		{env: map[string]string{"TRTSERVE_TLS_KEY": "k.pem"}, want: "go together"},
		{args: []string{"--tls-client-ca", "ca.pem"}, want: "--tls-client-ca (TRTSERVE_TLS_CLIENT_CA) needs --tls-cert and --tls-key"},
	} {
		t.Run(strings.Join(tc.args, " ")+fmt.Sprint(tc.env), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := Load(tc.args, io.Discard)
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
