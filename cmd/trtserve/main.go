// Command trtserve serves computer-vision models over Roboflow Inference's
// HTTP API and KServe v2, on ONNX Runtime or TensorRT.
//
// It is a thin CLI: package config reads every flag and environment
// variable of every subcommand, internal/app starts the server (and the
// backends of bench --raw), internal/gpustack opens TensorRT and CUDA for
// build and inspect. What is here is dispatch, and each subcommand's
// output.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/internal/app"
	"github.com/trtserve/trtserve/server"
)

const usage = `usage: trtserve <command> [flags]

commands:
  serve     serve models over HTTP (Roboflow Inference API)
  build     compile an ONNX model into a TensorRT engine
  bench     load-test servers, or measure a backend alone (--raw)
  inspect   describe an ONNX model or a TensorRT engine file
  doctor    check this host's GPU side (libraries, bandwidth, overlap, leaks)
  version   print the version

Run 'trtserve serve -h' for the server's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch cmd := os.Args[1]; cmd {
	case "serve":
		cfg, err := config.Load(os.Args[2:], os.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if err != nil {
			fail(err)
		}
		if err := app.Run(cfg); err != nil {
			fail(err)
		}
	case "bench":
		err := runBench(os.Args[2:], os.Stdout, os.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if err != nil {
			fail(err)
		}
	case "build", "inspect":
		run := runBuild
		if cmd == "inspect" {
			run = runInspect
		}
		err := run(os.Args[2:], os.Stdout, os.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if err != nil {
			fail(err)
		}
	case "doctor":
		err := runDoctor(os.Args[2:], os.Stdout, os.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if err != nil {
			fail(err)
		}
	case "version", "--version":
		fmt.Println("trtserve", server.Version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "trtserve: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "trtserve:", err)
	os.Exit(1)
}
