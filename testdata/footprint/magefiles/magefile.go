//go:build mage

// The footprint service's magefile: slimage's targets, imported the way the
// README says.
package main

import (
	"github.com/slimage/slimage/config"
	//mage:import
	"github.com/slimage/slimage/targets"
)

func init() {
	targets.Defaults(func(c *config.Config) {
		c.Ports = []string{"8080"}
		c.VerifyHealth = "/healthz"
		c.VerifyTLS = "off" // no live calls from tests
	})
}
