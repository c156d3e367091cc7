package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Service is one main package of the module: one binary, one image, one
// verify. Resolve makes one per main package SLIMAGE_MAIN names (all of
// them, by default), each starting from the settings the environment and
// the magefile give every service, with what Go code set for it (Service)
// on top.
type Service struct {
	Name  string `json:"name"`  // the binary's name, which names the service
	Main  string `json:"main"`  // its main package, "./cmd/api"
	Image string `json:"image"` // the reference its image is tagged
	// What its image exposes, runs and holds, and verify's health path:
	// SLIMAGE_PORTS, SLIMAGE_ARGS, SLIMAGE_FILES, SLIMAGE_VERIFY_HEALTH.
	Ports        []string `json:"ports"`
	Args         []string `json:"args"`
	Files        []string `json:"files"`
	VerifyHealth string   `json:"verifyHealth"`
}

// Service is the settings of the service name (its binary's name) that Go
// code in a magefile gives it, over the settings of every service:
//
//	targets.Configure(func(c *config.Config) {
//		c.Service("api").Ports = []string{"8080", "9090"}
//		c.Service("worker").VerifyHealth = ""  // (empty is unset here)
//	})
//
// Fields it leaves empty keep the common settings.
func (c *Config) Service(name string) *Service {
	if c.serviceSettings == nil {
		c.serviceSettings = map[string]*Service{}
	}
	s := c.serviceSettings[name]
	if s == nil {
		s = &Service{Name: name}
		c.serviceSettings[name] = s
	}
	return s
}

// Selected are the services this run builds, images and verifies:
// SLIMAGE_SERVICES's, else all.
func (c *Config) Selected() []*Service {
	if len(c.Select) == 0 {
		return c.Services
	}
	var out []*Service
	for _, s := range c.Services {
		if slices.Contains(c.Select, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// Several says whether the module has more than one service: then each
// has its folder in the output folder, and SLIMAGE_IMAGE names none.
func (c *Config) Several() bool { return len(c.Services) > 1 }

// ForService is c as one service's image, verify and vulncheck see it:
// its main package, binary, image, ports, arguments, files and health path
// in the fields a single service has; with several, its outputs in
// <dist>/<service>/ (its binaries stay in <dist>/<os>_<arch>/, beside the
// others').
func (c *Config) ForService(s *Service) *Config {
	d := *c
	d.Main, d.Binary, d.Image = s.Main, s.Name, s.Image
	d.Ports, d.Args, d.Files, d.VerifyHealth = s.Ports, s.Args, s.Files, s.VerifyHealth
	d.Services, d.Select = []*Service{s}, nil
	if c.Several() {
		d.BuildDist, d.Dist = c.Dist, filepath.Join(c.Dist, s.Name)
		if c.Push != "" {
			d.Push = c.Push + s.Name
		}
		d.Merge = nil
		for _, m := range c.Merge {
			d.Merge = append(d.Merge, filepath.Join(m, s.Name))
		}
		if c.DockerfileMode == "multistage" {
			d.DockerfileOut = d.defaultDockerfileOut()
		}
	}
	return &d
}

// resolveServices makes a Service of each main package, names its image,
// applies what Go code set for it, and checks SLIMAGE_SERVICES.
func (c *Config) resolveServices(mains []string) error {
	if len(mains) > 1 && c.Binary != "" {
		return fmt.Errorf("check SLIMAGE_BINARY: %s names one binary, and the module has %d services (%s): drop it (each binary is named after its folder), or set SLIMAGE_MAIN to one", c.Binary, len(mains), strings.Join(mains, ", "))
	}
	if len(mains) > 1 && c.Image != "" {
		return fmt.Errorf("check SLIMAGE_IMAGE: %s names one image, and the module has %d services (%s): set SLIMAGE_REPO instead (each image is <repo><service>:<tag>), or SLIMAGE_MAIN to one service", c.Image, len(mains), strings.Join(mains, ", "))
	}
	if len(mains) > 1 && c.Push != "" && !strings.HasSuffix(c.Push, "/") {
		return fmt.Errorf("check SLIMAGE_PUSH: %s names one repository, and the module has %d services: give a prefix ending in / (each service pushes to <prefix><service>:<tag>)", c.Push, len(mains))
	}
	c.Services = nil
	by := map[string]string{}
	for _, m := range mains {
		name := c.Binary
		if name == "" {
			name = binaryName(c.Module.Path, m)
		}
		if other, ok := by[name]; ok {
			return fmt.Errorf("check SLIMAGE_MAIN: %s and %s would both make a binary named %s: name the services apart (SLIMAGE_MAIN leaves one out)", other, m, name)
		}
		by[name] = m
		s := &Service{Name: name, Main: m, Image: c.Image, Ports: c.Ports, Args: c.Args, Files: c.Files, VerifyHealth: c.VerifyHealth}
		if o := c.serviceSettings[name]; o != nil {
			s.Image = or(o.Image, s.Image)
			s.VerifyHealth = or(o.VerifyHealth, s.VerifyHealth)
			if o.Ports != nil {
				s.Ports = o.Ports
			}
			if o.Args != nil {
				s.Args = o.Args
			}
			if o.Files != nil {
				s.Files = o.Files
			}
		}
		if s.Image == "" {
			s.Image = c.Repo + name + ":" + tagFrom(c.Version)
		}
		c.Services = append(c.Services, s)
	}
	for name := range c.serviceSettings {
		if _, ok := by[name]; !ok {
			return fmt.Errorf("check the magefile: it configures service %s, and the module has no such service (it has %s): use a binary's name", name, strings.Join(serviceNames(c.Services), ", "))
		}
	}
	for _, name := range c.Select {
		if _, ok := by[name]; !ok {
			return fmt.Errorf("check SLIMAGE_SERVICES: %s is not a service of module %s: name one of %s", name, c.Module.Path, strings.Join(serviceNames(c.Services), ", "))
		}
	}
	// One service: the fields every step reads are its.
	if len(c.Services) == 1 {
		s := c.Services[0]
		c.Main, c.Binary, c.Image = s.Main, s.Name, s.Image
		c.Ports, c.Args, c.Files, c.VerifyHealth = s.Ports, s.Args, s.Files, s.VerifyHealth
	}
	return nil
}

func serviceNames(ss []*Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
