{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "menshen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name alone when it already contains the chart name. */}}
{{- define "menshen.fullname" -}}
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

{{- define "menshen.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: never change them between releases (Deployment selectors are immutable). */}}
{{- define "menshen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "menshen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "menshen.labels" -}}
helm.sh/chart: {{ include "menshen.chart" . }}
{{ include "menshen.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: menshen
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "menshen.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "menshen.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "menshen.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "menshen.secretName" -}}
{{- default (include "menshen.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "menshen.redisFullname" -}}
{{- printf "%s-redis" (include "menshen.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The bundled Redis has its own name label so that menshen's selectors never match it. */}}
{{- define "menshen.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "menshen.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "menshen.redisLabels" -}}
helm.sh/chart: {{ include "menshen.chart" . }}
{{ include "menshen.redisSelectorLabels" . }}
app.kubernetes.io/component: redis
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: menshen
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
store.redis of menshen.yaml, as YAML, from .Values.redis (DESIGN.md §2: exactly one of url,
sentinel, cluster). Passwords are ${ENV} placeholders resolved from the Secret at start.
*/}}
{{- define "menshen.redisConfig" -}}
{{- $r := .Values.redis }}
{{- $out := dict "keyPrefix" $r.keyPrefix }}
{{- if $r.auth.username }}
{{- $_ := set $out "username" $r.auth.username }}
{{- end }}
{{- if $r.tls }}
{{- if $r.bundled.enabled }}
{{- fail "redis.tls: the bundled Redis does not serve TLS; turn one of them off" }}
{{- end }}
{{- $_ := set $out "tls" true }}
{{- end }}
{{- with $r.tlsCaFile }}
{{- $_ := set $out "tlsCaFile" . }}
{{- end }}
{{- with $r.tlsServerName }}
{{- $_ := set $out "tlsServerName" . }}
{{- end }}
{{- if $r.bundled.enabled }}
{{- if ne $r.mode "url" }}
{{- fail "redis.bundled.enabled needs redis.mode: url" }}
{{- end }}
{{- $_ := set $out "url" (printf "redis://%s:6379/0" (include "menshen.redisFullname" .)) }}
{{- if $r.auth.enabled }}
{{- $_ := set $out "password" "${REDIS_PASSWORD}" }}
{{- end }}
{{- else if eq $r.mode "url" }}
{{- $url := required "redis.url is required with redis.mode: url" $r.url }}
{{- if not (regexMatch "^rediss?://" $url) }}
{{- fail "redis.url must start with redis:// or rediss://" }}
{{- end }}
{{- $_ := set $out "url" $url }}
{{- if $r.auth.enabled }}
{{- $_ := set $out "password" "${REDIS_PASSWORD}" }}
{{- end }}
{{- else if eq $r.mode "sentinel" }}
{{- if not $r.sentinel.nodes }}
{{- fail "redis.sentinel.nodes: list at least one Sentinel host:port with redis.mode: sentinel" }}
{{- end }}
{{- $s := dict "name" (required "redis.sentinel.name is required with redis.mode: sentinel" $r.sentinel.name) "nodes" $r.sentinel.nodes }}
{{- if $r.sentinel.db }}
{{- $_ := set $s "db" (int $r.sentinel.db) }}
{{- end }}
{{- if $r.auth.enabled }}
{{- $_ := set $s "password" "${REDIS_PASSWORD}" }}
{{- end }}
{{- if $r.sentinel.authEnabled }}
{{- $_ := set $s "sentinelPassword" "${REDIS_SENTINEL_PASSWORD}" }}
{{- end }}
{{- with $r.sentinel.username }}
{{- $_ := set $s "sentinelUsername" . }}
{{- end }}
{{- $_ := set $out "sentinel" $s }}
{{- else if eq $r.mode "cluster" }}
{{- if not $r.cluster.nodes }}
{{- fail "redis.cluster.nodes: list at least one seed host:port with redis.mode: cluster" }}
{{- end }}
{{- $c := dict "nodes" $r.cluster.nodes }}
{{- if $r.auth.enabled }}
{{- $_ := set $c "password" "${REDIS_PASSWORD}" }}
{{- end }}
{{- $_ := set $out "cluster" $c }}
{{- else }}
{{- fail (printf "redis.mode must be url, sentinel or cluster, not %q" $r.mode) }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
menshen.yaml: .Values.config plus what the chart owns (listeners, store) and the secret
placeholders (${MENSHEN_COOKIE_SECRET}, ${MENSHEN_JWKS}).
*/}}
{{- define "menshen.config" -}}
{{- $cfg := deepCopy (default (dict) .Values.config) }}
{{- $server := default (dict) $cfg.server }}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- $_ := set $server "metricsListen" (printf "0.0.0.0:%d" (int .Values.metrics.port)) }}
{{- $_ := set $cfg "server" $server }}
{{- $_ := set $cfg "store" (dict "type" "redis" "redis" (include "menshen.redisConfig" . | fromYaml)) }}
{{- if $cfg.provider }}
{{- if .Values.secret.jwks.enabled }}
{{- $_ := set $cfg.provider "keys" "${MENSHEN_JWKS}" }}
{{- end }}
{{- else }}
{{- $_ := unset $cfg "provider" }}
{{- end }}
{{- if $cfg.gateway }}
{{- $session := default (dict) $cfg.gateway.session }}
{{- if not $session.secret }}
{{- $_ := set $session "secret" "${MENSHEN_COOKIE_SECRET}" }}
{{- end }}
{{- $_ := set $cfg.gateway "session" $session }}
{{- else }}
{{- $_ := unset $cfg "gateway" }}
{{- end }}
{{- if and (not $cfg.provider) (not $cfg.gateway) }}
{{- fail "config: set config.provider, config.gateway or both" }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
What the chart's Secret is made of (values only, never the generated cookie secret), hashed into
the pod annotation checksum/secret so that changing a secret value rolls the pods.
*/}}
{{- define "menshen.secretInputs" -}}
{{- $in := dict "secret" (omit .Values.secret "annotations") "auth" .Values.redis.auth "sentinelAuth" .Values.redis.sentinel.authEnabled "sentinelPassword" .Values.redis.sentinel.password -}}
{{- toJson $in }}
{{- end }}

{{/* The cookie secret: the value given, else the one already in the cluster, else a new random one. */}}
{{- define "menshen.cookieSecret" -}}
{{- if .Values.secret.cookieSecret }}
{{- .Values.secret.cookieSecret }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "menshen.fullname" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "MENSHEN_COOKIE_SECRET") }}
{{- index $existing.data "MENSHEN_COOKIE_SECRET" | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Checks that span several values; included by the Deployment so every render runs them. */}}
{{- define "menshen.validate" -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled (the Service's metrics port)" }}
{{- end }}
{{- if eq (int .Values.containerPort) (int .Values.metrics.port) }}
{{- fail "metrics.port must differ from containerPort" }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.parentRefs: name the Gateway(s) the HTTPRoute attaches to" }}
{{- end }}
{{- if and (not .Values.autoscaling.enabled) (lt (int .Values.replicaCount) 1) }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- $shutdown := 25 }}
{{- if and .Values.config.server (hasKey .Values.config.server "shutdownTimeout") }}
{{- $shutdown = int .Values.config.server.shutdownTimeout }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add (int .Values.lifecycle.preStopSleepSeconds) $shutdown) }}
{{- fail "terminationGracePeriodSeconds must exceed lifecycle.preStopSleepSeconds + config.server.shutdownTimeout" }}
{{- end }}
{{- range $name, $_ := .Values.secret.clientSecrets }}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $name) }}
{{- fail (printf "secret.clientSecrets: %q is not a valid environment variable name" $name) }}
{{- end }}
{{- if has $name (list "MENSHEN_COOKIE_SECRET" "MENSHEN_JWKS" "REDIS_PASSWORD" "REDIS_SENTINEL_PASSWORD") }}
{{- fail (printf "secret.clientSecrets: %s is set by the chart itself" $name) }}
{{- end }}
{{- end }}
{{- end }}
