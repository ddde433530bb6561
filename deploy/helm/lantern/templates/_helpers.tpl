{{/* The chart's name, for labels. */}}
{{- define "lantern.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Objects' name: the release name, with the chart's name when it does not contain it already. */}}
{{- define "lantern.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lantern.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lantern.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lantern.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "lantern.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "lantern.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lantern.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The agent's configuration file (lantern.yaml), built from values: only what is set, so the agent's
own defaults hold for the rest; extraConfig is merged last.
*/}}
{{- define "lantern.config" -}}
{{- $v := .Values -}}
{{- $c := dict "collectors" $v.collectors "log" $v.log -}}
{{- $otlp := dict -}}
{{- with $v.otlp.endpoint }}{{ $_ := set $otlp "endpoint" . }}{{ end -}}
{{- with $v.otlp.protocol }}{{ $_ := set $otlp "protocol" . }}{{ end -}}
{{- with $v.otlp.headers }}{{ $_ := set $otlp "headers" . }}{{ end -}}
{{- with $v.otlp.traces.endpoint }}{{ $_ := set $otlp "traces" (dict "endpoint" .) }}{{ end -}}
{{- with $v.otlp.metrics.endpoint }}{{ $_ := set $otlp "metrics" (dict "endpoint" .) }}{{ end -}}
{{- $logs := dict -}}
{{- with $v.otlp.logs.endpoint }}{{ $_ := set $logs "endpoint" . }}{{ end -}}
{{- with $v.otlp.logs.protocol }}{{ $_ := set $logs "protocol" . }}{{ end -}}
{{- if $logs }}{{ $_ := set $otlp "logs" $logs }}{{ end -}}
{{- if $otlp }}{{ $_ := set $c "otlp" $otlp }}{{ end -}}
{{- $profiler := dict "frequency" $v.profiler.frequency "interval" $v.profiler.interval -}}
{{- if $v.profiler.pyroscope.url -}}
{{- $pyroscope := dict "url" $v.profiler.pyroscope.url -}}
{{- with $v.profiler.pyroscope.tenantId }}{{ $_ := set $pyroscope "tenant_id" . }}{{ end -}}
{{- $_ := set $profiler "pyroscope" $pyroscope -}}
{{- end -}}
{{- $_ := set $c "profiler" $profiler -}}
{{- if $v.probes.enabled }}{{ $_ := set $c "probes_dir" "/etc/lantern/probes.d" }}{{ end -}}
{{- $k8s := dict "enabled" $v.kubernetes.enabled -}}
{{- with $v.kubernetes.apiUrl }}{{ $_ := set $k8s "api_url" . }}{{ end -}}
{{- with $v.kubernetes.tokenFile }}{{ $_ := set $k8s "token_file" . }}{{ end -}}
{{- $_ := set $c "kubernetes" $k8s -}}
{{- $sel := dict -}}
{{- with $v.selection.include }}{{ $_ := set $sel "include" . }}{{ end -}}
{{- with $v.selection.exclude }}{{ $_ := set $sel "exclude" . }}{{ end -}}
{{- /* hasKey, not with: default_excludes false is a setting */ -}}
{{- if hasKey $v.selection "default_excludes" }}{{ $_ := set $sel "default_excludes" $v.selection.default_excludes }}{{ end -}}
{{- with $v.selection.rescan_seconds }}{{ $_ := set $sel "rescan_seconds" . }}{{ end -}}
{{- if $sel }}{{ $_ := set $c "selection" $sel }}{{ end -}}
{{- $c = mergeOverwrite $c (deepCopy $v.extraConfig) -}}
{{- toYaml $c -}}
{{- end -}}
