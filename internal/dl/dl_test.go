package dl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenLookupClose(t *testing.T) {
	l, err := Open("libc.so.6", Now|Local)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name() != "libc.so.6" || !strings.Contains(l.Path(), "libc.so.6") || l.Handle() == 0 {
		t.Fatalf("name %q path %q handle %#x", l.Name(), l.Path(), l.Handle())
	}
	if p, err := l.Lookup("malloc"); err != nil || p == nil {
		t.Fatalf("malloc: %v %v", p, err)
	}
	again, err := Open(l.Path(), Now|Local)
	if err != nil {
		t.Fatal(err)
	}
	if again.Handle() != l.Handle() {
		t.Fatal("two opens of one object have different handles")
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Lookup("malloc"); !errors.Is(err, ErrClosed) {
		t.Fatalf("lookup after close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if l.Path() != "" || l.Handle() != 0 {
		t.Fatal("a closed library still has a path or handle")
	}
}

func TestErrorsAreDlerrors(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "libtext.so")
	if err := os.WriteFile(notELF, []byte("not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		run  func() error
		want []string
	}{
		{"missing file", func() error {
			_, err := Open("/nonexistent/libnothing.so", Now|Local)
			return err
		}, []string{"/nonexistent/libnothing.so", "No such file"}},
		{"not a library", func() error {
			_, err := Open(notELF, Now|Local)
			return err
		}, []string{notELF}},
		{"missing symbol", func() error {
			l, err := Open("libc.so.6", Now|Local)
			if err != nil {
				return nil
			}
			defer l.Close()
			_, err = l.Lookup("trtserve_no_such_symbol")
			return err
		}, []string{"undefined symbol: trtserve_no_such_symbol"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
