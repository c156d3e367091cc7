//go:build mage

// This repository's own magefile: slimage's targets, pointed at the sample
// service in testdata/hello unless SLIMAGE_DIR says otherwise.
package main

import (
	"os"
	"path/filepath"

	"github.com/slimage/slimage/config"
	//mage:import
	"github.com/slimage/slimage/targets"
)

// sample is the service this repository's targets build unless SLIMAGE_DIR
// says otherwise.
var sample = filepath.Join("testdata", "hello")

func init() {
	targets.Defaults(func(c *config.Config) {
		c.Dir = sample
		c.Ports = []string{"8080"}
		c.VerifyHealth = "/healthz"
		// This repository makes no live calls to public hosts: the trust
		// store checks still run; set SLIMAGE_VERIFY_TLS to call a URL.
		c.VerifyTLS = "off"
	})
	// testcontainers' reaper image cannot be pulled everywhere; slimage
	// removes its own containers. A value the user set is left alone.
	if _, ok := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !ok {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// The sample's one dependency ships in testdata/goproxy, so building the
	// sample needs no network. Only the sample's own go commands get that
	// proxy: the engine's modules come through the user's GOPROXY. A GOPROXY
	// the user set, or another module in SLIMAGE_DIR, is left alone.
	if os.Getenv("GOPROXY") == "" { // as for the go command, empty is unset
		targets.Configure(func(c *config.Config) {
			dir, _ := filepath.Abs(c.Dir)
			hello, _ := filepath.Abs(sample)
			if proxy, err := filepath.Abs(filepath.Join("testdata", "goproxy")); err == nil && dir == hello {
				c.ModuleGoEnv = append(c.ModuleGoEnv, "GOPROXY=file://"+filepath.ToSlash(proxy))
			}
		})
	}
}
