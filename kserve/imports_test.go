package kserve

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTransportNeutral: the package imports no transport (HTTP, Fiber,
// gRPC, protobuf) and nothing native, as doc.go says.
func TestTransportNeutral(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/trtserve/trtserve/"
	forbidden := []string{"net/http", "github.com/gofiber/fiber", "github.com/valyala/fasthttp", "google.golang.org/grpc", "google.golang.org/protobuf",
		mod + "server", mod + "grpcserver", mod + "cuda", mod + "trt"}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
