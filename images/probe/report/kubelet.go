package report

import (
	"fmt"
	"time"
)

// The probes of a container, by the field that declares them.
const (
	Readiness = "readinessProbe"
	Liveness  = "livenessProbe"
	Startup   = "startupProbe"
)

// The kinds of probe handler, by their field.
const (
	HTTPGet   = "httpGet"
	TCPSocket = "tcpSocket"
	GRPC      = "grpc"
	Exec      = "exec"
)

// Probe is one of a container's probes as a manifest declares it, with
// Kubernetes' defaults filled in: package deploy's, and what
// `slimage-probe kubelet` runs.
type Probe struct {
	Field   string `json:"field"`   // Readiness, Liveness or Startup
	Handler string `json:"handler"` // HTTPGet, TCPSocket, GRPC or Exec
	// Port by number; PortName is the name the manifest gave it (resolved
	// against the container's ports; no such port leaves Port 0).
	Port     int      `json:"port,omitempty"`
	PortName string   `json:"portName,omitempty"`
	Path     string   `json:"path,omitempty"`
	Scheme   string   `json:"scheme,omitempty"` // HTTP or HTTPS
	Host     string   `json:"host,omitempty"`
	Headers  []Header `json:"headers,omitempty"`
	Service  string   `json:"service,omitempty"` // grpc
	Command  []string `json:"command,omitempty"` // exec

	InitialDelay     time.Duration `json:"initialDelay"`
	Period           time.Duration `json:"period"`
	Timeout          time.Duration `json:"timeout"`
	SuccessThreshold int           `json:"successThreshold"`
	FailureThreshold int           `json:"failureThreshold"`
}

// Header is an httpGet probe's header.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Describe is the probe as messages name it: "readinessProbe.httpGet
// /ready on 8080".
func (p Probe) Describe() string {
	s := p.Field + "." + p.Handler
	switch p.Handler {
	case HTTPGet:
		s += " " + p.Path
	case GRPC:
		if p.Service != "" {
			s += " " + p.Service
		}
	case Exec:
		return fmt.Sprintf("%s %q", s, p.Command)
	}
	port := fmt.Sprint(p.Port)
	if p.PortName != "" {
		port = p.PortName
	}
	return s + " on " + port
}

// KubeletSpec is what `slimage-probe kubelet` does from another container,
// as the kubelet does from the node: run a container's probes against its
// address, then connect to its ports.
type KubeletSpec struct {
	Host string `json:"host"` // the container's address
	// Started is when the container started: the probes' initial delays
	// count from there.
	Started time.Time `json:"started"`
	Probes  []Probe   `json:"probes"` // httpGet, tcpSocket and grpc ones
	Ports   []int     `json:"ports"`  // TCP containerPorts
	// Timeout is how long startup and readiness are waited for; Settle
	// how long liveness is watched once the container is ready.
	Timeout time.Duration `json:"timeout"`
	Settle  time.Duration `json:"settle"`
}

// KubeletReport is what the probes and the ports answered.
type KubeletReport struct {
	Probes []ProbeRun `json:"probes"` // in the spec's order
	Ports  []Reach    `json:"ports"`
	End    Since      `json:"end"` // when the watch ended
}

// Since is a time since the container started.
type Since = time.Duration

// ProbeRun is what one probe answered over time: a result each time its
// outcome or its text changed, and how often it was asked.
type ProbeRun struct {
	Field   string        `json:"field"`
	Results []ProbeResult `json:"results"`
	Asked   int           `json:"asked"`
}

// ProbeResult is an answer from At on.
type ProbeResult struct {
	At   Since  `json:"at"`
	OK   bool   `json:"ok"`
	Said string `json:"said"` // "200 OK", "404 Not Found", "connection refused", "SERVING"
}
