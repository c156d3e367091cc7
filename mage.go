//go:build ignore

// The zero-install entry point: `go run mage.go <target>` runs this
// repository's magefile with no mage binary installed.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
