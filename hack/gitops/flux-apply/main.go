// Command flux-apply applies a directory of Kubernetes manifests the way Flux's kustomize-controller does,
// through the same library (github.com/fluxcd/pkg/ssa): server-side apply as field manager
// "kustomize-controller" with conflicts forced, drift detection by a server-side dry run first (an object
// already as the manifests say is reported "unchanged" and not written), CRDs and Namespaces applied before
// the rest, and the same apply options (annotation selectors, metadata cleanup) a Kustomization gets. It
// exists so that the end-to-end tests of sluice meet a real GitOps applier rather than an imitation.
//
// Prints one JSON line per object per round, then one line closing the round:
//
//	{"round":1,"object":"Deployment/ns/web","action":"created"}
//	{"round":1,"objects":1}                        (or with "error":"..." when the round failed)
//
// With --interval it re-applies every interval (re-reading the manifests each time) until SIGTERM or
// SIGINT, or until --count rounds, as kustomize-controller reconciles a Kustomization every spec.interval.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/normalize"
	ssautil "github.com/fluxcd/pkg/ssa/utils"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// kustomize-controller's names: its field manager, and the API group its labels and annotations use.
const (
	fieldManager = "kustomize-controller"
	group        = "kustomize.toolkit.fluxcd.io"
)

type options struct {
	kubeconfig string
	path       string
	owner      string
	interval   time.Duration
	count      int
	dryRun     bool
	force      bool
	wait       bool
	timeout    time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster to apply to")
	flag.StringVar(&o.owner, "owner", "flux-system/apps", "namespace/name of the Kustomization the objects are labelled as applied by")
	flag.DurationVar(&o.interval, "interval", 0, "re-apply every interval until stopped (a GitOps loop); 0 applies once")
	flag.IntVar(&o.count, "count", 0, "with --interval, stop after this many rounds (0: until SIGTERM or SIGINT)")
	flag.BoolVar(&o.dryRun, "dry-run", false, "report what would be applied (a server-side dry run), write nothing")
	flag.BoolVar(&o.force, "force", false, "recreate objects whose immutable fields changed (a Kustomization's spec.force)")
	flag.BoolVar(&o.wait, "wait", false, "after each apply, wait for the applied objects to be healthy (a Kustomization's spec.wait)")
	flag.DurationVar(&o.timeout, "timeout", time.Minute, "with --wait, how long to wait for health")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: flux-apply --kubeconfig FILE [flags] DIR|FILE\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	o.path = flag.Arg(0)

	// controller-runtime warns on stderr, with a stack, when it logs before a logger is set.
	ctrllog.SetLogger(logr.Discard())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	manager, err := newManager(o.kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "flux-apply: %v\n", err)
		os.Exit(1)
	}
	if failed := loop(ctx, manager, o); failed > 0 {
		os.Exit(1)
	}
}

// loop runs the rounds and returns how many failed; a failed round is reported and retried at the next
// interval, as the controller does.
func loop(ctx context.Context, manager *ssa.ResourceManager, o options) (failed int) {
	for round := 1; ; round++ {
		if err := applyRound(ctx, manager, o, round); err != nil {
			if ctx.Err() != nil {
				return failed // stopped mid-round: not a failure of the apply
			}
			fmt.Fprintf(os.Stderr, "flux-apply: round %d: %v\n", round, err)
			failed++
		}
		if o.interval == 0 || (o.count > 0 && round >= o.count) {
			return failed
		}
		select {
		case <-ctx.Done():
			return failed
		case <-time.After(o.interval):
		}
	}
}

func newManager(kubeconfig string) (*ssa.ResourceManager, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	// client-go's default budget (5 requests/s, bursts of 10) would throttle the health check's polls until
	// its deadline, and a controller runs with far more.
	cfg.QPS, cfg.Burst = 50, 100
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	// Reads go straight to the apiserver (no cache), as the controller's reads of unstructured objects do.
	kubeClient, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		return nil, err
	}
	poller := polling.NewStatusPoller(kubeClient, mapper, polling.Options{})
	manager := ssa.NewResourceManager(kubeClient, poller, ssa.Owner{Field: fieldManager, Group: group})
	manager.SetConcurrency(4) // the controller's --concurrent-ssa default
	return manager, nil
}

func applyRound(ctx context.Context, manager *ssa.ResourceManager, o options, round int) error {
	objects, err := readManifests(o.path)
	if err == nil {
		err = normalize.UnstructuredList(objects)
	}
	var changes *ssa.ChangeSet
	if err == nil {
		ownerNamespace, ownerName, _ := strings.Cut(o.owner, "/")
		manager.SetOwnerLabels(objects, ownerName, ownerNamespace)
		if o.dryRun {
			changes, err = diffAll(ctx, manager, objects, o)
		} else {
			changes, err = manager.ApplyAllStaged(ctx, objects, applyOptions(o))
		}
	}
	if err == nil && o.wait && !o.dryRun {
		// As the controller's health check: every object applied or found unchanged, none it was told to skip.
		toCheck := ssa.NewChangeSet()
		for _, entry := range changes.Entries {
			if entry.Action != ssa.SkippedAction {
				toCheck.Add(entry)
			}
		}
		err = manager.WaitForSetWithContext(ctx, toCheck.ToObjMetadataSet(), ssa.WaitOptions{
			Interval: 5 * time.Second, // the controller's polling interval for health checks
			Timeout:  o.timeout,
		})
	}
	if ctx.Err() != nil {
		return ctx.Err() // a round cut short prints nothing, so every printed round is whole
	}

	// On a partial apply, the objects applied before the failure are still reported.
	if changes != nil {
		for _, entry := range changes.Entries {
			emit(map[string]any{"round": round, "object": entry.Subject, "action": entry.Action.String()})
		}
	}
	end := map[string]any{"round": round, "objects": 0}
	if changes != nil {
		end["objects"] = len(changes.Entries)
	}
	if err != nil {
		end["error"] = err.Error()
	}
	emit(end)
	return err
}

// applyOptions are the ones kustomize-controller builds for every Kustomization.
func applyOptions(o options) ssa.ApplyOptions {
	opts := ssa.DefaultApplyOptions()
	opts.Force = o.force
	opts.ExclusionSelector = map[string]string{group + "/reconcile": "disabled", group + "/ssa": "Ignore"}
	opts.IfNotPresentSelector = map[string]string{group + "/ssa": "IfNotPresent"}
	opts.ForceSelector = map[string]string{group + "/force": "enabled"}
	// Takes over fields last written by kubectl (client- or server-side) or by the controller before it used
	// server-side apply, and drops annotations of those older ways of applying.
	opts.Cleanup = ssa.ApplyCleanupOptions{
		Annotations: []string{corev1.LastAppliedConfigAnnotation, group + "/checksum", "fluxcd.io/sync-checksum"},
		Labels:      []string{"fluxcd.io/sync-gc-mark"},
		FieldManagers: []ssa.FieldManager{
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: fieldManager, OperationType: metav1.ManagedFieldsOperationUpdate},
		},
		Exclusions: map[string]string{group + "/ssa": "Merge"},
	}
	return opts
}

// diffAll is --dry-run: the server-side dry run the apply starts with, for every object, and nothing more.
func diffAll(ctx context.Context, manager *ssa.ResourceManager, objects []*unstructured.Unstructured, o options) (*ssa.ChangeSet, error) {
	opts := ssa.DefaultDiffOptions()
	applyOpts := applyOptions(o)
	opts.Force = o.force
	opts.Exclusions = applyOpts.ExclusionSelector
	opts.IfNotPresentSelector = applyOpts.IfNotPresentSelector
	opts.ForceSelector = applyOpts.ForceSelector
	changes := ssa.NewChangeSet()
	for _, object := range objects {
		entry, _, _, err := manager.Diff(ctx, object, opts)
		if err != nil {
			return changes, err
		}
		changes.Add(*entry)
	}
	return changes, nil
}

// readManifests reads a YAML or JSON file, or every such file under a directory in lexical order.
func readManifests(path string) ([]*unstructured.Unstructured, error) {
	var files []string
	err := filepath.WalkDir(path, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		// A file named on the command line is read whatever its name; in a directory, only manifests.
		switch strings.ToLower(filepath.Ext(file)) {
		case ".yaml", ".yml", ".json":
			files = append(files, file)
		default:
			if file == path {
				files = append(files, file)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New(path + ": no .yaml, .yml or .json manifests")
	}
	var objects []*unstructured.Unstructured
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		read, err := ssautil.ReadObjects(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		objects = append(objects, read...)
	}
	return objects, nil
}

func emit(line map[string]any) {
	out, _ := json.Marshal(line)
	os.Stdout.Write(append(out, '\n'))
}
