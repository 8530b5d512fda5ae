package config

// ControlKey is the key model control needs (the APIs that load, unload
// or reconfigure models: KServe repository load/unload over HTTP and
// gRPC, Roboflow's /model/remove and /model/clear): the admin key when one
// is set, else the inference key when one is set, else none ("": open, as
// Triton's explicit mode is). Roboflow's /model/add of a repository model
// also takes the inference key, so inference-sdk clients keep working.
// --model-control-mode none or poll turns model control off whatever the
// keys (docs/operations.md, "Model control and its key").
func ControlKey(adminKey, apiKey string) string {
	if adminKey != "" {
		return adminKey
	}
	return apiKey
}
