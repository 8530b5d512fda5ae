package cudamock

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trtserve/trtserve/cuda"
)

// FaultOnFile makes m lose its device, with the sticky error code written
// in file, once the file appears: how end-to-end tests inject a GPU fault
// into a running server (a test cannot reach into another process's mock).
// file "" does nothing. It returns the stop function, safe to call twice.
func FaultOnFile(m *Mock, file string, log *slog.Logger) (stop func()) {
	if file == "" {
		return func() {}
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			data, err := os.ReadFile(file)
			if err != nil || len(strings.TrimSpace(string(data))) == 0 {
				continue // not there, or not written yet
			}
			code, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil || !cuda.Sticky(code) {
				log.Error("TRTSERVE_CUDA_MOCK_FAULT_FILE must hold a sticky CUDA error code, e.g. 700", "file", file, "content", string(data))
				return
			}
			log.Warn("CUDA MOCK: injecting a sticky device fault", "code", code)
			m.InjectFault(code)
			return
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}
