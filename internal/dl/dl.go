package dl

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>

// dlerror's message belongs to the calling OS thread, and a goroutine may
// change threads between two cgo calls: each helper reads it in the same
// C call as the dlopen or dlsym that failed, and copies it out.
static void *dl_open(const char *name, int flags, char *err, size_t errlen) {
	void *h = dlopen(name, flags);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "dlopen failed");
	}
	return h;
}

static void *dl_sym(void *h, const char *sym, char *err, size_t errlen) {
	dlerror(); // clear: NULL can be a symbol's value, so only dlerror tells
	void *p = dlsym(h, sym);
	const char *e = dlerror();
	if (e != NULL) {
		snprintf(err, errlen, "%s", e);
		return NULL;
	}
	if (p == NULL) snprintf(err, errlen, "symbol %s is NULL", sym);
	return p;
}

static int dl_close(void *h, char *err, size_t errlen) {
	if (dlclose(h) != 0) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "dlclose failed");
		return -1;
	}
	return 0;
}

// dl_path is the file the dynamic linker actually mapped for h.
static const char *dl_path(void *h) {
	struct link_map *lm = NULL;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL) return NULL;
	return lm->l_name;
}
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// dlopen flags (dlfcn.h).
const (
	Lazy   = int(C.RTLD_LAZY)
	Now    = int(C.RTLD_NOW)
	Local  = int(C.RTLD_LOCAL)
	Global = int(C.RTLD_GLOBAL)
)

// errLen bounds a copied dlerror message; glibc's are a path and a reason.
const errLen = 1024

// ErrClosed: a call on a Library after Close.
var ErrClosed = errors.New("dl: library closed")

// Library is one dlopen handle. Lookup and Path may run concurrently; Close
// must not race with them (the owner closes once it is done with it).
type Library struct {
	name   string
	mu     sync.RWMutex // guards handle (nil once closed)
	handle unsafe.Pointer
}

// Open loads name (a path, or a file name the dynamic linker searches for)
// with flags (e.g. Now|Local). The error is dlerror's message, which names
// the file and why.
func Open(name string, flags int) (*Library, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var msg [errLen]C.char
	h := C.dl_open(cname, C.int(flags), &msg[0], errLen)
	if h == nil {
		return nil, errors.New(C.GoString(&msg[0]))
	}
	return &Library{name: name, handle: h}, nil
}

// Name is what Open was given.
func (l *Library) Name() string { return l.name }

// Lookup is the address of symbol. A C function at that address is called
// through a C trampoline of the caller's own (cgo cannot call a C function
// pointer); the error is dlerror's ("<file>: undefined symbol: <name>").
func (l *Library) Lookup(symbol string) (unsafe.Pointer, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.handle == nil {
		return nil, ErrClosed
	}
	csym := C.CString(symbol)
	defer C.free(unsafe.Pointer(csym))
	var msg [errLen]C.char
	p := C.dl_sym(l.handle, csym, &msg[0], errLen)
	if p == nil {
		return nil, errors.New(C.GoString(&msg[0]))
	}
	return p, nil
}

// Path is the file the dynamic linker mapped (a name found by search,
// resolved), or "" when it does not say.
func (l *Library) Path() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.handle == nil {
		return ""
	}
	if p := C.dl_path(l.handle); p != nil {
		return C.GoString(p)
	}
	return ""
}

// Handle identifies the loaded object: dlopen counts opens of one object
// and returns the same handle for each, so two Libraries with the same
// Handle are one library (callers keep their own count on it).
func (l *Library) Handle() uintptr {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return uintptr(l.handle)
}

// Close gives back this open (dlclose); the object is unloaded when its
// last open is closed. Addresses from Lookup must not be used after that.
// A second Close returns ErrClosed.
func (l *Library) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.handle == nil {
		return ErrClosed
	}
	var msg [errLen]C.char
	rc := C.dl_close(l.handle, &msg[0], errLen)
	l.handle = nil
	if rc != 0 {
		return errors.New(C.GoString(&msg[0]))
	}
	return nil
}
