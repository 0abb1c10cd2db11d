// Package charttest checks the Helm chart in charts/logpipe: it lints and
// renders the chart with a helm binary built by scripts/helm.sh, checks the
// invariants of the rendered manifests (probes, resources, security context,
// Services that select Deployments, ports that agree, the migration hook
// ordering, autoscaling, disruption budgets, consumer replicas bounded by the
// partitions), and checks that every metric named by the alert rules and the
// Grafana dashboard is really exposed by the running services.
//
// It holds tests only; it is a module of its own (logpipe/charttest) so that
// the chart's checks never add dependencies to the services.
package charttest
