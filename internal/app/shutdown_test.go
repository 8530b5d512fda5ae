package app

import (
	"context"
	"errors"
	"testing"
	"time"
)

// shutdownAll drains the servers at the same time (a server still
// draining does not hold the others' stop back), all under the one
// deadline, and returns every error.
func TestShutdownAll(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	for _, tc := range []struct {
		name  string
		stops int
		errs  []error
	}{
		{"none", 0, nil},
		{"one", 1, []error{nil}},
		{"two drain together", 2, []error{nil, nil}},
		{"errors joined", 3, []error{errA, nil, errB}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each stop returns only once every stop has started: run one
			// after another they would wait for ever.
			started := make(chan struct{}, tc.stops)
			all := make(chan struct{})
			stops := make([]func(context.Context) error, tc.stops)
			for i := range stops {
				stops[i] = func(ctx context.Context) error {
					if _, ok := ctx.Deadline(); !ok {
						t.Error("a stop got no deadline")
					}
					started <- struct{}{}
					select {
					case <-all:
					case <-ctx.Done():
						return ctx.Err()
					}
					return tc.errs[i]
				}
			}
			go func() {
				for range tc.stops {
					<-started
				}
				close(all)
			}()
			// The deadline only ends a hang; no test asserts on it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := shutdownAll(ctx, stops)
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("the stops ran one after another")
			}
			var want error
			for _, e := range tc.errs {
				want = errors.Join(want, e)
			}
			if (err == nil) != (want == nil) {
				t.Errorf("error %v, want %v", err, want)
			}
			for _, e := range tc.errs {
				if e != nil && !errors.Is(err, e) {
					t.Errorf("error %v lacks %v", err, e)
				}
			}
		})
	}
}
