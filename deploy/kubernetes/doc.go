// Package kubernetes holds the tests of trtserve's Kubernetes deployment:
// the Helm chart (deploy/helm/trtserve) and the KServe manifests
// (deploy/kserve). It is a Go module of its own so that k8s.io/api and
// the API machinery never enter the server's module.
//
// What the tests check, and with what:
//   - helm lint --strict and helm template over a matrix of values (the
//     chart's ci/*-values.yaml: CPU only, one GPU, two GPU models,
//     autoscaling through prometheus-adapter and through KEDA on queue
//     depth and on queue time, ingress with and without TLS);
//   - every rendered object decoded strictly into its k8s.io/api type
//     (unknown, duplicate or wrongly-cased fields fail), and every custom
//     resource (ServiceMonitor, ScaledObject, ServingRuntime,
//     ClusterServingRuntime, InferenceService) pruned and validated against
//     the OpenAPI schema of its published CRD, vendored in crds/ with its
//     version, by the API server's own code (k8s.io/apiextensions-apiserver);
//   - with a real kube-apiserver and etcd (built by scripts/k8s-tools.sh
//     from the Go module proxy; TRTSERVE_K8S_TOOLS names their folder), the
//     CRDs installed and every manifest applied with
//     `kubectl apply --dry-run=server --validate=strict`. Where the binaries
//     are missing that test skips and says why; the strict decoding above
//     still runs.
//
// helm and kubectl come from scripts/k8s-tools.sh too (build/k8s-tools/bin).
// scripts/k8s-check.sh installs them and runs this module's tests.
package kubernetes
