// Package deploy is how the deployment's manifests run a service: for
// each container of a workload that runs the service's image, its
// security context, volumes, command, environment, memory limit, ports,
// probes and grace period, in slimage's own plain terms. Package kube
// reads them from Kubernetes manifests (with the Kubernetes API types, in
// a command of its own: see cmd/slimage-deploy); verify reads this plan
// and runs each container as it says.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/slimage/slimage/images/probe/report"
	"github.com/slimage/slimage/internal/atomicfile"
)

// Plan is the containers of the manifests that run one service's image.
type Plan struct {
	Service    string      `json:"service"`
	Manifests  []string    `json:"manifests"` // the files read
	Containers []Container `json:"containers"`
}

// Container is one container of a workload, as the kubelet would run it:
// Kubernetes' defaults filled in, named ports resolved, $(VAR) references
// in command and args expanded.
type Container struct {
	File   string `json:"file"`   // the manifest, as the user named it
	Object string `json:"object"` // "Deployment shop/api"
	Name   string `json:"name"`   // the container's
	Match  string `json:"match"`  // which reference matched: "slimage://api", or "repository registry/shop/api"
	Image  string `json:"image"`  // as the manifest writes it

	// User is the uid the container runs as ("" for the image's), Group
	// its gid ("" for what the runtime picks: the image's group for the
	// image's own user, else 0); Groups are supplemental (fsGroup first).
	User         string   `json:"user,omitempty"`
	Group        string   `json:"group,omitempty"`
	Groups       []string `json:"groups,omitempty"`
	FSGroup      string   `json:"fsGroup,omitempty"`
	RunAsNonRoot bool     `json:"runAsNonRoot,omitempty"`
	ReadOnlyRoot bool     `json:"readOnlyRootFilesystem,omitempty"`
	// NoNewPrivileges is allowPrivilegeEscalation: false.
	NoNewPrivileges bool     `json:"noNewPrivileges,omitempty"`
	CapDrop         []string `json:"capDrop,omitempty"`
	CapAdd          []string `json:"capAdd,omitempty"`
	// Volumes are the emptyDir volumes mounted into the container: a
	// writable, empty folder each (run here as a tmpfs).
	Volumes []Volume `json:"volumes,omitempty"`

	// Command and Args replace the image's entrypoint and command as
	// Kubernetes does: nil keeps the image's.
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"` // NAME=value, in order
	// Memory is resources.limits.memory in bytes (0: none).
	Memory int64 `json:"memory,omitempty"`

	Ports  []Port  `json:"ports,omitempty"`
	Probes []Probe `json:"probes,omitempty"`
	// Grace is terminationGracePeriodSeconds; PreStop the sleep of a
	// preStop hook, which the kubelet runs first, inside the grace.
	Grace   time.Duration `json:"grace"`
	PreStop time.Duration `json:"preStop,omitempty"`
	// Job: a Job's or CronJob's container, which may exit 0.
	Job bool `json:"job,omitempty"`

	// Notes say what of the manifest is not run here (a Secret's value, a
	// volume of another kind).
	Notes []string `json:"notes,omitempty"`
}

// Where names the container as errors name it:
// "deploy/api.yaml: Deployment shop/api, container api".
func (c Container) Where() string {
	return fmt.Sprintf("%s: %s, container %s", c.File, c.Object, c.Name)
}

// Volume is an emptyDir mounted at Path.
type Volume struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Size int64  `json:"size,omitempty"` // sizeLimit in bytes
}

// Port is a containerPort.
type Port struct {
	Name     string `json:"name,omitempty"`
	Number   int    `json:"number"`
	Protocol string `json:"protocol"` // TCP, UDP or SCTP
}

// Probe and Header are a container's probe as the manifest declares it,
// with Kubernetes' defaults: the probe's report package holds the one
// definition, which the probe runs.
type (
	Probe  = report.Probe
	Header = report.Header
)

// A container's probes, by the fields that declare them.
const (
	Readiness = report.Readiness
	Liveness  = report.Liveness
	Startup   = report.Startup
)

// Read reads a plan that Write wrote.
func Read(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &p, nil
}

// Write writes p to path, whole or not at all.
func Write(path string, p *Plan) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'), 0o644)
}
