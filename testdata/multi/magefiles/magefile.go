//go:build mage

package main

import (
	"github.com/slimage/slimage/config"
	//mage:import
	"github.com/slimage/slimage/targets"
)

func init() {
	targets.Configure(func(c *config.Config) {
		api := c.Service("api")
		api.Ports = []string{"9090", "8080"}
		api.VerifyHealth = "8080:/healthz" // the second port listed
		api.Files = []string{"ui:/app/ui"}
	})
}
