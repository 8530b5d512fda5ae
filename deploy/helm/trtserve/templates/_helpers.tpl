{{/* Names: the usual Helm conventions, cut to 63 characters (DNS labels). */}}
{{- define "trtserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "trtserve.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "trtserve.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "trtserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "trtserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trtserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* A pool's Deployment name: fullname-pool. Call with (dict "root" $ "pool" $pool). */}}
{{- define "trtserve.poolName" -}}
{{- printf "%s-%s" (include "trtserve.fullname" .root) .pool.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The pod label that names the pool; the ServiceMonitor copies it onto
every series (Prometheus spells it trtserve_io_pool), which is how each pool's autoscaler sees
only its own pods. */}}
{{- define "trtserve.poolLabels" -}}
{{ include "trtserve.selectorLabels" .root }}
trtserve.io/pool: {{ .pool.name }}
{{- end }}

{{- define "trtserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "trtserve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "trtserve.engineCacheClaim" -}}
{{- default (printf "%s-engine-cache" (include "trtserve.fullname" .)) .Values.engineCache.existingClaim }}
{{- end }}

{{/* True when a pool uses a GPU. */}}
{{- define "trtserve.isGPU" -}}
{{- if gt (int .gpu.count) 0 }}true{{ end }}
{{- end }}

{{- define "trtserve.anyGPU" -}}
{{- range .Values.pools }}{{ if gt (int .gpu.count) 0 }}true{{ end }}{{ end }}
{{- end }}

{{/* Checks every template calls first: bad values fail the render with a
clear message instead of a manifest the cluster would refuse. */}}
{{- define "trtserve.validate" -}}
{{- if not .Values.pools }}{{ fail "pools: at least one pool is needed" }}{{ end }}
{{- $seen := dict }}
{{- range .Values.pools }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" (toString .name)) }}{{ fail (printf "pools: name %q must be a DNS label (lower-case letters, digits, '-')" (toString .name)) }}{{ end }}
{{- if hasKey $seen .name }}{{ fail (printf "pools: name %q is used twice" .name) }}{{ end }}
{{- $_ := set $seen .name true }}
{{- if gt (int .gpu.count) 1 }}{{ fail (printf "pools.%s.gpu.count: trtserve serves one GPU per process; run one pod per GPU (count 1)" .name) }}{{ end }}
{{- end }}
{{- if not (has .Values.modelRepository.source (list "pvc" "image" "init")) }}{{ fail "modelRepository.source must be pvc, image or init" }}{{ end }}
{{- if and (eq .Values.modelRepository.source "image") (not .Values.modelRepository.image.reference) }}{{ fail "modelRepository.image.reference is required when source is image" }}{{ end }}
{{- if and (eq .Values.modelRepository.source "init") (not .Values.modelRepository.init.storageUri) }}{{ fail "modelRepository.init.storageUri is required when source is init" }}{{ end }}
{{- if and (eq .Values.modelRepository.source "pvc") (not .Values.modelRepository.pvc.claimName) }}{{ fail "modelRepository.pvc.claimName is required when source is pvc" }}{{ end }}
{{- if not (has .Values.engineCache.type (list "pvc" "hostPath" "emptyDir")) }}{{ fail "engineCache.type must be pvc, hostPath or emptyDir" }}{{ end }}
{{- if not (has .Values.autoscaling.provider (list "prometheus-adapter" "keda")) }}{{ fail "autoscaling.provider must be prometheus-adapter or keda" }}{{ end }}
{{- if not (has .Values.autoscaling.metric (list "queue-depth" "queue-time")) }}{{ fail "autoscaling.metric must be queue-depth or queue-time" }}{{ end }}
{{- if and .Values.autoscaling.enabled (not .Values.serviceMonitor.enabled) }}{{ fail "autoscaling needs serviceMonitor.enabled: the queue metrics reach Prometheus through it" }}{{ end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}{{ fail "tls.secretName is required when tls.enabled: a kubernetes.io/tls Secret (tls.crt, tls.key)" }}{{ end }}
{{- if and .Values.tls.clientCA.enabled (not .Values.tls.enabled) }}{{ fail "tls.clientCA.enabled (mutual TLS) needs tls.enabled" }}{{ end }}
{{- if and .Values.probes.grpc (not .Values.service.grpc.enabled) }}{{ fail "probes.grpc needs service.grpc.enabled: the gRPC probes ask the gRPC port" }}{{ end }}
{{- if and .Values.probes.grpc .Values.tls.enabled }}{{ fail "probes.grpc cannot be used with tls.enabled: Kubernetes gRPC probes never speak TLS (the HTTPS probes are used instead)" }}{{ end }}
{{- if and .Values.serviceMonitor.enabled .Values.tls.clientCA.enabled (not (and .Values.serviceMonitor.tlsConfig.cert .Values.serviceMonitor.tlsConfig.keySecret)) }}{{ fail "serviceMonitor.tlsConfig must give Prometheus a client certificate (cert and keySecret) under mutual TLS (tls.clientCA.enabled)" }}{{ end }}
{{- end }}

{{/* Where the TLS files are mounted in the container. */}}
{{- define "trtserve.tlsDir" -}}/etc/trtserve/tls{{- end }}

{{/* A probe's handler: GET path on the HTTP port over HTTP, over HTTPS with
tls.enabled (the kubelet does not verify the certificate), or on the
plain-HTTP health port under mutual TLS (the kubelet has no client
certificate to present, so an HTTPS GET would fail its handshake). Call
with (dict "root" $ "path" "/x"). */}}
{{- define "trtserve.httpProbe" -}}
{{- if .root.Values.tls.clientCA.enabled }}
# Mutual TLS: the kubelet cannot complete the handshake on the http port;
# the health port answers the same routes in plain HTTP.
httpGet:
  path: {{ .path }}
  port: health
{{- else }}
httpGet:
  path: {{ .path }}
  port: http
  {{- if .root.Values.tls.enabled }}
  scheme: HTTPS
  {{- end }}
{{- end }}
{{- end }}

{{/* Scale-up fast, scale-down slowly: a new pod is not ready until its
engines are built, and a ReplicaSet scaling down removes unready pods first,
so a short window would kill the pods still building. */}}
{{- define "trtserve.hpaBehavior" -}}
scaleUp:
  stabilizationWindowSeconds: 0
  policies:
    - type: Pods
      value: {{ .Values.autoscaling.scaleUpPods }}
      periodSeconds: {{ .Values.autoscaling.scaleUpPeriodSeconds }}
scaleDown:
  stabilizationWindowSeconds: {{ .Values.autoscaling.scaleDownStabilizationSeconds }}
  policies:
    - type: Pods
      value: 1
      periodSeconds: {{ .Values.autoscaling.scaleDownPeriodSeconds }}
{{- end }}
