{{/* The image of both Deployments, and of the proxy the webhook injects. */}}
{{- define "sluice.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Labels on every object's metadata; selectors use only name and component, as the kustomize base does. */}}
{{- define "sluice.labels" -}}
app.kubernetes.io/name: sluice
app.kubernetes.io/part-of: sluice
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "sluice.certManager" -}}
{{- if eq .Values.certificates.mode "cert-manager" }}true{{ end }}
{{- end }}

{{/* The Secret holding the seal key: the user's, or the one this chart generates (seal-key.yaml). */}}
{{- define "sluice.sealKeySecret" -}}
{{ .Values.sealKey.existingSecret | default "sluice-seal-key" }}
{{- end }}

{{- define "sluice.sealKeyVolume" -}}
# The same key in the webhook (it seals held Secret data) and the controller (it unseals it into the
# `-canary` copies). optional: false: without it the pods wait rather than run.
- name: seal-key
  secret:
    secretName: {{ include "sluice.sealKeySecret" . }}
    optional: false
    defaultMode: 288 # 0440: readable by the fsGroup, nobody else
    items:
      - key: key
        path: key
{{- end }}

{{- define "sluice.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "sluice.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Spread over nodes and zones; ScheduleAnyway, so a one-node cluster still runs every replica. */}}
{{- define "sluice.topologySpread" -}}
{{- $component := . -}}
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
- maxSkew: 1
  topologyKey: {{ . }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      app.kubernetes.io/name: sluice
      app.kubernetes.io/component: {{ $component }}
  matchLabelKeys: [pod-template-hash]
{{- end }}
{{- end }}

{{/* Who the webhook is sent changes from: never kube-system or the release's namespace, only watchNamespace when set, then the user's selector. */}}
{{- define "sluice.namespaceSelector" -}}
{{- $selector := .Values.webhook.namespaceSelector | default dict -}}
{{- with $selector.matchLabels }}
matchLabels:
  {{- toYaml . | nindent 2 }}
{{- end }}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: [kube-system, {{ .Release.Namespace }}]
  {{- with .Values.watchNamespace }}
  - key: kubernetes.io/metadata.name
    operator: In
    values: [{{ . }}]
  {{- end }}
  {{- with $selector.matchExpressions }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{- define "sluice.clientConfig" -}}
service:
  name: sluice-webhook
  namespace: {{ .Release.Namespace }}
  path: /mutate
  port: 443
{{- end }}
