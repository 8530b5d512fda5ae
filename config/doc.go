// Package config owns trtserve's configuration: it is the only package
// that reads environment variables or command-line flags, and the only
// place defaults are kept.
//
// Each command has a typed struct: Config for `trtserve serve`, and Build,
// Inspect, Doctor and Bench for the others. Each is read from the
// environment (TRTSERVE_*, Roboflow Inference's PORT, MAX_BATCH_SIZE,
// MODEL_CACHE_DIR and MAX_ACTIVE_MODELS so trtserve is a drop-in
// replacement, NVIDIA's NVIDIA_TF32_OVERRIDE and Go's GOMAXPROCS) with
// github.com/caarlos0/env, then from its flags, which win. The packages
// below take what they need as explicit values (library paths, limits,
// switches), so none of them changes behaviour with the environment
// behind a caller's back.
//
// defaults.go holds every default value. The envDefault tags spell the
// same values (a test holds them equal), and the packages that fill a
// zero field themselves (server's limits, pipeline's queue and ring) take
// the fallback from these constants instead of keeping their own.
//
// It must not import anything of trtserve's: every other package may
// import it, for its constants.
package config
