{{/* The NATS client URL of every hub node (or the site's leaf). */}}
{{- define "qorgau.natsUrl" -}}
{{- if eq .Values.mode "hub" -}}
{{- $urls := list -}}
{{- range $i, $e := until (int .Values.nats.replicas) -}}
{{- $urls = append $urls (printf "nats://%s-nats-%d.%s-nats:%d" $.Release.Name $i $.Release.Name (int $.Values.nats.clientPort)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- printf "nats://%s-nats-0.%s-nats:%d" .Release.Name .Release.Name (int .Values.nats.clientPort) -}}
{{- end -}}
{{- end -}}

{{- define "qorgau.labels" -}}
app.kubernetes.io/part-of: qorgau
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
