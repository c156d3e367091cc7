// Command slimage-deploy reads the deployment's Kubernetes manifests
// (SLIMAGE_MANIFESTS) for slimage's mage targets and writes, for a
// service, how they run its image (<dist>/deploy.json, package deploy's
// plan), which verify then runs. It is a command of its own, built the
// first time a run names manifests, because the Kubernetes API types it
// reads them with (k8s.io/api, k8s.io/apimachinery) are nothing the image
// steps use and would add about half again to the engine's first build.
//
//	slimage-deploy plan      write the service's plan
//	slimage-deploy version   print the command's module versions
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/deploy"
	"github.com/slimage/slimage/images/deploy/kube"
	"github.com/slimage/slimage/images/internal/step"
	"github.com/slimage/slimage/internal/contract"
	"github.com/slimage/slimage/manifests"
)

const name = "slimage-deploy"

func main() { step.Main(name, "plan", run) }

func run(ctx context.Context, doc *contract.Document, args []string) error {
	if args[0] == "plan" && len(args) == 1 && doc.Resolved {
		return plan(doc.Config)
	}
	return step.Unknown(name, args)
}

// plan reads c's manifests and writes the plan of c's service.
func plan(c *config.Config) error {
	found, err := manifests.Find(c.ManifestPaths())
	if err != nil {
		return err
	}
	files := make([]kube.Manifest, len(found))
	for i, f := range found {
		files[i] = kube.Manifest{Path: f.Path, Name: f.Path}
		if rel, err := filepath.Rel(c.Dir, f.Path); err == nil && filepath.IsLocal(rel) {
			files[i].Name = filepath.ToSlash(rel)
		}
	}
	svc := kube.Service{Name: c.Binary, Repositories: []string{c.Image}}
	if c.Push != "" {
		svc.Repositories = append(svc.Repositories, c.Push)
	}
	p, err := kube.Plan(files, svc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dist, 0o755); err != nil {
		return err
	}
	path := filepath.Join(c.Dist, config.DeployPlan)
	if err := deploy.Write(path, p); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	switch n := len(p.Containers); n {
	case 0:
		fmt.Fprintf(os.Stdout, "deploy: no container of the %d manifests runs %s (slimage://%s, or its repository): verify runs it under the restricted profile\n", len(files), c.Binary, c.Binary)
	default:
		for _, dc := range p.Containers {
			fmt.Fprintf(os.Stdout, "deploy: %s runs %s (%s)\n", dc.Where(), c.Binary, dc.Match)
		}
	}
	return nil
}
