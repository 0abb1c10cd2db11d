{{/*
One Deployment of a logpipe service. Call with
(dict "root" $ "component" "ingest" "values" .Values.ingest "addrEnv" "LOGPIPE_INGEST_ADDR").
Every service serves /healthz, /readyz and /metrics on its one HTTP port,
reads its settings from the shared ConfigMap and Secret, and runs as a
non-root user on a read-only root filesystem with a writable /tmp.
*/}}
{{- define "logpipe.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "logpipe.componentName" $ctx }}
  labels:
    {{- include "logpipe.componentLabels" $ctx | nindent 4 }}
  {{- if eq .component "consumer" }}
  annotations:
    # The consumer group never has more members than the logs topic has
    # partitions (the chart refuses more): extra members would sit idle.
    logpipe.io/logs-topic-partitions: {{ $root.Values.kafka.logsTopicPartitions | quote }}
  {{- end }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "logpipe.selectorLabels" $ctx | nindent 6 }}
  {{- with $v.strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "logpipe.componentLabels" $ctx | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        checksum/secret-env: {{ include "logpipe.secretEnvChecksum" $root }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "logpipe.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.image.pullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "logpipe.image" (dict "root" $root "image" $v.image) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ $v.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "logpipe.configName" $root }}
          env:
            - name: {{ .addrEnv }}
              value: {{ printf "0.0.0.0:%v" $v.port | quote }}
            {{- if eq .component "ingest" }}
            - name: LOGPIPE_QUERY_URL
              value: {{ printf "http://%s:%v" (include "logpipe.componentName" (dict "root" $root "component" "query")) $root.Values.query.port | quote }}
            {{- end }}
            {{- if eq .component "query" }}
            - name: LOGPIPE_EXPORT_DIR
              value: /var/lib/logpipe/exports
            {{- end }}
            # The Go heap aims to stay below the container's memory limit
            # (GOMAXPROCS already follows the CPU limit since Go 1.25).
            - name: GOMEMLIMIT
              valueFrom:
                resourceFieldRef:
                  containerName: {{ .component }}
                  resource: limits.memory
            {{- include "logpipe.secretEnv" $root | nindent 12 }}
            {{- range $name, $value := $v.config }}
            - name: {{ $name }}
              value: {{ $value | toString | quote }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: keys
              mountPath: /etc/logpipe/keys
              readOnly: true
            {{- if eq .component "query" }}
            - name: exports
              mountPath: /var/lib/logpipe/exports
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $v.tmpSizeLimit | default "256Mi" }}
        - name: keys
          secret:
            secretName: {{ include "logpipe.secretName" $root }}
            items:
              - key: keys.json
                path: keys.json
        {{- if eq .component "query" }}
        - name: exports
          {{- if $root.Values.exports.persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ include "logpipe.exportsClaimName" $root }}
          {{- else }}
          emptyDir: {}
          {{- end }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* Environment variables read from the Secret (passwords and the signing key). */}}
{{- define "logpipe.secretEnv" -}}
- name: LOGPIPE_CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "logpipe.secretName" . }}
      key: clickhouse-password
- name: LOGPIPE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "logpipe.secretName" . }}
      key: kafka-sasl-password
- name: LOGPIPE_SIGNING_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "logpipe.secretName" . }}
      key: signing-keys
{{- end -}}
