//go:build cudamock

package app

import (
	"testing"

	"github.com/trtserve/trtserve/cuda"
)

func TestOpenCUDAMock(t *testing.T) {
	m, err := OpenCUDAMock(2, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Runtime.Close()
	defer m.Stop()
	if n, err := m.Runtime.DeviceCount(); err != nil || n != 2 {
		t.Fatalf("DeviceCount = %d, %v; want 2", n, err)
	}
	if c := m.Contexts(); c != "" {
		t.Fatalf("contexts %q before any work", c)
	}
	if err := cuda.OnDevice(m.Runtime, 1, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if c := m.Contexts(); c != "1" {
		t.Fatalf("contexts %q after work on device 1, want \"1\"", c)
	}
}
