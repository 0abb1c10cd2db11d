{{/*
Names and labels shared by every manifest of the chart.
*/}}

{{- define "logpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "logpipe.fullname" -}}
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

{{/* The name of one component's objects: <fullname>-<component>. */}}
{{- define "logpipe.componentName" -}}
{{- printf "%s-%s" (include "logpipe.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "logpipe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "logpipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: logpipe
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "ingest"). */}}
{{- define "logpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "logpipe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "logpipe.componentLabels" -}}
{{ include "logpipe.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "logpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "logpipe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image of a component; call with (dict "root" $ "image" .Values.ingest.image). */}}
{{- define "logpipe.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding passwords, the signing key and the key registry. */}}
{{- define "logpipe.secretName" -}}
{{- default (printf "%s-secrets" (include "logpipe.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
The signing keys (id:secret[,id:secret...], the current key first):
required, never generated, so every render and every replica signs and
verifies with the same keys and links survive upgrades.
*/}}
{{- define "logpipe.signingKeys" -}}
{{- required "secrets.signingKeys is required (id:secret[,id:secret...], current key first; e.g. \"$(date +%Y-%m):$(openssl rand -hex 32)\"), or set secrets.existingSecret" .Values.secrets.signingKeys -}}
{{- end -}}

{{/*
A checksum of the settings the services read from the Secret as environment
variables, so pods restart when one changes. keys.json is left out: the
services reload it from the mounted file without a restart. A generated
rotation of the signing keys restarts the query pods.
*/}}
{{- define "logpipe.secretEnvChecksum" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret | sha256sum -}}
{{- else -}}
{{- list .Values.clickhouse.password .Values.kafka.sasl.password .Values.secrets.signingKeys | toJson | sha256sum -}}
{{- end -}}
{{- end -}}

{{- define "logpipe.configName" -}}
{{- printf "%s-config" (include "logpipe.fullname" .) -}}
{{- end -}}

{{- define "logpipe.exportsClaimName" -}}
{{- default (printf "%s-exports" (include "logpipe.fullname" .)) .Values.exports.persistence.existingClaim -}}
{{- end -}}

{{/* The public base URL of the API (share URLs, signed download URLs). */}}
{{- define "logpipe.publicURL" -}}
{{- if .Values.publicURL -}}
{{- .Values.publicURL -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) .Values.ingress.host -}}
{{- else -}}
{{- printf "http://%s:%v" (include "logpipe.componentName" (dict "root" . "component" "query")) .Values.query.port -}}
{{- end -}}
{{- end -}}

{{/*
Checks that refuse a release which cannot work, before anything is applied.
*/}}
{{- define "logpipe.validate" -}}
{{- $parts := int .Values.kafka.logsTopicPartitions -}}
{{- if lt $parts 1 -}}
{{- fail "kafka.logsTopicPartitions must be at least 1: it bounds the consumer replicas" -}}
{{- end -}}
{{- if gt (int .Values.consumer.replicas) $parts -}}
{{- fail (printf "consumer.replicas (%v) must not exceed kafka.logsTopicPartitions (%v): extra consumers of a group sit idle" .Values.consumer.replicas $parts) -}}
{{- end -}}
{{- if not (has .Values.clickhouse.schemaVariant (list "single" "cluster")) -}}
{{- fail (printf "clickhouse.schemaVariant must be single or cluster, not %q" .Values.clickhouse.schemaVariant) -}}
{{- end -}}
{{- if not (has .Values.kafka.sasl.mechanism (list "" "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512")) -}}
{{- fail (printf "kafka.sasl.mechanism must be empty, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q" .Values.kafka.sasl.mechanism) -}}
{{- end -}}
{{- if and .Values.exports.persistence.enabled (not .Values.exports.persistence.existingClaim) (has "ReadWriteOnce" .Values.exports.persistence.accessModes) -}}
{{- $max := ternary (int .Values.query.autoscaling.maxReplicas) (int .Values.query.replicas) .Values.query.autoscaling.enabled -}}
{{- if gt $max 1 -}}
{{- fail "exports.persistence.accessModes is ReadWriteOnce but query may run more than one replica: every query replica reads and writes the export files, so use ReadWriteMany (or one query replica)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
